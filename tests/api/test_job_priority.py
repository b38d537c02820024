"""A job's priority on /api/v1/batch-jobs/ and /api/v1/training-jobs/: anyone may
ask for low or normal; only staff set high, at submit or later (`.../priority/`)."""

import pytest
from django.contrib.auth.models import Permission, User
from django.core.files.uploadedfile import SimpleUploadedFile

from jobs.models import Job, JobChunk
from ml_core.preprocessing import encode_png
from tests.api.conftest import client_for
from training.models import ModelVersion

pytestmark = pytest.mark.django_db
RULE = "only staff may set priority high"
REFUSED = {"detail": RULE, "errors": {"priority": [RULE]}}


@pytest.fixture
def production(db):
    return ModelVersion.objects.create(
        number=1, artifact_path="v1", class_names=["cat", "dog"], dataset_fingerprint="f",
        status=ModelVersion.Status.PRODUCTION,
    )  # fmt: skip


@pytest.fixture
def staff(db):
    return client_for(User.objects.create_superuser("boss", password=None))


def files(mini_dataset, count: int = 2) -> list[SimpleUploadedFile]:
    return [SimpleUploadedFile(f"{index}.png", encode_png(pixels))
            for index, pixels in enumerate(mini_dataset.test.images[:count])]  # fmt: skip


def submit_batch(client, mini_dataset, **data):
    body = {"images": files(mini_dataset), **data}
    return client.post("/api/v1/batch-jobs/", body, format="multipart")


@pytest.mark.parametrize("caller", ["api", "viewer"])
def test_a_caller_not_staff_asking_for_high_is_a_403_naming_the_rule(
    request, caller, production, mini_dataset
):
    response = submit_batch(request.getfixturevalue(caller), mini_dataset, priority="high")
    assert response.status_code == 403, response.content
    assert response.json() == REFUSED
    assert not Job.objects.exists()


def test_anyone_may_lower_their_jobs_priority_and_normal_is_the_default(
    viewer, production, mini_dataset
):
    low = submit_batch(viewer, mini_dataset, priority="low")
    assert low.status_code == 202, low.content
    assert low.json()["priority"] == "low"
    assert submit_batch(viewer, mini_dataset).json()["priority"] == "normal"


def test_staff_submit_a_high_priority_batch_job(staff, production, mini_dataset):
    response = submit_batch(staff, mini_dataset, priority="high")
    assert response.status_code == 202, response.content
    assert Job.objects.get(pk=response.json()["id"]).priority == "high"


def test_an_unknown_priority_is_a_400_naming_the_field(viewer, production, mini_dataset):
    response = submit_batch(viewer, mini_dataset, priority="urgent")
    assert response.status_code == 400
    assert "priority" in response.json()["errors"]


def test_a_training_job_at_high_priority_needs_staff(staff, curated_small):
    trainer = User.objects.create_user("trainer")
    trainer.user_permissions.add(Permission.objects.get(codename="add_job"))
    refused = client_for(trainer).post("/api/v1/training-jobs/", {"priority": "high"})
    assert refused.status_code == 403 and refused.json() == REFUSED
    accepted = staff.post("/api/v1/training-jobs/", {"priority": "high", "epochs": 1})
    assert accepted.status_code == 202, accepted.content
    assert accepted.json()["priority"] == "high"


def test_staff_raise_a_queued_jobs_priority_its_submitter_may_not(
    staff, viewer, production, mini_dataset
):
    job_id = submit_batch(viewer, mini_dataset).json()["id"]
    url = f"/api/v1/batch-jobs/{job_id}/priority/"
    assert viewer.post(url, {"priority": "high"}).status_code == 403
    raised = staff.post(url, {"priority": "high"})
    assert raised.status_code == 200, raised.content
    assert raised.json()["priority"] == "high"
    assert Job.objects.get(pk=job_id).priority == "high"


def test_a_drafts_priority_is_given_at_creation_and_kept_when_it_starts(
    staff, viewer, production, mini_dataset
):
    refused = viewer.post("/api/v1/batch-jobs/", {"draft": True, "priority": "high"}, format="json")
    assert refused.status_code == 403 and refused.json() == REFUSED
    created = staff.post("/api/v1/batch-jobs/", {"draft": True, "priority": "high"}, format="json")
    assert created.status_code == 201, created.content
    job_id = created.json()["id"]
    assert created.json()["priority"] == "high"
    appended = staff.post(
        f"/api/v1/batch-jobs/{job_id}/files/", {"images": files(mini_dataset)}, format="multipart"
    )
    assert appended.status_code == 201, appended.content
    assert not JobChunk.objects.filter(job_id=job_id).exists()  # a draft is never dispatched
    started = staff.post(f"/api/v1/batch-jobs/{job_id}/start/")
    assert started.status_code == 202, started.content
    assert started.json()["priority"] == "high"
    assert list(JobChunk.objects.filter(job_id=job_id).values_list("start", "stop")) == [(0, 2)]
