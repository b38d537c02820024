"""The stale-heartbeat sweep: a job whose worker died is never left running forever."""

from datetime import timedelta

import pytest
from django.utils import timezone

from jobs.models import Job, JobChunk
from jobs.tasks import recover_stale_jobs
from predictions.models import BatchItem
from tests.workers import clear_queues, queue_length

# Committed: dispatched chunks are sent to Redis once their transaction commits.
pytestmark = pytest.mark.django_db(transaction=True)


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


def test_batch_job_from_before_chunk_rows_gets_them_and_a_bounded_dispatch(queues, settings):
    """A job whose chunks were Redis messages only (before JobChunk): the sweep makes
    rows for the positions without a prediction and dispatches BATCH_CHUNKS_IN_FLIGHT_PER_JOB."""
    settings.BATCH_JOB_CHUNK_SIZE = 4
    settings.BATCH_CHUNKS_IN_FLIGHT_PER_JOB = 2
    job = running_job(kind=Job.Kind.BATCH_INFERENCE, total=10)
    add_items(job, 10)
    recover_stale_jobs()
    job.refresh_from_db()
    assert job.status == "running" and job.attempts == 1
    chunks = list(JobChunk.objects.filter(job=job).values_list("start", "stop", "state"))
    assert chunks == [(0, 4, "dispatched"), (4, 8, "dispatched"), (8, 10, "pending")]
    assert queues.llen("batch") == 2


def test_stored_positions_no_chunk_row_covers_get_one(queues, settings):
    """A submit that died between storing its last chunk's items and making their chunk
    row (predictions.batch.store_items, then queue_chunks): every item is stored, so
    the job is not failed, and the uncovered positions get their chunk."""
    settings.BATCH_JOB_CHUNK_SIZE = 4
    job = running_job(kind=Job.Kind.BATCH_INFERENCE, total=10, status=Job.Status.QUEUED)
    add_items(job, 10)
    JobChunk.objects.create(job=job, start=0, stop=4, state=JobChunk.State.DONE)
    JobChunk.objects.create(job=job, start=4, stop=8, state=JobChunk.State.DONE)
    recover_stale_jobs()
    job.refresh_from_db()
    assert job.status == "queued"
    chunks = list(JobChunk.objects.filter(job=job).values_list("start", "stop", "state"))
    assert chunks == [(0, 4, "done"), (4, 8, "done"), (8, 10, "dispatched")]
    assert queues.llen("batch") == 1
    recover_stale_jobs()  # covered now: nothing more
    assert JobChunk.objects.filter(job=job).count() == 3


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


def chunked_job(chunks: int, state: str, **fields) -> Job:
    job = running_job(kind=Job.Kind.BATCH_INFERENCE, total=4 * chunks, **fields)
    add_items(job, 4 * chunks)
    JobChunk.objects.bulk_create(
        JobChunk(job=job, start=4 * index, stop=4 * index + 4, state=state)
        for index in range(chunks)
    )
    return job


def test_a_backlogged_batch_job_is_never_failed_as_stale(queues, settings):
    """Its chunks wait for a dispatch slot (another job holds it, its worker alive):
    no heartbeat for minutes is no fault, however many attempts it had."""
    settings.JOB_STALE_AFTER_SECONDS = 60
    settings.JOB_MAX_ATTEMPTS = 3
    settings.BATCH_CHUNKS_IN_FLIGHT = 1
    busy = chunked_job(1, JobChunk.State.CLAIMED, seconds_since_heartbeat=1)
    JobChunk.objects.filter(job=busy).update(heartbeat_at=timezone.now())
    waiting = chunked_job(3, JobChunk.State.PENDING, attempts=3)
    for _ in range(3):
        recover_stale_jobs()
    waiting.refresh_from_db()
    assert (waiting.status, waiting.attempts, waiting.error) == ("running", 3, "")
    assert set(JobChunk.objects.filter(job=waiting).values_list("state", flat=True)) == {"pending"}
    assert queues.llen("batch") == 0


def test_a_chunk_whose_message_redis_lost_is_dispatched_again(queues, settings):
    settings.BATCH_CHUNK_LOST_AFTER_SECONDS = 60
    job = chunked_job(2, JobChunk.State.DISPATCHED, seconds_since_heartbeat=5)
    long_ago = timezone.now() - timedelta(seconds=61)
    JobChunk.objects.filter(job=job, start=0).update(dispatched_at=long_ago)
    JobChunk.objects.filter(job=job, start=4).update(dispatched_at=timezone.now())
    assert recover_stale_jobs() == {"chunk resent": 1, "chunks dispatched": 1}
    chunk = JobChunk.objects.get(job=job, start=0)
    assert chunk.state == "dispatched" and chunk.dispatched_at > long_ago
    assert queues.llen("batch") == 1


def test_a_chunk_whose_worker_was_lost_is_dispatched_again_then_fails_the_job(queues, settings):
    settings.JOB_STALE_AFTER_SECONDS = 60
    settings.JOB_MAX_ATTEMPTS = 2
    job = chunked_job(1, JobChunk.State.CLAIMED)
    stale = timezone.now() - timedelta(seconds=61)
    JobChunk.objects.filter(job=job).update(heartbeat_at=stale, attempts=1)
    assert recover_stale_jobs() == {"chunk resent": 1, "chunks dispatched": 1}
    assert queues.llen("batch") == 1
    JobChunk.objects.filter(job=job).update(state="claimed", heartbeat_at=stale, attempts=2)
    assert recover_stale_jobs() == {"failed": 1}
    job.refresh_from_db()
    assert job.status == "failed"
    assert job.message == "failed: worker lost 2 times on images 0-3"


def queued_job(seconds_since_sent: float, kind=Job.Kind.TRAINING) -> Job:
    sent = timezone.now() - timedelta(seconds=seconds_since_sent)
    return Job.objects.create(kind=kind, status=Job.Status.QUEUED, sent_at=sent)


def test_a_queued_job_whose_task_is_gone_is_sent_again_once(queues, settings):
    """Redis restarted empty: the task of a queued job is gone. It is sent again after
    JOB_RESEND_AFTER_SECONDS, once per that time (the task's claim ignores a copy)."""
    settings.JOB_RESEND_AFTER_SECONDS = 60
    lost = queued_job(61)
    queued_job(5, kind=Job.Kind.EVALUATION)  # just sent: left alone
    assert recover_stale_jobs() == {"resent": 1}
    assert queues.llen("training") == 1
    assert recover_stale_jobs() == {}
    assert queues.llen("training") == 1
    lost.refresh_from_db()
    assert lost.status == "queued" and lost.sent_at > timezone.now() - timedelta(seconds=5)
