"""/api/v1/batch-jobs/ with a real inference worker."""

import io
import zipfile

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from harness.helpers import wait_until
from jobs.models import Job
from ml_core.preprocessing import encode_png
from tests.api.conftest import client_for
from tests.workers import JOB_TEST, register_version

pytestmark = JOB_TEST


@pytest.fixture(scope="module")
def worker(start_worker):
    return start_worker("api-batch")


@pytest.fixture
def production(worker, trained_artifacts):
    return register_version(trained_artifacts, 1)


def files(mini_dataset, count: int) -> list[SimpleUploadedFile]:
    return [
        SimpleUploadedFile(f"{index}.png", encode_png(pixels))
        for index, pixels in enumerate(mini_dataset.test.images[:count])
    ]


def finished(api, job_id: int) -> dict:
    """The job once finished, as its submitter sees it (`api` holding its key, if anonymous)."""
    wait_until(lambda: Job.objects.get(pk=job_id).is_finished, timeout=60)
    return api.get(f"/api/v1/batch-jobs/{job_id}/").json()


def submit(api, **data):
    """POST a batch job; an anonymous caller then sends the key it answered with."""
    response = api.post("/api/v1/batch-jobs/", data, format="multipart")
    if response.status_code == 202 and response.json()["access_key"]:
        api.credentials(HTTP_X_JOB_KEY=response.json()["access_key"])
    return response


def test_submit_files_follow_progress_and_download_results(api, production, mini_dataset):
    response = submit(api, images=files(mini_dataset, 20))
    assert response.status_code == 202, response.content
    job = finished(api, response.json()["id"])
    assert (job["status"], job["processed"], job["total"], job["progress"]) == (
        "succeeded",
        20,
        20,
        1.0,
    )
    results = api.get(f"/api/v1/batch-jobs/{job['id']}/results/").json()["results"]
    assert [row["original_name"] for row in results] == [f"{index}.png" for index in range(20)]
    # Each row links to its stored image (the dashboard's thumbnails), signed.
    assert results[0]["image_url"].startswith("http://testserver/media/uploads/")
    assert api.get(results[0]["image_url"]).status_code == 200
    csv = api.get(f"/api/v1/batch-jobs/{job['id']}/results/?as=csv")
    assert csv["Content-Type"] == "text/csv; charset=utf-8"
    assert len(csv.content.decode().splitlines()) == 21


def test_an_anonymous_job_is_followed_only_with_the_key_its_submit_answered_with(
    api, viewer, production, mini_dataset
):
    response = api.post(
        "/api/v1/batch-jobs/", {"images": files(mini_dataset, 3)}, format="multipart"
    )
    job_id, key = response.json()["id"], response.json()["access_key"]
    assert len(key) >= 40
    job = Job.objects.get(pk=job_id)
    assert job.submitted_by is None and key not in job.access_key_hash  # only its hash
    url = f"/api/v1/batch-jobs/{job_id}/"
    wait_until(lambda: Job.objects.get(pk=job_id).is_finished, timeout=60)
    for client in (api, viewer):
        assert client.get(url).status_code == 404
        assert client.get(f"{url}results/").status_code == 404
    assert api.get(url, HTTP_X_JOB_KEY=key).json()["status"] == "succeeded"
    rows = api.get(f"{url}results/", HTTP_X_JOB_KEY=key).json()["results"]
    assert len(rows) == 3
    # The predictions are the job's, not anyone's history.
    assert viewer.get("/api/v1/predictions/").json()["count"] == 0
    assert api.get("/api/v1/predictions/").json()["count"] == 0


def test_a_signed_in_callers_job_is_theirs_without_a_key(viewer, production, mini_dataset):
    response = viewer.post(
        "/api/v1/batch-jobs/", {"images": files(mini_dataset, 2)}, format="multipart"
    )
    assert response.status_code == 202 and response.json()["access_key"] is None
    job = finished(viewer, response.json()["id"])
    assert job["status"] == "succeeded" and job["submitted_by"] is None  # names: staff only
    assert viewer.get("/api/v1/predictions/").json()["count"] == 2


def test_submit_a_zip(api, production, mini_dataset):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for index, pixels in enumerate(mini_dataset.test.images[:5]):
            archive.writestr(f"set/{index}.png", encode_png(pixels))
    archive = SimpleUploadedFile("set.zip", buffer.getvalue())
    response = submit(api, archive=archive)
    assert response.status_code == 202
    assert finished(api, response.json()["id"])["processed"] == 5


def test_one_non_image_refuses_the_batch_and_names_it(api, production, mini_dataset):
    uploads = [*files(mini_dataset, 2), SimpleUploadedFile("fake.png", b"not really")]
    response = api.post("/api/v1/batch-jobs/", {"images": uploads}, format="multipart")
    assert response.status_code == 400
    assert response.json()["errors"]["images"] == [
        "fake.png: not an image format that can be decoded"
    ]
    assert Job.objects.count() == 0


def test_too_many_files(api, production, mini_dataset, settings):
    settings.API_MAX_FILES = 3
    response = api.post(
        "/api/v1/batch-jobs/", {"images": files(mini_dataset, 4)}, format="multipart"
    )
    assert response.status_code == 400
    assert "at most 3 files per request" in str(response.json()["errors"])


def test_neither_files_nor_archive(api, production):
    response = api.post("/api/v1/batch-jobs/", {}, format="multipart")
    assert response.status_code == 400
    assert "send either `images`" in str(response.json()["errors"])


def test_cancel_needs_login_and_ownership(api, viewer, production, mini_dataset, django_user_model):
    owner = django_user_model.objects.create_user("owner")
    owner_client = client_for(owner)
    response = owner_client.post(
        "/api/v1/batch-jobs/", {"images": files(mini_dataset, 3)}, format="multipart"
    )
    job_id = response.json()["id"]
    # Others cannot even see it (404, not 403: its existence is private too).
    assert api.post(f"/api/v1/batch-jobs/{job_id}/cancel/").status_code == 404
    assert viewer.post(f"/api/v1/batch-jobs/{job_id}/cancel/").status_code == 404
    cancelled = owner_client.post(f"/api/v1/batch-jobs/{job_id}/cancel/")
    assert cancelled.status_code == 200
    assert cancelled.json()["status"] in {"cancelled", "succeeded"}  # it may have finished first
