import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from django.core.management import CommandError, call_command

from classifier_site.media import TRAINING_SCOPE, stored_name
from ml_core.preprocessing import preprocess_image
from training.models import TrainingImage


def run(*args) -> str:
    from io import StringIO

    output = StringIO()
    call_command("import_cifar", *args, stdout=output, stderr=StringIO())
    return output.getvalue()


@pytest.mark.django_db
def test_mini_archive_imports_5085_images_once(mini_archive, settings):
    first = run(str(mini_archive))
    assert "Imported 5085 new images (4068 train, 1017 test); 0 already present." in first
    assert TrainingImage.objects.filter(split="train").count() == 4068
    assert TrainingImage.objects.filter(split="test").count() == 1017
    assert TrainingImage.objects.filter(status="included", source="cifar").count() == 5085

    second = run(str(mini_archive))
    assert "Imported 0 new images (0 train, 0 test); 5085 already present." in second
    assert TrainingImage.objects.count() == 5085
    assert len(list((settings.MEDIA_ROOT / "training").rglob("*.png"))) == 5085


@pytest.mark.django_db
def test_stored_file_decodes_to_the_archive_pixels(mini_archive, mini_dataset):
    run(str(mini_archive))
    row = TrainingImage.objects.get(original_name="cifar-train-00000.png")
    with row.image.open("rb") as handle:
        array = preprocess_image(handle.read())
    assert np.array_equal((array * 255).round().astype(np.uint8), mini_dataset.train.images[0])
    assert row.label == mini_dataset.class_names[mini_dataset.train.labels[0]]
    # Named by a keyed hash (the training scope and the content): not its bare sha256.
    assert row.image.name == stored_name("training", TRAINING_SCOPE, row.sha256, "png")
    assert row.sha256 not in row.image.name


@pytest.mark.django_db
def test_default_path_comes_from_the_cifar_archive_setting(mini_archive, settings):
    settings.CIFAR_ARCHIVE = mini_archive
    assert "Imported 5085 new images" in run()


@pytest.mark.django_db
def test_corrupt_archive_fails_with_the_file_and_problem_and_imports_nothing(tmp_path):
    corrupt = tmp_path / "broken.tar.gz"
    corrupt.write_bytes(b"\x1f\x8b\x08\x00 definitely not gzip data")
    with pytest.raises(CommandError, match="broken.tar.gz: .*(truncated|corrupt|not a tar)"):
        run(str(corrupt))
    assert TrainingImage.objects.count() == 0


def test_import_succeeds_and_says_so_when_no_broker_answers(mini_archive, tmp_path):
    """The plot redraw that follows an import is queued on a best-effort basis: with
    Redis down the images are still imported, and the command says what was skipped."""
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        dead_port = probe.getsockname()[1]
    environment = {
        **os.environ,
        "DATABASE_URL": "",
        "SQLITE_PATH": str(tmp_path / "db.sqlite3"),
        "MEDIA_ROOT": str(tmp_path / "media"),
        "REDIS_URL": f"redis://127.0.0.1:{dead_port}/0",
    }
    manage = [sys.executable, str(settings_module_root() / "manage.py")]
    subprocess.run([*manage, "migrate", "-v0"], env=environment, check=True, timeout=120)
    imported = subprocess.run(
        [*manage, "import_cifar", str(mini_archive)],
        env=environment,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert imported.returncode == 0, imported.stderr
    assert "Imported 5085 new images (4068 train, 1017 test)" in imported.stdout
    assert "generate_dataset_plots not queued (no broker" in imported.stderr


def settings_module_root() -> Path:
    return Path(__file__).resolve().parents[2]
