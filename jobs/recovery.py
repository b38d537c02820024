"""The recovery sweep (celery beat runs jobs.tasks.recover_stale_jobs): no job is
lost, and none is failed for waiting.

- A running job whose worker stopped sending heartbeats is queued again, failed
  (JOB_MAX_ATTEMPTS) or cancelled.
- A queued job whose task was sent JOB_RESEND_AFTER_SECONDS ago is sent again
  (Redis may have restarted empty); its task's claim makes a duplicate a no-op.
- A job made of chunks (batch inference) is judged by its chunks, never by the
  time since its last progress: a backlogged job waits for a dispatch slot.
  Lost chunks are dispatched again (jobs.scheduling.recover_chunks), and its app
  is asked about a job that has been silent (an upload that stopped part way).
- A draft (a batch job still receiving its images) holds no chunks and is never
  dispatched or sent again; one left untouched for BATCH_DRAFT_EXPIRE_HOURS is
  deleted, with its files, by its app.

How a kind of job is queued again is its app's business: training and predictions
each register theirs when Django loads them (their AppConfig.ready), so this app
imports neither.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

from jobs import lifecycle, scheduling
from jobs.models import Job

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Resumer:
    # A job claimed by one task: queues that task again, by name. A job made of
    # chunks: checks a silent job (fails one whose upload stopped; makes chunks for
    # one from before chunks were rows).
    resume: Callable[[Job], object]
    chunked: bool


_resumers: dict[str, Resumer] = {}
# How an app deletes an abandoned draft of its kind, with its rows and files.
_draft_discarders: dict[str, Callable[[Job], None]] = {}


def register(
    kind: str,
    resume: Callable[[Job], object],
    *,
    send_chunk: scheduling.ChunkSender | None = None,
) -> None:
    """Say how a lost job of `kind` is queued again (call it from AppConfig.ready).
    `send_chunk`: the job is made of chunks, each queued by send_chunk(job id,
    start, stop) when jobs.scheduling dispatches it."""
    _resumers[kind] = Resumer(resume, chunked=send_chunk is not None)
    if send_chunk is not None:
        scheduling.register_chunk_sender(kind, send_chunk)


def register_draft_discarder(kind: str, discard: Callable[[Job], None]) -> None:
    """Say how an expired draft of `kind` is deleted (call it from AppConfig.ready)."""
    _draft_discarders[kind] = discard


def expire_drafts() -> int:
    """Delete the drafts left untouched for BATCH_DRAFT_EXPIRE_HOURS; how many."""
    expired = 0
    for job in lifecycle.expired_drafts():
        discard = _draft_discarders.get(job.kind)
        if discard is not None:
            logger.warning("draft job %s expired: deleted", job.pk)
            discard(job)
            expired += 1
    return expired


def recover_stale_jobs() -> dict[str, int]:
    """Returns how many jobs (or chunks) each outcome had (and how many drafts
    expired, which the sweep deletes too)."""
    outcomes: Counter[str] = Counter()
    outcomes["expired"] = expire_drafts()
    claimed_kinds = [kind for kind in Job.Kind.values if not _is_chunked(kind)]
    for job in lifecycle.stale_jobs(claimed_kinds):
        outcome = lifecycle.recover(job)
        if outcome == "requeue":
            outcome = _requeue(job)
        logger.warning("job %s lost its worker: %s", job.pk, outcome)
        outcomes[outcome] += 1
    for job in lifecycle.unsent_jobs(claimed_kinds):
        outcomes[_resend(job)] += 1
    for job in lifecycle.silent_jobs(scheduling.chunked_kinds()):
        _resumers[job.kind].resume(job)
    outcomes.update(scheduling.recover_chunks())
    return {outcome: count for outcome, count in outcomes.items() if count}


def _is_chunked(kind: str) -> bool:
    resumer = _resumers.get(kind)
    return resumer is not None and resumer.chunked


def _requeue(job: Job) -> str:
    resumer = _resumers.get(job.kind)
    if resumer is None:
        lifecycle.fail(job, "failed: its worker was lost", f"no way to resume a {job.kind} job")
        return "failed"
    if lifecycle.requeue(job):
        job.refresh_from_db()
        resumer.resume(job)
    return "requeue"


def _resend(job: Job) -> str:
    """A queued job whose task may be gone: sent again, once per sweep at most."""
    resumer = _resumers.get(job.kind)
    if resumer is None:
        lifecycle.fail(job, "failed: its task was lost", f"no way to resume a {job.kind} job")
        return "failed"
    if not lifecycle.mark_sent(job):
        return "claimed meanwhile"
    logger.warning("job %s still queued after its task was sent: sent again", job.pk)
    resumer.resume(job)
    return "resent"
