"""A batch job larger than one request: POST /api/v1/batch-jobs/ {"draft": true},
then POST .../{id}/files/ in keyed parts, then POST .../{id}/start/.

The tests that run the job use a real inference worker; the others need none (a
draft runs nothing until started)."""

import io
import zipfile

import pytest
from django.contrib.auth.models import User
from django.core.files.uploadedfile import SimpleUploadedFile

from harness.helpers import wait_until
from jobs.models import Job
from ml_core.preprocessing import encode_png
from predictions.models import BatchItem, BatchPart, Prediction
from tests.api.conftest import client_for
from tests.workers import register_version

URL = "/api/v1/batch-jobs/"


@pytest.fixture(scope="module")
def worker(start_worker):
    return start_worker("api-drafts")


@pytest.fixture
def production(worker, trained_artifacts):
    return register_version(trained_artifacts, 1)


def files(mini_dataset, first: int, count: int) -> list[SimpleUploadedFile]:
    return [
        SimpleUploadedFile(f"{index}.png", encode_png(mini_dataset.test.images[index]))
        for index in range(first, first + count)
    ]


def new_draft(api) -> dict:
    """A draft; an anonymous caller then sends the key it answered with."""
    response = api.post(URL, {"draft": True}, format="json")
    assert response.status_code == 201, response.content
    body = response.json()
    if body["access_key"]:
        api.credentials(HTTP_X_JOB_KEY=body["access_key"])
    return body


def append(api, job_id: int, part: str | None = None, **data):
    if part is not None:
        data["part"] = part
    return api.post(f"{URL}{job_id}/files/", data, format="multipart")


@pytest.mark.parametrize("who", ["anonymous", "signed in"])
@pytest.mark.django_db(transaction=True)
@pytest.mark.jobs
@pytest.mark.usefixtures("worker_storage")
def test_parts_appended_over_several_requests_are_predicted_once_each_after_start(
    api, viewer, production, mini_dataset, who
):
    client = api if who == "anonymous" else viewer
    job_id = new_draft(client)["id"]
    assert Job.objects.get(pk=job_id).status == "draft"
    for part in range(3):
        response = append(client, job_id, str(part), images=files(mini_dataset, 4 * part, 4))
        assert response.status_code == 201, response.content
        assert response.json()["total"] == 4 * (part + 1)
        assert response.json()["first"] == 4 * part
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as zipped:
        for upload in files(mini_dataset, 12, 3):
            zipped.writestr(f"folder/{upload.name}", upload.read())
    zip_file = SimpleUploadedFile("more.zip", archive.getvalue())
    assert append(client, job_id, "zip", archive=zip_file).json()["total"] == 15
    # Nothing runs before the start.
    assert Job.objects.get(pk=job_id).status == "draft"

    response = client.post(f"{URL}{job_id}/start/")
    assert response.status_code == 202, response.content
    assert response.json()["status"] in {"queued", "running", "succeeded"}
    wait_until(lambda: Job.objects.get(pk=job_id).is_finished, timeout=60)
    job = client.get(f"{URL}{job_id}/").json()
    assert (job["status"], job["processed"], job["total"]) == ("succeeded", 15, 15), job
    results = client.get(f"{URL}{job_id}/results/").json()["results"]
    assert [row["original_name"] for row in results] == [f"{index}.png" for index in range(15)]
    assert Prediction.objects.filter(batch_item__job_id=job_id).count() == 15


@pytest.mark.django_db
def test_a_part_sent_again_adds_nothing_and_answers_what_was_stored(viewer, mini_dataset):
    job_id = new_draft(viewer)["id"]
    first = append(viewer, job_id, "a", images=files(mini_dataset, 0, 3))
    append(viewer, job_id, "b", images=files(mini_dataset, 3, 2))
    again = append(viewer, job_id, "a", images=files(mini_dataset, 0, 3))
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json() | {"duplicate": False} == first.json() | {"total": 5}
    assert again.json()["duplicate"] is True
    assert BatchItem.objects.filter(job_id=job_id).count() == 5
    parts = viewer.get(f"{URL}{job_id}/files/").json()
    assert parts == {
        "id": job_id,
        "status": "draft",
        "total": 5,
        "parts": [{"key": "a", "first": 0, "count": 3}, {"key": "b", "first": 3, "count": 2}],
    }


@pytest.mark.django_db
def test_an_append_over_the_job_limit_is_refused_with_json_naming_it(
    viewer, mini_dataset, settings
):
    settings.BATCH_JOB_MAX_IMAGES = 5
    job_id = new_draft(viewer)["id"]
    assert append(viewer, job_id, "0", images=files(mini_dataset, 0, 4)).status_code == 201
    response = append(viewer, job_id, "1", images=files(mini_dataset, 4, 2))
    assert response.status_code == 413
    assert response.json()["limit"] == 5
    assert "BATCH_JOB_MAX_IMAGES" in response.json()["detail"]
    assert Job.objects.get(pk=job_id).total == 4
    assert BatchItem.objects.filter(job_id=job_id).count() == 4


