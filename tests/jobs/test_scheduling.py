"""jobs.scheduling: which chunk is dispatched next, how many are in flight, and a
chunk claimed once. Real Redis (the dispatched tasks are counted in the queue)."""

from collections import Counter
from datetime import timedelta

import pytest
from django.contrib.auth.models import User
from django.utils import timezone

from jobs import scheduling
from jobs.models import Job, JobChunk
from tests.workers import clear_queues, queue_length

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.jobs]


@pytest.fixture(autouse=True)
def empty_batch_queue(celery_redis):
    clear_queues("batch")
    yield
    clear_queues("batch")


def batch_job(user=None, chunks=4, priority=Job.Priority.NORMAL, **fields) -> Job:
    job = Job.objects.create(
        kind=Job.Kind.BATCH_INFERENCE, total=4 * chunks, submitted_by=user, priority=priority,
        heartbeat_at=timezone.now(), **fields,
    )  # fmt: skip
    for index in range(chunks):
        scheduling.add_chunk(job, 4 * index, 4 * index + 4)
    return job


def in_flight() -> list[JobChunk]:
    return list(JobChunk.objects.filter(state__in=JobChunk.IN_FLIGHT).select_related("job"))


def serve_one_at_a_time(count: int) -> list[int]:
    """With one slot: dispatch, finish what was dispatched, `count` times; the jobs served."""
    order = []
    for _ in range(count):
        (chunk,) = scheduling.dispatch()
        scheduling.finish_chunk(chunk)
        order.append(chunk.job_id)
    return order


def test_dispatch_keeps_every_in_flight_bound(settings):
    settings.BATCH_CHUNKS_IN_FLIGHT = 5
    settings.BATCH_CHUNKS_IN_FLIGHT_PER_USER = 3
    settings.BATCH_CHUNKS_IN_FLIGHT_PER_JOB = 2
    alice, bob = User.objects.create_user("alice"), User.objects.create_user("bob")
    batch_job(alice), batch_job(alice), batch_job(bob), batch_job(None)
    assert len(scheduling.dispatch()) == 5
    assert scheduling.dispatch() == []  # full: nothing more until a chunk is done
    chunks = in_flight()
    assert len(chunks) == 5 == queue_length("batch")
    assert max(Counter(chunk.job_id for chunk in chunks).values()) <= 2
    assert max(Counter(chunk.job.submitted_by_id for chunk in chunks).values()) <= 3


def test_slots_go_round_robin_by_user_then_by_job(settings):
    """Alice has two jobs, Bob one: Bob gets every other chunk, Alice's jobs alternate."""
    settings.BATCH_CHUNKS_IN_FLIGHT = 1
    alice, bob = User.objects.create_user("alice"), User.objects.create_user("bob")
    first, second = batch_job(alice, chunks=10), batch_job(alice, chunks=10)
    bobs = batch_job(bob, chunks=10)
    order = serve_one_at_a_time(8)
    assert order == [first.pk, bobs.pk, second.pk, bobs.pk] * 2


def test_a_small_job_submitted_behind_a_big_one_gets_the_next_slot(settings):
    settings.BATCH_CHUNKS_IN_FLIGHT = 1
    alice, bob = User.objects.create_user("alice"), User.objects.create_user("bob")
    big = batch_job(alice, chunks=100)
    serve_one_at_a_time(3)
    small = batch_job(bob, chunks=2)
    assert serve_one_at_a_time(4) == [small.pk, big.pk, small.pk, big.pk]


def test_high_priority_chunks_are_dispatched_before_normal_and_low(settings):
    settings.BATCH_CHUNKS_IN_FLIGHT = 1
    users = [User.objects.create_user(name) for name in ("low", "normal", "high")]
    low = batch_job(users[0], chunks=2, priority=Job.Priority.LOW)
    normal = batch_job(users[1], chunks=2)
    high = batch_job(users[2], chunks=2, priority=Job.Priority.HIGH)
    assert serve_one_at_a_time(6) == [high.pk] * 2 + [normal.pk] * 2 + [low.pk] * 2


def test_a_low_job_waiting_long_enough_takes_turns_with_high_ones(settings):
    """Aging: one level per JOB_PRIORITY_AGING_SECONDS unserved, so low is never starved."""
    settings.BATCH_CHUNKS_IN_FLIGHT = 1
    settings.JOB_PRIORITY_AGING_SECONDS = 60
    high = batch_job(User.objects.create_user("high"), chunks=5, priority=Job.Priority.HIGH)
    low = batch_job(User.objects.create_user("low"), chunks=5, priority=Job.Priority.LOW)
    Job.objects.filter(pk=low.pk).update(created_at=timezone.now() - timedelta(seconds=130))
    assert serve_one_at_a_time(4) == [high.pk, low.pk, high.pk, high.pk]


def test_chunks_of_a_cancelled_job_free_their_slots(settings):
    settings.BATCH_CHUNKS_IN_FLIGHT = 2
    doomed, other = batch_job(chunks=4), batch_job(User.objects.create_user("u"), chunks=4)
    settings.BATCH_CHUNKS_IN_FLIGHT_PER_JOB = 2
    JobChunk.objects.filter(job=doomed, start__lt=8).update(state=JobChunk.State.DISPATCHED)
    assert scheduling.dispatch() == []
    Job.objects.filter(pk=doomed.pk).update(status=Job.Status.CANCELLED, cancel_requested=True)
    assert {chunk.job_id for chunk in scheduling.dispatch()} == {other.pk}


def test_a_chunk_is_claimed_once_unless_its_worker_was_lost(settings):
    """A duplicate message (Redis redelivered it, or the sweep sent it again) finds the
    chunk claimed or done and does nothing."""
    settings.JOB_STALE_AFTER_SECONDS = 60
    job = batch_job(chunks=1)
    scheduling.dispatch()
    chunk = scheduling.claim_chunk(job.pk, 0)
    assert chunk is not None and chunk.state == "claimed" and chunk.attempts == 1
    assert scheduling.claim_chunk(job.pk, 0) is None
    JobChunk.objects.filter(pk=chunk.pk).update(heartbeat_at=timezone.now() - timedelta(seconds=61))
    again = scheduling.claim_chunk(job.pk, 0)
    assert again is not None and again.attempts == 2
    scheduling.finish_chunk(again)
    assert scheduling.claim_chunk(job.pk, 0) is None


def test_anonymous_callers_are_told_apart_by_their_client_key(settings):
    """Each anonymous caller (Job.client_key, as the quotas count them) has a turn and
    a per-user bound of their own; jobs of no known caller share one."""
    settings.BATCH_CHUNKS_IN_FLIGHT = 10
    settings.BATCH_CHUNKS_IN_FLIGHT_PER_USER = 1
    first, second = batch_job(client_key="a" * 64), batch_job(client_key="b" * 64)
    batch_job(client_key="a" * 64)  # the first caller's second job waits for their turn
    nobody = [batch_job(), batch_job()]
    served = {chunk.job_id for chunk in scheduling.dispatch()}
    assert len(served) == 3
    assert {first.pk, second.pk} <= served and len(served & {job.pk for job in nobody}) == 1
