"""Fair share of the workers between jobs made of chunks (batch inference).

A job's chunks are rows (JobChunk), not a backlog in Redis: only a bounded number is
in Redis or running at once (BATCH_CHUNKS_IN_FLIGHT overall, _PER_USER, _PER_JOB),
so a chunk dispatched now waits behind a few others, never behind every chunk of
the jobs submitted before it. Each freed slot goes to:

1. the highest priority (Job.priority, plus one level per JOB_PRIORITY_AGING_SECONDS
   a job has waited unserved, so a low job is never starved);
2. then the user served least recently (round-robin by user: a signed-in user by
   their id, an anonymous caller by their address's keyed hash, Job.client_key,
   the key jobs.quotas counts them by; jobs with neither share one turn);
3. then that user's job served least recently (round-robin by job).

Dispatch runs when a job's chunks are stored, when a chunk is done (its task,
after storing its results) and in the recovery sweep. Each dispatch decides under
one lock (a transaction-scoped advisory lock on PostgreSQL; SQLite's write lock,
which the service's IMMEDIATE transactions take when they begin): the bounds are
counts over many rows, which row locks with SKIP LOCKED could not keep.

How a chunk's task is queued is its app's business (register_chunk_sender): this
app imports neither training nor predictions.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable
from datetime import datetime, timedelta
from functools import partial

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import transaction
from django.db.models import Count, F, Q
from django.utils import timezone

from jobs import lifecycle
from jobs.models import Job, JobChunk

logger = logging.getLogger(__name__)

ChunkSender = Callable[[int, int, int], None]  # (job id, start, stop): queues the task
_senders: dict[str, ChunkSender] = {}

# Any number no other advisory lock of this database uses ("dispatch" in ASCII).
DISPATCH_LOCK_KEY = 0x6469_7370_6174_6368
ACTIVE = (Job.Status.QUEUED, Job.Status.RUNNING)
NEVER = datetime.min.replace(tzinfo=timezone.get_fixed_timezone(0))
TOP_RANK = max(Job.PRIORITY_RANK.values())


def register_chunk_sender(kind: str, send: ChunkSender) -> None:
    """Say how a chunk of a job of `kind` is queued (call it from AppConfig.ready)."""
    _senders[kind] = send


def add_chunk(job: Job, start: int, stop: int) -> None:
    """A pending chunk of positions [start, stop); call dispatch() to send it."""
    JobChunk.objects.create(job=job, start=start, stop=stop)


def lock_dispatch() -> None:
    """Serialise dispatch decisions until the current transaction ends."""
    connection = transaction.get_connection()
    if not connection.in_atomic_block:
        raise RuntimeError("lock_dispatch() must be called inside transaction.atomic()")
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [DISPATCH_LOCK_KEY])
    elif connection.vendor == "sqlite":
        if connection.settings_dict.get("OPTIONS", {}).get("transaction_mode") != "IMMEDIATE":
            raise ImproperlyConfigured(
                "SQLite needs OPTIONS transaction_mode IMMEDIATE: chunk dispatch relies "
                "on each transaction taking the write lock when it begins"
            )
    else:
        raise ImproperlyConfigured(f"no dispatch lock for the {connection.vendor} database")


def dispatch() -> list[JobChunk]:
    """Fill the free slots with pending chunks, fairly; their tasks are sent once
    the transaction commits (a send that fails leaves the chunk dispatched, and
    the sweep sends it again after BATCH_CHUNK_LOST_AFTER_SECONDS)."""
    with transaction.atomic():
        lock_dispatch()
        picked = _pick(timezone.now())
        for chunk in picked:
            send = _senders[chunk.job.kind]
            transaction.on_commit(partial(send, chunk.job_id, chunk.start, chunk.stop))
    return picked


def _user(job: Job) -> str:
    """Whose turn a job's chunks take: its submitter's, or its anonymous caller's."""
    if job.submitted_by_id is not None:
        return f"user {job.submitted_by_id}"
    return f"client {job.client_key}"  # blank: jobs of no known caller share one turn


