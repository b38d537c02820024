"""Refusing work before the service runs out of room: the answers (a 429 for a
caller over a quota, a 503 when the whole service is full) and the service-wide
checks that need no app: free disk under MEDIA_ROOT and messages waiting on Redis.

Per-caller quotas and the database count of queued images are the jobs app's
(jobs/quotas.py). classifier_site.api.exception_handler turns Refused into its answer.
"""

from __future__ import annotations

import logging
import shutil

from django.conf import settings

from classifier_site.celery import app

logger = logging.getLogger(__name__)

# Kombu's Redis transport keeps a queue's priorities in lists of their own.
_PRIORITY_SEPARATOR = "\x06\x16"
_PRIORITY_STEPS = (3, 6, 9)


class Refused(Exception):
    """Work refused for now: `status` 429 (a quota of the caller's) or 503 (the
    service is full); the answer carries Retry-After and every item of `extra`."""

    def __init__(self, status: int, detail: str, retry_after: int, **extra) -> None:
        super().__init__(detail)
        self.status, self.detail, self.retry_after, self.extra = status, detail, retry_after, extra


def over_quota(quota: str, limit: int, in_use: int, detail: str) -> Refused:
    return Refused(
        429,
        detail,
        settings.QUOTA_RETRY_AFTER_SECONDS,
        quota=quota,
        limit=limit,
        in_use=in_use,
    )


def overloaded(limit_name: str, limit: int, in_use: int, detail: str) -> Refused:
    return Refused(
        503,
        detail,
        settings.OVERLOAD_RETRY_AFTER_SECONDS,
        service_limit=limit_name,
        limit=limit,
        in_use=in_use,
    )


def media_free_bytes() -> int:
    """Free bytes on the file system holding MEDIA_ROOT (one statvfs call)."""
    root = settings.MEDIA_ROOT
    root.mkdir(parents=True, exist_ok=True)
    return shutil.disk_usage(root).free


def check_disk() -> None:
    """Refuse an upload when MEDIA_ROOT's disk has less than MEDIA_MIN_FREE_BYTES free."""
    minimum = settings.MEDIA_MIN_FREE_BYTES
    if minimum and (free := media_free_bytes()) < minimum:
        raise overloaded(
            "media_free_bytes",
            minimum,
            free,
            f"the server is low on disk space ({free} bytes free, needs {minimum}); "
            "uploads are refused until some is freed",
        )


def queue_names() -> set[str]:
    """Every Celery queue the settings route tasks to."""
    routes = settings.CELERY_TASK_ROUTES.values()
    return {settings.CELERY_TASK_DEFAULT_QUEUE, *(route["queue"] for route in routes)}


def waiting_messages() -> int:
    """Messages waiting in the Celery queues on Redis (LLEN of each queue and its
    priority lists, in one round trip)."""
    with app.connection_for_write() as connection:
        client = connection.default_channel.client  # type: ignore[attr-defined]  # kombu's Redis channel
        pipeline = client.pipeline()
        for queue in sorted(queue_names()):
            pipeline.llen(queue)
            for step in _PRIORITY_STEPS:
                pipeline.llen(f"{queue}{_PRIORITY_SEPARATOR}{step}")
        return sum(pipeline.execute())


def check_queue_messages() -> None:
    """Refuse new jobs while more than QUEUE_MAX_MESSAGES wait on Redis."""
    maximum = settings.QUEUE_MAX_MESSAGES
    if maximum and (waiting := waiting_messages()) >= maximum:
        raise overloaded(
            "queued_messages",
            maximum,
            waiting,
            f"the task queue is full ({waiting} messages waiting); try again later",
        )
