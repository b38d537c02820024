"""Job lifecycle in the database: claim, progress, finish, cancel, recover, requeue.

Every state change of a job is made here, each a conditional UPDATE, so concurrent
workers (or a worker and the recovery sweep) can never move a job backwards or
finish it twice.
"""

from __future__ import annotations

import logging
import re
import time
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from jobs.models import Job

logger = logging.getLogger(__name__)

MESSAGE_LENGTH = Job._meta.get_field("message").max_length


def _stale_before():
    return timezone.now() - timedelta(seconds=settings.JOB_STALE_AFTER_SECONDS)


def claim(job_id: int) -> Job | None:
    """Take a queued job, or one whose worker was lost, for this worker.

    Returns None when the job is finished, cancelled or alive elsewhere: the task
    then does nothing, which is what makes redelivery harmless.
    """
    now = timezone.now()
    with transaction.atomic():
        claimable = Q(status=Job.Status.QUEUED) | Q(
            status=Job.Status.RUNNING, heartbeat_at__lt=_stale_before()
        )
        job = Job.objects.select_for_update().filter(claimable, pk=job_id).first()
        if job is None:
            return None
        if job.cancel_requested:
            _finish(job, Job.Status.CANCELLED, "cancelled before it started")
            return None
        job.status = Job.Status.RUNNING
        job.started_at = job.started_at or now
        job.heartbeat_at = now
        job.attempts = F("attempts") + 1
        job.save(update_fields=["status", "started_at", "heartbeat_at", "attempts"])
    job.refresh_from_db()
    return job


def touch(job_id: int) -> None:
    """A heartbeat whatever the status: a submit still storing a queued job's
    upload is alive (the sweep fails a job whose upload stopped)."""
    Job.objects.filter(pk=job_id).exclude(status__in=Job.TERMINAL).update(
        heartbeat_at=timezone.now()
    )


def start_if_queued(job: Job) -> None:
    """Mark a batch job running when its first chunk starts (chunks do not claim)."""
    now = timezone.now()
    Job.objects.filter(pk=job.pk, status=Job.Status.QUEUED).update(
        status=Job.Status.RUNNING, started_at=now, heartbeat_at=now, attempts=1
    )


def _finish(
    job: Job, status: str, message: str = "", error: str = "", traceback: str = "", **fields
) -> bool:
    updated = (
        Job.objects.filter(pk=job.pk)
        .exclude(status__in=Job.TERMINAL)
        .update(
            status=status,
            message=message[:MESSAGE_LENGTH],
            error=error,
            traceback=traceback,
            finished_at=timezone.now(),
            **fields,
        )
    )
    return bool(updated)


def succeed(job: Job, message: str, **fields) -> bool:
    return _finish(job, Job.Status.SUCCEEDED, message, progress=1.0, **fields)


def cancel_finished(job: Job, message: str) -> bool:
    return _finish(job, Job.Status.CANCELLED, message)


def fail(job: Job, message: str, error: str = "", traceback: str = "") -> bool:
    """`error` is shown to whoever may see the job: keep it short, without server
    paths (short_error); the `traceback` is for the log and the admin only."""
    return _finish(job, Job.Status.FAILED, message, error, traceback)


# An absolute path (two or more segments), as file errors quote them.
_PATH = re.compile(r"(?<![\w.:/])(?:[A-Za-z]:)?[/\\](?:[^/\\\s'\"]+[/\\])+[^/\\\s'\"]*")
ERROR_LENGTH = 300


def _last_part(path: re.Match) -> str:
    return "…/" + re.split(r"[/\\]", path.group())[-1]


def short_error(exc: BaseException) -> str:
    """The exception's class and the first line of its message, each server path cut
    down to its last part: what a caller may read about a failure."""
    lines = str(exc).strip().splitlines()
    text = _PATH.sub(_last_part, lines[0]) if lines else ""
    summary = f"{type(exc).__name__}: {text}" if text else type(exc).__name__
    return summary[:ERROR_LENGTH]


@contextmanager
def failure_recorded(job: Job) -> Iterator[None]:
    """Any exception marks the job failed, then propagates. The caller sees a short
    error; the traceback goes to the log and to the job's admin page."""
    try:
        yield
    except Exception as exc:
        logger.exception("job %s failed", job.pk)
        error = short_error(exc)
        fail(job, f"failed: {error}", error, traceback.format_exc())
        raise


def request_cancel(job: Job) -> Job:
    """Cancel a job: a draft or a queued one at once, a running one cooperatively.
    (A cancelled draft's items are its app's to delete: predictions.batch.)"""
    Job.objects.filter(pk=job.pk).exclude(status__in=Job.TERMINAL).update(cancel_requested=True)
    Job.objects.filter(pk=job.pk, status__in=[Job.Status.QUEUED, Job.Status.DRAFT]).update(
        status=Job.Status.CANCELLED, message="cancelled", finished_at=timezone.now()
    )
    if job.kind == Job.Kind.BATCH_INFERENCE:
        # Batch chunks check the status before each chunk; nothing is half-done.
        cancel_finished(job, "cancelled; predictions made so far are kept")
    job.refresh_from_db()
    return job


