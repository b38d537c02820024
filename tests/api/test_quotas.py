"""Quotas and backpressure (jobs/quotas.py, classifier_site/backpressure.py) at the
job submits: a 429 naming the caller's quota, a 503 when the service is full, both
with Retry-After. Real database and Redis; no worker, so submitted jobs stay queued
until a test cancels them (the last test starts one to finish a job)."""

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.contrib.auth.models import Permission, User
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection

from harness.helpers import wait_until
from jobs.models import Job
from jobs.quotas import client_key
from ml_core.preprocessing import encode_png
from tests.api.conftest import client_for
from tests.workers import JOB_TEST, clear_queues, queue_length, register_version
from training.models import ModelVersion, TrainingImage

pytestmark = JOB_TEST  # committed rows: the chunks reach Redis once committed


@pytest.fixture(autouse=True)
def empty_queues():
    clear_queues("batch", "training", "inference")
    yield
    clear_queues("batch", "training", "inference")


@pytest.fixture
def production(db):
    return ModelVersion.objects.create(
        number=1, artifact_path="v1", status="production", class_names=["a", "b"]
    )


@pytest.fixture
def alice(db):
    return client_for(User.objects.create_user("alice"))


@pytest.fixture
def bob(db):
    return client_for(User.objects.create_user("bob"))


def images(mini_dataset, count: int) -> list[SimpleUploadedFile]:
    return [
        SimpleUploadedFile(f"{index}.png", encode_png(pixels))
        for index, pixels in enumerate(mini_dataset.test.images[:count])
    ]


def submit(client, mini_dataset, count: int, **extra):
    return client.post(
        "/api/v1/batch-jobs/", {"images": images(mini_dataset, count)}, format="multipart", **extra
    )


def assert_refused(response, status: int, **body):
    assert response.status_code == status, response.content
    assert int(response["Retry-After"]) > 0
    assert response.json()["detail"]
    assert {key: response.json()[key] for key in body} == body


def test_over_the_queued_images_quota_is_a_429_naming_it(settings, alice, production, mini_dataset):
    settings.QUOTA_QUEUED_IMAGES = 5
    assert submit(alice, mini_dataset, 3).status_code == 202
    response = submit(alice, mini_dataset, 3)
    assert_refused(response, 429, quota="queued_images", limit=5, in_use=3)
    assert response["Retry-After"] == str(settings.QUOTA_RETRY_AFTER_SECONDS)
    assert Job.objects.count() == 1  # the refused submit stored nothing
    assert submit(alice, mini_dataset, 2).status_code == 202  # within the quota


def test_over_the_active_jobs_quota_is_a_429_naming_it(
    settings, alice, bob, production, mini_dataset
):
    settings.QUOTA_ACTIVE_JOBS = 1
    assert submit(alice, mini_dataset, 1).status_code == 202
    assert_refused(submit(alice, mini_dataset, 1), 429, quota="active_jobs", limit=1, in_use=1)
    assert submit(bob, mini_dataset, 1).status_code == 202  # each user has their own


def test_anonymous_callers_are_counted_by_their_address(settings, api, production, mini_dataset):
    settings.QUOTA_ANONYMOUS_ACTIVE_JOBS = 1
    first = submit(api, mini_dataset, 1, REMOTE_ADDR="203.0.113.5")
    assert first.status_code == 202
    same = submit(api, mini_dataset, 1, REMOTE_ADDR="203.0.113.5")
    assert_refused(same, 429, quota="active_jobs", limit=1, in_use=1)
    assert submit(api, mini_dataset, 1, REMOTE_ADDR="203.0.113.6").status_code == 202
    job = Job.objects.get(pk=first.json()["id"])
    assert job.client_key == client_key("203.0.113.5")
    assert "203.0.113" not in job.client_key  # a keyed hash, not the address


