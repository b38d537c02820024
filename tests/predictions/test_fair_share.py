"""Fair share between batch jobs with a real worker: a small job does not wait for a
big one, users take turns, high priority goes first. The order is read from the
chunks' claim times (jobs.JobChunk.claimed_at), stamped by the worker."""

import pytest
from django.contrib.auth.models import User

from harness.helpers import wait_until
from jobs.models import Job, JobChunk
from ml_core.preprocessing import encode_png
from predictions import batch
from predictions.models import BatchItem, Prediction
from tests.workers import JOB_TEST, register_version

pytestmark = JOB_TEST
CHUNK = 4


@pytest.fixture
def one_slot(settings):
    """One chunk in flight at a time (the worker and this process agree): the order
    of the claims is the order of the dispatches."""
    bounds = {"BATCH_CHUNKS_IN_FLIGHT": 1, "BATCH_JOB_CHUNK_SIZE": CHUNK}
    for name, value in bounds.items():
        setattr(settings, name, value)
    return bounds


@pytest.fixture
def worker_factory(start_worker):
    """A worker started inside the test (after its jobs are queued), stopped after it."""
    started = []

    def start(**settings):
        started.append(start_worker(f"fair-{len(started)}", **settings))
        return started[-1]

    yield start
    for worker in started:
        worker.stop()


def images(mini_dataset, count: int) -> list[batch.UploadedImage]:
    return [
        batch.UploadedImage(f"{index}.png", encode_png(pixels))
        for index, pixels in enumerate(mini_dataset.test.images[:count])
    ]


def claim_order(*jobs: Job) -> list[int]:
    chunks = JobChunk.objects.filter(job__in=jobs).order_by("claimed_at", "id")
    return list(chunks.values_list("job_id", flat=True))


def wait_finished(*jobs: Job, timeout: float = 120) -> None:
    wait_until(
        lambda: all(Job.objects.get(pk=job.pk).is_finished for job in jobs),
        timeout=timeout,
        interval=0.1,
        message="the jobs to finish",
    )
    for job in jobs:
        job.refresh_from_db()
        assert job.status == "succeeded", job.error
        assert Prediction.objects.filter(batch_item__job=job).count() == job.total
        assert not BatchItem.objects.filter(job=job, prediction__isnull=True).exists()


def test_a_small_job_behind_a_big_one_finishes_first_its_chunks_interleaved(
    worker_factory, trained_artifacts, mini_dataset, settings
):
    bounds = {"BATCH_CHUNKS_IN_FLIGHT": 2, "BATCH_CHUNKS_IN_FLIGHT_PER_JOB": 2}
    for name, value in {**bounds, "BATCH_JOB_CHUNK_SIZE": CHUNK}.items():
        setattr(settings, name, value)
    register_version(trained_artifacts, 1)
    worker_factory(**bounds)
    alice, bob = User.objects.create_user("alice"), User.objects.create_user("bob")
    big = batch.submit_batch_job(images(mini_dataset, 400), user=alice)  # 100 chunks
    wait_until(lambda: Job.objects.get(pk=big.pk).processed >= 2 * CHUNK, timeout=60)
    small = batch.submit_batch_job(images(mini_dataset, 2 * CHUNK), user=bob)
    wait_finished(big, small)
    assert small.finished_at < big.finished_at
    after = list(
        JobChunk.objects.filter(claimed_at__gt=small.created_at)
        .order_by("claimed_at", "id")
        .values_list("job_id", flat=True)
    )
    firsts = [index for index, job_id in enumerate(after) if job_id == small.pk]
    # Behind at most the chunks already in flight, and a big chunk between its two.
    assert firsts[0] <= 2 and firsts[1] - firsts[0] == 2, after[:8]


def test_users_take_turns_whatever_number_of_jobs_each_has(
    worker_factory, one_slot, trained_artifacts, mini_dataset
):
    register_version(trained_artifacts, 1)
    alice, bob = User.objects.create_user("alice"), User.objects.create_user("bob")
    first = batch.submit_batch_job(images(mini_dataset, 40), user=alice)
    second = batch.submit_batch_job(images(mini_dataset, 40), user=alice)
    bobs = batch.submit_batch_job(images(mini_dataset, 40), user=bob)
    worker_factory(**one_slot)
    wait_finished(first, second, bobs)
    order = claim_order(first, second, bobs)
    # Bob's one job gets every other chunk; Alice's two share hers, turn about.
    assert order[:12] == [first.pk, bobs.pk, second.pk, bobs.pk] * 3


def test_a_high_priority_job_is_served_before_a_normal_one_queued_earlier(
    worker_factory, one_slot, trained_artifacts, mini_dataset
):
    register_version(trained_artifacts, 1)
    alice = User.objects.create_user("alice")
    staff = User.objects.create_user("operator", is_staff=True)
    normal = batch.submit_batch_job(images(mini_dataset, 5 * CHUNK), user=alice)
    high = batch.submit_batch_job(
        images(mini_dataset, 3 * CHUNK), user=staff, priority=Job.Priority.HIGH
    )
    worker_factory(**one_slot)
    wait_finished(normal, high)
    # Normal's first chunk was dispatched at its submit, before the high job existed.
    assert claim_order(normal, high) == [normal.pk] + [high.pk] * 3 + [normal.pk] * 4