def set_priority(job: Job, priority: str) -> bool:
    """An unfinished job's priority; its chunks not yet dispatched follow it."""
    updated = (
        Job.objects.filter(pk=job.pk).exclude(status__in=Job.TERMINAL).update(priority=priority)
    )
    return bool(updated)


def draft_grew(job_id: int, total: int) -> None:
    """A draft received more images: its new size, and the time it was last touched
    (heartbeat_at, which for a draft dates its last append: see expired_drafts)."""
    Job.objects.filter(pk=job_id, status=Job.Status.DRAFT).update(
        total=total, heartbeat_at=timezone.now(), message=f"draft: {total} images received"
    )


def start_draft(job_id: int, **fields) -> bool:
    """A draft becomes a queued job (its chunks are then queued by its app); False if
    it is no longer a draft (started, cancelled or expired meanwhile)."""
    now = timezone.now()
    updated = Job.objects.filter(pk=job_id, status=Job.Status.DRAFT).update(
        status=Job.Status.QUEUED, message="queued", heartbeat_at=now, **fields
    )
    return bool(updated)


def expired_drafts() -> list[Job]:
    """Drafts nobody appended to or started for BATCH_DRAFT_EXPIRE_HOURS."""
    before = timezone.now() - timedelta(hours=settings.BATCH_DRAFT_EXPIRE_HOURS)
    return list(Job.objects.filter(status=Job.Status.DRAFT, heartbeat_at__lt=before))


def discard(job: Job) -> None:
    """Remove a job whose submit failed, with every row that cascades from it. The
    row lock orders this after a worker's transaction that holds it."""
    with transaction.atomic():
        if Job.objects.select_for_update().filter(pk=job.pk).exists():
            Job.objects.filter(pk=job.pk).delete()


def is_cancel_requested(job_id: int) -> bool:
    return Job.objects.filter(pk=job_id, cancel_requested=True).exists()


def heartbeat(job_id: int) -> None:
    Job.objects.filter(pk=job_id, status=Job.Status.RUNNING).update(heartbeat_at=timezone.now())


def record_progress(job_id: int, progress: float, **fields) -> None:
    """Write progress and a heartbeat; progress only ever moves forward."""
    heartbeat(job_id)
    Job.objects.filter(pk=job_id, status=Job.Status.RUNNING, progress__lte=progress).update(
        progress=progress, **fields
    )


class ThrottledWriter:
    """Calls through at most once per JOB_PROGRESS_INTERVAL_SECONDS unless forced."""

    def __init__(self) -> None:
        self.interval = settings.JOB_PROGRESS_INTERVAL_SECONDS
        self.last = float("-inf")

    def due(self, force: bool = False) -> bool:
        now = time.monotonic()
        if force or now - self.last >= self.interval:
            self.last = now
            return True
        return False


def stale_jobs(kinds: list[str]) -> list[Job]:
    """Running jobs of `kinds` (those whose one task claims the job) whose worker
    stopped sending heartbeats."""
    return list(
        Job.objects.filter(
            kind__in=kinds, status=Job.Status.RUNNING, heartbeat_at__lt=_stale_before()
        )
    )


def silent_jobs(kinds: list[str]) -> list[Job]:
    """Unfinished jobs of `kinds` (made of chunks) without a heartbeat for
    JOB_STALE_AFTER_SECONDS: a backlogged job looks like this too, so only its app
    can say whether anything is wrong (an upload that stopped part way)."""
    return list(
        Job.objects.filter(
            kind__in=kinds,
            status__in=[Job.Status.QUEUED, Job.Status.RUNNING],
            heartbeat_at__lt=_stale_before(),
        )
    )


def unsent_jobs(kinds: list[str]) -> list[Job]:
    """Queued jobs of `kinds` whose task was sent more than JOB_RESEND_AFTER_SECONDS
    ago: Redis may have lost it (restarted without persistence)."""
    before = timezone.now() - timedelta(seconds=settings.JOB_RESEND_AFTER_SECONDS)
    sent_long_ago = Q(sent_at__lt=before) | Q(sent_at__isnull=True, created_at__lt=before)
    return list(Job.objects.filter(sent_long_ago, kind__in=kinds, status=Job.Status.QUEUED))


def mark_sent(job: Job) -> bool:
    """Record that the job's task is sent again; False when the job was claimed,
    or another sweep sent it, since `job` was read (then nothing is sent)."""
    updated = Job.objects.filter(pk=job.pk, status=Job.Status.QUEUED, sent_at=job.sent_at).update(
        sent_at=timezone.now()
    )
    return bool(updated)


def recover(job: Job) -> str:
    """Decide the fate of a job whose worker stopped sending heartbeats."""
    if job.cancel_requested:
        cancel_finished(job, "cancelled (its worker was lost)")
        return "cancelled"
    if job.attempts >= settings.JOB_MAX_ATTEMPTS:
        fail(job, f"failed: worker lost {job.attempts} times", "worker stopped sending heartbeats")
        return "failed"
    return "requeue"


def requeue(job: Job) -> bool:
    """A running job whose worker was lost is queued again (its task claims it anew)."""
    updated = Job.objects.filter(pk=job.pk, status=Job.Status.RUNNING).update(
        status=Job.Status.QUEUED,
        message="re-queued after its worker was lost",
        sent_at=timezone.now(),
    )
    return bool(updated)
