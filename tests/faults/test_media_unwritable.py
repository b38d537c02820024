"""Uploads when the media folder cannot take them: a full disk (a 1 MB tmpfs; needs
root to mount, as CI has) or a folder that cannot be created. Each upload endpoint
answers a clear 507, and leaves no rows and no files behind."""

import os
import subprocess
from pathlib import Path

import numpy as np
import pytest
from django.contrib.auth.models import Permission, User
from rest_framework.test import APIClient

from harness.hostile_inputs import multipart
from jobs.models import Job
from ml_core.preprocessing import encode_png
from predictions.models import BatchItem, Prediction
from tests.api.conftest import client_for
from training.models import ModelVersion, TrainingImage

pytestmark = [pytest.mark.faults, pytest.mark.django_db]


def noise_pngs(count: int, seed: int) -> list[bytes]:
    """Incompressible images (about 12 KB each), so a few fill a small disk."""
    generator = np.random.default_rng(seed)
    return [
        encode_png(generator.integers(0, 256, (64, 64, 3), dtype=np.uint8)) for _ in range(count)
    ]


@pytest.fixture
def production(tmp_path):
    return ModelVersion.objects.create(
        number=1, artifact_path="unused", status="production", class_names=["cat", "dog"]
    )


@pytest.fixture
def curator() -> APIClient:
    user = User.objects.create_user("curator")
    user.user_permissions.add(Permission.objects.get(codename="add_trainingimage"))
    return client_for(user)


def uploads(endpoint: str, images: list[bytes]) -> tuple[str, dict, list]:
    field = {"predict/many": "images", "batch-jobs": "images", "training-images": "images"}
    fields = {"label": "cat", "new_class": "true"} if endpoint == "training-images" else {}
    files = [
        (field[endpoint], f"{index}.png".encode(), image) for index, image in enumerate(images)
    ]
    return endpoint, fields, files


def send(client: APIClient, endpoint: str, fields: dict, files: list):
    body, content_type = multipart(fields, files)
    return client.generic("POST", f"/api/v1/{endpoint}/", body, content_type=content_type)


def stored_files(root: Path) -> dict[str, int]:
    return {str(path.relative_to(root)): path.stat().st_size for path in root.rglob("*")
            if path.is_file()}  # fmt: skip


def rows() -> dict[str, int]:
    return {
        "training images": TrainingImage.objects.count(),
        "predictions": Prediction.objects.count(),
        "jobs": Job.objects.count(),
        "batch items": BatchItem.objects.count(),
    }


@pytest.fixture
def full_disk(tmp_path, settings):
    """MEDIA_ROOT on a 1 MB tmpfs holding one image already, with about 150 KB free."""
    mount = tmp_path / "media"
    mount.mkdir()
    result = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mount)],
                            capture_output=True, text=True)  # fmt: skip
    if result.returncode:
        if os.environ.get("CI"):
            pytest.fail(f"CI runs as root and must be able to mount a tmpfs: {result.stderr}")
        pytest.skip(f"mounting a tmpfs needs root: {result.stderr.strip()}")
    try:
        settings.MEDIA_ROOT = mount
        # The free-space check would refuse these uploads up front (503, tested in
        # tests/api/test_quotas.py); this is about a disk that fills during one.
        settings.MEDIA_MIN_FREE_BYTES = 0
        (mount / "filler").write_bytes(bytes(1024 * 1024 - 150 * 1024))
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


@pytest.mark.parametrize("endpoint", ["predict/many", "batch-jobs", "training-images"])
def test_a_full_disk_mid_upload_is_a_507_and_leaves_nothing(
    endpoint, full_disk, production, curator, settings
):
    settings.BATCH_JOB_CHUNK_SIZE = 4  # the disk fills after some chunks were committed
    before_files, before_rows = stored_files(full_disk), rows()
    client = curator if endpoint == "training-images" else APIClient()
    count = 16 if endpoint == "predict/many" else 40  # about 200 or 480 KB: the disk fills
    response = send(client, *uploads(endpoint, noise_pngs(count, seed=1)))
    assert response.status_code == 507, response.content
    assert response.json()["detail"] == (
        "the server cannot store uploads right now (No space left on device)"
    )
    assert rows() == before_rows
    assert stored_files(full_disk) == before_files, "no new or partial file is left"


def test_after_space_is_freed_the_same_upload_succeeds(full_disk, production, curator):
    images = noise_pngs(40, seed=2)
    assert send(curator, *uploads("training-images", images)).status_code == 507
    (full_disk / "filler").unlink()
    response = send(curator, *uploads("training-images", images))
    assert response.status_code == 201, response.content
    assert response.json()["created"] == 40


@pytest.fixture
def blocked_media(tmp_path, settings):
    """Each folder uploads go to is a plain file: no folder can be made there, even
    by root (permissions would not stop root)."""
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.MEDIA_ROOT.mkdir()
    for folder in ("predictions", "uploads", "training"):
        (settings.MEDIA_ROOT / folder).write_text("not a folder")
    return settings.MEDIA_ROOT


@pytest.mark.parametrize("endpoint", ["predict/many", "batch-jobs", "training-images"])
def test_an_unwritable_media_folder_is_a_507_and_leaves_nothing(
    endpoint, blocked_media, production, curator
):
    before_files, before_rows = stored_files(blocked_media), rows()
    client = curator if endpoint == "training-images" else APIClient()
    response = send(client, *uploads(endpoint, noise_pngs(3, seed=3)))
    assert response.status_code == 507, response.content
    assert response.json()["detail"].startswith("the server cannot store uploads right now")
    assert rows() == before_rows
    assert stored_files(blocked_media) == before_files
