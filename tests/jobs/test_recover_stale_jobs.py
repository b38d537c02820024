"""The stale-heartbeat sweep: a job whose worker died is never left running forever."""

from datetime import timedelta

import pytest
from django.utils import timezone

from jobs.models import Job
from jobs.tasks import recover_stale_jobs
from predictions.models import BatchItem
from tests.workers import clear_queues, queue_length

pytestmark = pytest.mark.django_db


class Queues:
    def llen(self, name: str) -> int:
        return queue_length(name)


@pytest.fixture
def queues(celery_redis):
    clear_queues("training", "inference", "batch")
    yield Queues()
    clear_queues("training", "inference", "batch")


def running_job(kind=Job.Kind.TRAINING, seconds_since_heartbeat=600, **fields) -> Job:
    return Job.objects.create(
        kind=kind,
        heartbeat_at=timezone.now() - timedelta(seconds=seconds_since_heartbeat),
        **{"status": Job.Status.RUNNING, "attempts": 1, **fields},
    )


def test_stale_training_job_is_queued_again(queues, settings):
    settings.JOB_STALE_AFTER_SECONDS = 60
    job = running_job()
    assert recover_stale_jobs() == {"requeue": 1}
    job.refresh_from_db()
    assert job.status == "queued"
    assert "re-queued" in job.message
    assert queues.llen("training") == 1


def test_job_with_a_fresh_heartbeat_is_left_alone(queues, settings):
    settings.JOB_STALE_AFTER_SECONDS = 60
    job = running_job(seconds_since_heartbeat=5)
    assert recover_stale_jobs() == {}
    job.refresh_from_db()
    assert job.status == "running"
    assert queues.llen("training") == 0


def test_job_that_lost_its_worker_too_often_fails_with_the_reason(queues, settings):
    settings.JOB_MAX_ATTEMPTS = 3
    job = running_job(attempts=3)
    recover_stale_jobs()
    job.refresh_from_db()
    assert job.status == "failed"
    assert job.message == "failed: worker lost 3 times"
    assert job.finished_at is not None


def test_stale_job_with_a_cancel_request_ends_cancelled(queues):
    job = running_job(cancel_requested=True)
    recover_stale_jobs()
    job.refresh_from_db()
    assert job.status == "cancelled"
    assert queues.llen("training") == 0


def add_items(job: Job, count: int) -> None:
    BatchItem.objects.bulk_create(
        BatchItem(
            job=job,
            position=position,
            image=f"uploads/{position}.png",
            image_sha256="0",
            pixels=bytes(3072),
        )
        for position in range(count)
    )


def test_stale_batch_job_queues_only_the_chunks_without_predictions(queues, settings):
    settings.BATCH_JOB_CHUNK_SIZE = 4
    job = running_job(kind=Job.Kind.BATCH_INFERENCE, total=10)
    add_items(job, 10)
    recover_stale_jobs()
    job.refresh_from_db()
    assert job.status == "running"
    assert job.attempts == 2
    assert queues.llen("batch") == 3  # positions 0-3, 4-7, 8-9


def test_batch_job_whose_upload_stopped_part_way_fails_with_the_reason(queues, settings):
    """The web process died while storing the upload: 4 of 10 items exist, and the
    job could never complete."""
    job = running_job(kind=Job.Kind.BATCH_INFERENCE, total=10)
    add_items(job, 4)
    recover_stale_jobs()
    job.refresh_from_db()
    assert job.status == "failed"
    assert job.message == "failed: the upload stopped after 4 of 10 images were stored"
    assert queues.llen("batch") == 0


def test_a_kind_no_app_registered_a_way_to_resume_fails_instead_of_hanging(queues, monkeypatch):
    """jobs imports neither training nor predictions: they register how their kinds
    are queued again (AppConfig.ready). A kind without one is failed, saying so."""
    from jobs import recovery

    monkeypatch.delitem(recovery._resumers, Job.Kind.TRAINING)
    job = running_job()
    assert recover_stale_jobs() == {"failed": 1}
    job.refresh_from_db()
    assert job.status == "failed" and job.error == "no way to resume a training job"
    assert queues.llen("training") == 0
