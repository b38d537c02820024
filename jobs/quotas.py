"""Quotas per caller and the service's queue depth, checked before a job is created.

A caller is a signed-in user, or an anonymous caller's client address (as the rate
limits resolve it behind trusted proxies: classifier_site.api.client_address), kept
on their jobs as a keyed hash (Job.client_key), never in the clear. Counted from the
database, so what was submitted but not yet dispatched counts, and limits free up
as soon as jobs finish:

- queued_images: images still to predict in the caller's unfinished batch jobs;
- active_jobs: the caller's jobs (of any kind) queued or running.

Over one, the submit is refused with a 429 naming it (classifier_site.backpressure).
Staff have their own limits (QUOTA_STAFF_*, default 0: none). For everyone, the
service refuses new jobs with a 503 when the images in all unfinished batch jobs
reach QUEUE_MAX_IMAGES or the messages on Redis reach QUEUE_MAX_MESSAGES.

A caller's submits run one at a time (`one_submit_at_a_time`, a lock in the shared
Redis cache): a job's row is written only once its first images are stored, so two
submits at once would otherwise both pass the same count.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db.models import F, Q, Sum
from django.utils.crypto import salted_hmac

from classifier_site.api import client_address
from classifier_site.backpressure import check_disk, check_queue_messages, over_quota, overloaded
from jobs.models import Job

_KEY_SALT = "classifier.jobs.client-key"
# A submit holds its caller's lock at most this long (a crashed process's expires).
SUBMIT_LOCK_SECONDS = 300
# How long a submit waits for the same caller's submit before it to finish.
SUBMIT_WAIT_SECONDS = 30
# A draft counts: its stored images wait for it to start.
UNFINISHED = [Job.Status.DRAFT, Job.Status.QUEUED, Job.Status.RUNNING]


@dataclass(frozen=True)
class Caller:
    """Who a quota counts: `user` when signed in, else `client_key`."""

    user: Any  # a User, or None for an anonymous caller
    client_key: str
    is_staff: bool = False

    @property
    def key(self) -> str:
        return f"user:{self.user.pk}" if self.user is not None else f"client:{self.client_key}"

    @property
    def jobs(self) -> Q:
        if self.user is not None:
            return Q(submitted_by=self.user)
        return Q(submitted_by__isnull=True, client_key=self.client_key)


def client_key(address: str) -> str:
    """A keyed hash (SECRET_KEY) of a client address: equal for one address, and
    telling nothing about it without the key."""
    return salted_hmac(_KEY_SALT, address or "unknown", algorithm="sha256").hexdigest()


def caller_of(request) -> Caller:
    user = getattr(request, "user", None)
    if user is not None and user.is_authenticated:
        return Caller(user, "", user.is_staff)
    return Caller(None, client_key(client_address(request)))


def limits_for(caller: Caller) -> dict[str, int]:
    """The caller's limits by quota name (0: none)."""
    if caller.is_staff:
        images, jobs = settings.QUOTA_STAFF_QUEUED_IMAGES, settings.QUOTA_STAFF_ACTIVE_JOBS
    elif caller.user is not None:
        images, jobs = settings.QUOTA_QUEUED_IMAGES, settings.QUOTA_ACTIVE_JOBS
    else:
        images = settings.QUOTA_ANONYMOUS_QUEUED_IMAGES
        jobs = settings.QUOTA_ANONYMOUS_ACTIVE_JOBS
    return {"queued_images": images, "active_jobs": jobs}


def _queued_images(jobs: Q) -> int:
    """Images still to predict in the unfinished batch jobs matching `jobs`."""
    rows = Job.objects.filter(jobs, kind=Job.Kind.BATCH_INFERENCE, status__in=UNFINISHED)
    return rows.aggregate(n=Sum(F("total") - F("processed")))["n"] or 0


def usage(caller: Caller) -> dict[str, int]:
    """What the caller uses now, by quota name."""
    active = Job.objects.filter(caller.jobs, status__in=UNFINISHED).count()
    return {"queued_images": _queued_images(caller.jobs), "active_jobs": active}


def check_job(caller: Caller, images: int = 0) -> None:
    """Refuse (Refused: 429) one more job of `images` images for this caller."""
    limits, used = limits_for(caller), usage(caller)
    if limits["active_jobs"] and used["active_jobs"] + 1 > limits["active_jobs"]:
        raise over_quota(
            "active_jobs",
            limits["active_jobs"],
            used["active_jobs"],
            f"you have {used['active_jobs']} jobs queued or running, the most allowed at "
            "once; wait for one to finish or cancel one",
        )
    check_images(caller, images, used["queued_images"])


def check_images(caller: Caller, images: int, queued: int | None = None) -> None:
    """Refuse (Refused: 429) `images` more queued images for this caller (a new job
    of them, or images appended to a job)."""
    limit = limits_for(caller)["queued_images"]
    if not (limit and images):
        return
    queued = _queued_images(caller.jobs) if queued is None else queued
    if queued + images > limit:
        raise over_quota(
            "queued_images",
            limit,
            queued,
            f"{images} more images would make {queued + images} waiting in your unfinished "
            f"batch jobs; at most {limit} may wait at once. Wait for your jobs to finish, "
            "or send fewer images",
        )


def check_service(images: int = 0) -> None:
    """Refuse (Refused: 503) new work while the service's queues are full."""
    maximum = settings.QUEUE_MAX_IMAGES
    if maximum and images:
        queued = _queued_images(Q())
        if queued + images > maximum:
            raise overloaded(
                "queued_images",
                maximum,
                queued,
                f"the service has {queued} images waiting in batch jobs, its most; try again later",
            )
    check_queue_messages()


@contextmanager
def one_submit_at_a_time(caller: Caller) -> Iterator[None]:
    """Hold the caller's submit lock: checking their quotas and creating the job run
    in it, so a concurrent submit of theirs counts this job. One that waits longer
    than SUBMIT_WAIT_SECONDS is refused (429, quota `concurrent_submits`)."""
    key = f"jobs:submitting:{caller.key}"
    deadline = time.monotonic() + SUBMIT_WAIT_SECONDS
    while not cache.add(key, 1, timeout=SUBMIT_LOCK_SECONDS):
        if time.monotonic() > deadline:
            raise over_quota(
                "concurrent_submits",
                1,
                1,
                "another submit of yours is still being stored; try again when it is done",
            )
        time.sleep(0.05)
    try:
        yield
    finally:
        cache.delete(key)


def check_batch_submit(caller: Caller, images: int) -> None:
    """Every check of a new batch job of `images` images, the cheapest first (inside
    one_submit_at_a_time)."""
    check_disk()
    check_job(caller, images)
    check_service(images)


def check_draft_append(caller: Caller, images: int) -> None:
    """Every check of `images` more images for a draft (inside one_submit_at_a_time)."""
    check_disk()
    check_images(caller, images)
    check_service(images)


def check_job_submit(caller: Caller) -> None:
    """Every check of a new training or evaluation job (inside one_submit_at_a_time)."""
    check_job(caller)
    check_service()