def test_behind_a_proxy_the_forwarded_address_is_counted(settings, api, production, mini_dataset):
    """As the rate limits resolve it: the entry the trusted proxy appended."""
    settings.API_TRUSTED_PROXY_COUNT = 1
    settings.QUOTA_ANONYMOUS_ACTIVE_JOBS = 1
    proxy = {"REMOTE_ADDR": "10.0.0.1"}
    assert (
        submit(api, mini_dataset, 1, HTTP_X_FORWARDED_FOR="198.51.100.7", **proxy).status_code
        == 202
    )
    refused = submit(api, mini_dataset, 1, HTTP_X_FORWARDED_FOR="1.2.3.4, 198.51.100.7", **proxy)
    assert_refused(refused, 429, quota="active_jobs")
    other = submit(api, mini_dataset, 1, HTTP_X_FORWARDED_FOR="198.51.100.8", **proxy)
    assert other.status_code == 202


def test_anonymous_callers_have_their_own_lower_image_quota(
    settings, api, alice, production, mini_dataset
):
    settings.QUOTA_ANONYMOUS_QUEUED_IMAGES = 2
    settings.QUOTA_QUEUED_IMAGES = 10
    assert_refused(submit(api, mini_dataset, 3), 429, quota="queued_images", limit=2, in_use=0)
    assert submit(alice, mini_dataset, 3).status_code == 202


def test_staff_are_exempt_by_default(settings, production, mini_dataset):
    settings.QUOTA_ACTIVE_JOBS = settings.QUOTA_QUEUED_IMAGES = 1
    staff = client_for(User.objects.create_user("staff", is_staff=True))
    for _ in range(3):
        assert submit(staff, mini_dataset, 2).status_code == 202
    settings.QUOTA_STAFF_ACTIVE_JOBS = 3
    assert_refused(submit(staff, mini_dataset, 1), 429, quota="active_jobs", limit=3)


def test_the_service_wide_image_limit_is_a_503(settings, alice, bob, production, mini_dataset):
    settings.QUEUE_MAX_IMAGES = 4
    assert submit(alice, mini_dataset, 3).status_code == 202
    response = submit(bob, mini_dataset, 2)
    assert_refused(response, 503, service_limit="queued_images", limit=4, in_use=3)
    assert response["Retry-After"] == str(settings.OVERLOAD_RETRY_AFTER_SECONDS)


def test_messages_waiting_on_redis_over_the_limit_are_a_503(
    settings, alice, bob, production, mini_dataset
):
    settings.BATCH_JOB_CHUNK_SIZE = 1
    settings.QUEUE_MAX_MESSAGES = 3
    # Fair share keeps only the chunks in flight in Redis (jobs.scheduling): room for 3.
    settings.BATCH_CHUNKS_IN_FLIGHT = settings.BATCH_CHUNKS_IN_FLIGHT_PER_USER = 3
    settings.BATCH_CHUNKS_IN_FLIGHT_PER_JOB = 3
    assert submit(alice, mini_dataset, 3).status_code == 202
    assert queue_length("batch") == 3  # a message per chunk, measured with LLEN
    assert_refused(submit(bob, mini_dataset, 1), 503, service_limit="queued_messages", in_use=3)
    clear_queues("batch")
    assert submit(bob, mini_dataset, 1).status_code == 202


def test_uploads_are_refused_when_the_media_disk_is_nearly_full(
    settings, alice, production, mini_dataset
):
    settings.MEDIA_MIN_FREE_BYTES = 2**62  # more than any disk has free
    assert_refused(submit(alice, mini_dataset, 1), 503, service_limit="media_free_bytes")
    image = images(mini_dataset, 1)[0]
    predict = alice.post("/api/v1/predict/", {"image": image}, format="multipart")
    assert_refused(predict, 503, service_limit="media_free_bytes")
    curator = User.objects.create_user("curator")
    curator.user_permissions.add(Permission.objects.get(codename="add_trainingimage"))
    upload = client_for(curator).post(
        "/api/v1/training-images/",
        {"images": images(mini_dataset, 1), "label": "a"},
        format="multipart",
    )
    assert_refused(upload, 503, service_limit="media_free_bytes")
    assert Job.objects.count() == 0