def _rank(job: Job, now: datetime) -> int:
    """The job's priority, one level higher per JOB_PRIORITY_AGING_SECONDS unserved."""
    waited = (now - (job.served_at or job.created_at)).total_seconds()
    aged = int(max(waited, 0) // settings.JOB_PRIORITY_AGING_SECONDS)
    return min(Job.PRIORITY_RANK[job.priority] + aged, TOP_RANK)


def _pick(now: datetime) -> list[JobChunk]:
    jobs = {
        job.pk: job
        for job in Job.objects.filter(status__in=ACTIVE, kind__in=list(_senders)).filter(
            pk__in=JobChunk.objects.exclude(state=JobChunk.State.DONE).values("job_id")
        )
    }
    waiting = set(
        JobChunk.objects.filter(
            state=JobChunk.State.PENDING, job_id__in=[pk for pk, job in jobs.items()
                                                       if not job.cancel_requested]
        ).values_list("job_id", flat=True)
    )  # fmt: skip
    per_job = Counter(
        dict(
            JobChunk.objects.filter(state__in=JobChunk.IN_FLIGHT, job_id__in=list(jobs))
            .values_list("job_id")
            .annotate(count=Count("id"))
        )
    )
    per_user: Counter[str] = Counter()
    user_served: dict[str, datetime] = {}
    for job in jobs.values():
        per_user[_user(job)] += per_job[job.pk]
        user_served[_user(job)] = max(user_served.get(_user(job), NEVER), job.served_at or NEVER)
    in_flight = sum(per_job.values())
    picked: list[JobChunk] = []
    while in_flight < settings.BATCH_CHUNKS_IN_FLIGHT and waiting:
        eligible = [
            jobs[pk]
            for pk in waiting
            if per_job[pk] < settings.BATCH_CHUNKS_IN_FLIGHT_PER_JOB
            and per_user[_user(jobs[pk])] < settings.BATCH_CHUNKS_IN_FLIGHT_PER_USER
        ]
        if not eligible:
            break
        job = min(
            eligible,
            key=lambda job: (
                -_rank(job, now),
                user_served[_user(job)],
                job.served_at or NEVER,
                job.pk,
            ),
        )
        chunk = _take_next_chunk(job, now)
        if chunk is None:
            waiting.discard(job.pk)
            continue
        stamp = now + timedelta(microseconds=len(picked))  # keeps this round's order
        Job.objects.filter(pk=job.pk).update(served_at=stamp)
        job.served_at = user_served[_user(job)] = stamp
        per_job[job.pk] += 1
        per_user[_user(job)] += 1
        in_flight += 1
        chunk.job = job
        picked.append(chunk)
    return picked


def _take_next_chunk(job: Job, now: datetime) -> JobChunk | None:
    chunk = JobChunk.objects.filter(job=job, state=JobChunk.State.PENDING).order_by("start").first()
    if chunk is not None:
        JobChunk.objects.filter(pk=chunk.pk).update(
            state=JobChunk.State.DISPATCHED, dispatched_at=now
        )
    return chunk


def _stale_before() -> datetime:
    return timezone.now() - timedelta(seconds=settings.JOB_STALE_AFTER_SECONDS)


def claim_chunk(job_id: int, start: int) -> JobChunk | None:
    """Take a chunk for this worker: one not yet claimed, or one whose worker was
    lost (stale heartbeat). None when it is done or alive elsewhere: a duplicate
    message (Redis redelivered it, or the sweep sent it again) then does nothing.
    One conditional UPDATE: of two racing claims, exactly one matches."""
    now = timezone.now()
    claimable = Q(state__in=[JobChunk.State.PENDING, JobChunk.State.DISPATCHED]) | Q(
        state=JobChunk.State.CLAIMED, heartbeat_at__lt=_stale_before()
    )
    updated = JobChunk.objects.filter(claimable, job_id=job_id, start=start).update(
        state=JobChunk.State.CLAIMED,
        claimed_at=now,
        heartbeat_at=now,
        attempts=F("attempts") + 1,
    )
    return JobChunk.objects.get(job_id=job_id, start=start) if updated else None


def finish_chunk(chunk: JobChunk) -> None:
    """The chunk's results are stored (call it in the transaction that stores them)."""
    JobChunk.objects.filter(pk=chunk.pk).update(
        state=JobChunk.State.DONE, finished_at=timezone.now()
    )


def has_chunks(job: Job) -> bool:
    return JobChunk.objects.filter(job=job).exists()


def chunked_kinds() -> list[str]:
    return list(_senders)


def recover_chunks() -> dict[str, int]:
    """The sweep's part: chunks whose message Redis lost (dispatched, unclaimed for
    BATCH_CHUNK_LOST_AFTER_SECONDS) or whose worker was lost (claimed, heartbeat
    older than JOB_STALE_AFTER_SECONDS) are pending again; a chunk lost with its
    worker JOB_MAX_ATTEMPTS times fails its job. Then free slots are filled."""
    outcomes: Counter[str] = Counter()
    lost_before = timezone.now() - timedelta(seconds=settings.BATCH_CHUNK_LOST_AFTER_SECONDS)
    with transaction.atomic():
        lock_dispatch()
        live = Q(job__status__in=ACTIVE)
        unclaimed = JobChunk.objects.filter(
            live, state=JobChunk.State.DISPATCHED, dispatched_at__lt=lost_before
        ).update(state=JobChunk.State.PENDING)
        outcomes["chunk resent"] += unclaimed
        stale = JobChunk.objects.filter(
            live, state=JobChunk.State.CLAIMED, heartbeat_at__lt=_stale_before()
        ).select_related("job")
        for chunk in stale:
            outcomes[_recover_claimed(chunk)] += 1
        picked = dispatch()
    return {name: count for name, count in outcomes.items() if count} | (
        {"chunks dispatched": len(picked)} if picked else {}
    )


def _recover_claimed(chunk: JobChunk) -> str:
    if chunk.attempts >= settings.JOB_MAX_ATTEMPTS:
        lifecycle.fail(
            chunk.job,
            f"failed: worker lost {chunk.attempts} times on images {chunk.start}-{chunk.stop - 1}",
            "worker stopped sending heartbeats",
        )
        return "failed"
    JobChunk.objects.filter(pk=chunk.pk, state=JobChunk.State.CLAIMED).update(
        state=JobChunk.State.PENDING
    )
    logger.warning("chunk %s lost its worker: pending again", chunk)
    return "chunk resent"
