"""Celery tasks of the jobs app."""

from celery import shared_task

from jobs import recovery


@shared_task
def recover_stale_jobs() -> dict[str, int]:
    """Jobs whose worker died (stale heartbeat) are re-queued, failed or cancelled."""
    return recovery.recover_stale_jobs()