@pytest.fixture
def trainer(db):
    user = User.objects.create_user("trainer")
    user.user_permissions.add(Permission.objects.get(codename="add_job"))
    TrainingImage.objects.create(
        image="training/x.png", sha256="0" * 64, label="a", split="train", source="upload"
    )
    return client_for(user)


def test_training_and_evaluation_jobs_count_against_active_jobs(settings, trainer, production):
    settings.QUOTA_ACTIVE_JOBS = 1
    assert trainer.post("/api/v1/training-jobs/", {"epochs": 1}).status_code == 202
    refused = trainer.post("/api/v1/training-jobs/", {"epochs": 1})
    assert_refused(refused, 429, quota="active_jobs", limit=1, in_use=1)
    evaluate = trainer.post("/api/v1/model-versions/1/evaluate/")
    assert_refused(evaluate, 429, quota="active_jobs")
    assert Job.objects.count() == 1


def test_a_cancelled_job_frees_its_quota(settings, alice, production, mini_dataset):
    settings.QUOTA_ACTIVE_JOBS = 1
    settings.QUOTA_QUEUED_IMAGES = 3
    job = submit(alice, mini_dataset, 3).json()
    assert submit(alice, mini_dataset, 1).status_code == 429
    assert alice.post(f"/api/v1/batch-jobs/{job['id']}/cancel/").status_code == 200
    assert submit(alice, mini_dataset, 3).status_code == 202


def test_two_submits_at_once_cannot_both_pass_a_quota(settings, production, mini_dataset):
    """A job's row is written once its first images are stored: without the caller's
    submit lock both submits would count no job and pass."""
    settings.QUOTA_ACTIVE_JOBS = 1
    user = User.objects.create_user("racer")
    clients = [client_for(user), client_for(user)]
    start = threading.Barrier(2)

    def send(client):
        uploads = images(mini_dataset, 40)
        start.wait()
        try:
            return client.post("/api/v1/batch-jobs/", {"images": uploads}, format="multipart")
        finally:
            connection.close()  # this thread's own

    with ThreadPoolExecutor(2) as pool:
        responses = list(pool.map(send, clients))
    assert sorted(response.status_code for response in responses) == [202, 429]
    assert Job.objects.count() == 1


def test_the_quota_frees_up_as_a_worker_finishes_the_job(
    settings, start_worker, trained_artifacts, alice, mini_dataset
):
    start_worker("quotas")
    register_version(trained_artifacts, 1)
    settings.QUOTA_QUEUED_IMAGES = 10
    job = submit(alice, mini_dataset, 10).json()
    assert_refused(submit(alice, mini_dataset, 1), 429, quota="queued_images", in_use=10)
    wait_until(lambda: Job.objects.get(pk=job["id"]).status == "succeeded", timeout=60)
    assert submit(alice, mini_dataset, 10).status_code == 202


def test_a_drafts_images_count_as_queued_and_a_draft_as_an_active_job(
    settings, alice, production, mini_dataset
):
    """Images appended to a draft wait for it as much as a queued job's: appending
    past the quota is refused and stores nothing; a draft takes an active-job slot."""
    settings.QUOTA_QUEUED_IMAGES, settings.QUOTA_ACTIVE_JOBS = 5, 2
    draft = alice.post("/api/v1/batch-jobs/", {"draft": True}, format="json").json()["id"]
    files = f"/api/v1/batch-jobs/{draft}/files/"
    appended = alice.post(files, {"images": images(mini_dataset, 4)}, format="multipart")
    assert appended.status_code == 201
    refused = alice.post(files, {"images": images(mini_dataset, 2)}, format="multipart")
    assert_refused(refused, 429, quota="queued_images", limit=5, in_use=4)
    assert Job.objects.get(pk=draft).total == 4
    assert alice.post("/api/v1/batch-jobs/", {"draft": True}, format="json").status_code == 201
    another = alice.post("/api/v1/batch-jobs/", {"draft": True}, format="json")
    assert_refused(another, 429, quota="active_jobs", limit=2, in_use=2)
