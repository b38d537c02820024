import numpy as np
import pytest
from django.core.management import CommandError, call_command

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
    assert row.image.name == f"training/{row.sha256[:2]}/{row.sha256}.png"


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
