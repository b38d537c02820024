"""What every upload endpoint stores of an image: a copy re-encoded upright, with
its longest side capped (STORED_IMAGE_MAX_SIDE) and no metadata (EXIF and its GPS
position, XMP, comments, text chunks, ICC profile), in the format family of the
upload; its row's sha256 is that of the bytes uploaded, and its file name (a keyed
hash) reveals neither."""

from __future__ import annotations

import io
import zipfile

import pytest
from django.contrib.auth.models import Permission, User

from jobs import lifecycle
from jobs.models import Job
from predictions.models import BatchItem, Prediction
from tests.api.conftest import client_for
from tests.stored_images import photo_with_metadata, png_with_metadata, sha256, stored_problems
from tests.workers import JOB_TEST, register_version
from training.models import TrainingImage

pytestmark = JOB_TEST


@pytest.fixture(scope="module")
def worker(start_worker):
    return start_worker("api-stored")


@pytest.fixture
def production(worker, trained_artifacts):
    return register_version(trained_artifacts, 1)


@pytest.fixture
def curator(db):
    user = User.objects.create_user("curator")
    user.user_permissions.add(Permission.objects.get(codename="add_trainingimage"))
    return client_for(user)


def uploads() -> dict[str, bytes]:
    return {"photo.jpg": photo_with_metadata(), "scan.png": png_with_metadata()}


def as_zip(files: dict[str, bytes]) -> io.BytesIO:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, content in files.items():
            archive.writestr(f"cat/{name}", content)
    buffer.seek(0)
    buffer.name = "images.zip"
    return buffer


def named(files: dict[str, bytes]) -> list[io.BytesIO]:
    handles = []
    for name, content in files.items():
        handle = io.BytesIO(content)
        handle.name = name
        handles.append(handle)
    return handles


def problems_of(rows, files: dict[str, bytes], hash_field: str) -> list[str]:
    """Each row's stored file checked against the upload of the same name."""
    problems = []
    for row in rows:
        upload = files[row.original_name]
        with row.image.open("rb") as handle:
            stored = handle.read()
        problems += [
            f"{row.original_name}: {problem}" for problem in stored_problems(stored, upload)
        ]
        if getattr(row, hash_field) != sha256(upload):
            problems.append(f"{row.original_name}: {hash_field} is not that of the upload")
        if sha256(stored) in row.image.name or sha256(upload) in row.image.name:
            problems.append(f"{row.original_name}: {row.image.name} reveals its content hash")
    assert len(rows) == len(files), rows
    return problems


def test_predictions_store_clean_upright_copies(api, production):
    files = uploads()
    response = api.post("/api/v1/predict/many/", {"images": named(files)}, format="multipart")
    assert response.status_code == 200, response.content
    single = api.post(
        "/api/v1/predict/", {"image": named({"photo.jpg": files["photo.jpg"]})[0]}, "multipart"
    )
    assert single.status_code == 200, single.content
    rows = list(Prediction.objects.order_by("id"))
    assert not problems_of(rows[:2], files, "image_sha256")
    assert not problems_of(rows[2:], {"photo.jpg": files["photo.jpg"]}, "image_sha256")


@pytest.mark.parametrize("as_archive", [False, True], ids=["files", "zip"])
def test_batch_jobs_store_clean_upright_copies(api, production, as_archive):
    files = uploads()
    data = {"archive": as_zip(files)} if as_archive else {"images": named(files)}
    response = api.post("/api/v1/batch-jobs/", data, format="multipart")
    assert response.status_code == 202, response.content
    lifecycle.request_cancel(Job.objects.get(pk=response.json()["id"]))
    assert not problems_of(list(BatchItem.objects.order_by("position")), files, "image_sha256")


@pytest.mark.parametrize("as_archive", [False, True], ids=["files", "zip"])
def test_training_uploads_store_clean_upright_copies(curator, as_archive):
    files = uploads()
    if as_archive:
        data = {"archive": as_zip(files), "split": "train"}
    else:
        data = {"images": named(files), "label": "cat", "new_class": "true"}
    response = curator.post("/api/v1/training-images/", data, format="multipart")
    assert response.status_code == 201, response.content
    assert response.json()["created"] == 2, response.content
    assert not problems_of(list(TrainingImage.objects.all()), files, "sha256")
