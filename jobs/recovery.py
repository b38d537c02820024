"""The stale-job sweep: a job whose worker stopped sending heartbeats is queued
again, failed or cancelled (celery beat runs jobs.tasks.recover_stale_jobs).

How a kind of job is queued again is its app's business: training and predictions
each register theirs when Django loads them (their AppConfig.ready), so this app
imports neither.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from jobs import lifecycle
from jobs.models import Job

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Resumer:
    resume: Callable[[Job], object]  # queues the job's work again, by task name
    # True: the job stays running and its tasks do not claim it (batch chunks);
    # False: it goes back to queued, and its task claims it again.
    keeps_running: bool


_resumers: dict[str, Resumer] = {}
# How an app deletes an abandoned draft of its kind, with its rows and files.
_draft_discarders: dict[str, Callable[[Job], None]] = {}


def register(kind: str, resume: Callable[[Job], object], *, keeps_running: bool = False) -> None:
    """Say how a lost job of `kind` is queued again (call it from AppConfig.ready)."""
    _resumers[kind] = Resumer(resume, keeps_running)


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
    """Every running job with a stale heartbeat is re-queued, failed or cancelled;
    returns how many of each (and of drafts expired, which the sweep deletes too)."""
    outcomes: dict[str, int] = {}
    if expired := expire_drafts():
        outcomes["expired"] = expired
    for job in lifecycle.stale_jobs():
        outcome = lifecycle.recover(job)
        if outcome == "requeue":
            outcome = _requeue(job)
        logger.warning("job %s lost its worker: %s", job.pk, outcome)
        outcomes[outcome] = outcomes.get(outcome, 0) + 1
    return outcomes


def _requeue(job: Job) -> str:
    resumer = _resumers.get(job.kind)
    if resumer is None:
        lifecycle.fail(job, "failed: its worker was lost", f"no way to resume a {job.kind} job")
        return "failed"
    moved = lifecycle.resume_running(job) if resumer.keeps_running else lifecycle.requeue(job)
    if moved:
        job.refresh_from_db()
        resumer.resume(job)
    return "requeue"