@pytest.mark.django_db
def test_a_bad_file_refuses_the_part_and_stores_none_of_it(viewer, mini_dataset):
    job_id = new_draft(viewer)["id"]
    bad = SimpleUploadedFile("notes.png", b"not an image")
    response = append(viewer, job_id, "0", images=[*files(mini_dataset, 0, 2), bad])
    assert response.status_code == 400
    assert "notes.png" in str(response.json())
    assert BatchItem.objects.filter(job_id=job_id).count() == 0
    assert not BatchPart.objects.filter(job_id=job_id).exists()
    # The part can then be sent again, corrected.
    assert append(viewer, job_id, "0", images=files(mini_dataset, 0, 2)).status_code == 201


@pytest.mark.django_db
def test_starting_an_empty_draft_or_a_job_that_is_no_draft_is_refused(viewer, mini_dataset):
    job_id = new_draft(viewer)["id"]
    empty = viewer.post(f"{URL}{job_id}/start/")
    # 409, not 400: the request is well-formed, the draft's state refuses it
    assert empty.status_code == 409 and "no images" in str(empty.json())
    # A job submitted in one request is no draft: it takes no more files, nor a start.
    for status in ("queued", "running", "succeeded", "cancelled"):
        other = Job.objects.create(
            kind="batch_inference", status=status, submitted_by=User.objects.get(username="viewer")
        )
        started = viewer.post(f"{URL}{other.pk}/start/")
        assert started.status_code == 409 and "not a draft" in started.json()["detail"]
        refused = append(viewer, other.pk, "0", images=files(mini_dataset, 2, 1))
        assert refused.status_code == 409 and "not a draft" in refused.json()["detail"]
    assert not BatchItem.objects.exists()


@pytest.mark.django_db
def test_a_draft_with_files_in_its_create_request_is_refused(viewer, mini_dataset):
    response = viewer.post(
        URL, {"draft": True, "images": files(mini_dataset, 0, 1)}, format="multipart"
    )
    assert response.status_code == 400
    assert "append" in str(response.json())


@pytest.mark.django_db
def test_another_user_can_neither_see_nor_append_to_nor_start_my_draft(
    viewer, api, mini_dataset, operator
):
    job_id = new_draft(viewer)["id"]
    append(viewer, job_id, "0", images=files(mini_dataset, 0, 1))
    stranger = client_for(User.objects.create_user("stranger"))
    for client in (stranger, api):
        assert client.get(f"{URL}{job_id}/").status_code == 404
        assert client.get(f"{URL}{job_id}/files/").status_code == 404
        assert append(client, job_id, "1", images=files(mini_dataset, 1, 1)).status_code == 404
        assert client.post(f"{URL}{job_id}/start/").status_code == 404
    # A user allowed to see (and change) every job sees it, but may not add images.
    staff = User.objects.create_user("staff", is_staff=True)
    assert client_for(staff).get(f"{URL}{job_id}/").status_code == 200
    assert (
        append(client_for(staff), job_id, "1", images=files(mini_dataset, 1, 1)).status_code == 403
    )
    assert BatchItem.objects.filter(job_id=job_id).count() == 1


@pytest.mark.django_db
def test_an_anonymous_draft_is_reached_only_with_its_key(api, mini_dataset):
    body = new_draft(api)
    job_id, key = body["id"], body["access_key"]
    assert append(api, job_id, "0", images=files(mini_dataset, 0, 2)).status_code == 201
    api.credentials(HTTP_X_JOB_KEY="not-" + key)
    assert append(api, job_id, "1", images=files(mini_dataset, 2, 1)).status_code == 404
    api.credentials()
    assert api.get(f"{URL}{job_id}/files/").status_code == 404
    assert Job.objects.get(pk=job_id).total == 2


@pytest.mark.django_db
def test_cancelling_a_draft_deletes_its_images_and_their_files(viewer, mini_dataset):
    from django.core.files.storage import default_storage

    job_id = new_draft(viewer)["id"]
    append(viewer, job_id, "0", images=files(mini_dataset, 0, 3))
    names = list(BatchItem.objects.filter(job_id=job_id).values_list("image", flat=True))
    assert all(default_storage.exists(name) for name in names)
    response = viewer.post(f"{URL}{job_id}/cancel/")
    assert response.status_code == 200 and response.json()["status"] == "cancelled"
    assert not BatchItem.objects.filter(job_id=job_id).exists()
    assert not any(default_storage.exists(name) for name in names)
    assert append(viewer, job_id, "1", images=files(mini_dataset, 3, 1)).status_code == 409
