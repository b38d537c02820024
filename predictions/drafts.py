"""Batch jobs larger than one request: a draft, appended to in keyed parts, then
started (docs/api.md, "Jobs larger than one request").

A draft is a Job with status `draft` and no task: its images are decoded and stored
as each part arrives (the same checks and storage as a one-request submit:
predictions.batch), and its chunks are queued only when it is started, by
batch.queue_chunks: a draft has no chunk rows, so jobs.scheduling never dispatches
it and the recovery sweep never sends it again (it deletes one left untouched).
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from kombu.exceptions import OperationalError as QueueError

from classifier_site.media import user_scope
from classifier_site.media_store import new_files_removed_on_error
from jobs import lifecycle
from jobs.models import Job
from predictions.batch import (
    InvalidBatch,
    NoProductionModel,
    UploadedImage,
    access_key_hash,
    decode_and_store,
    queue_chunks,
)
from predictions.models import BatchPart, NewBatchItem, insert_batch_items
from training.models import ModelVersion

logger = logging.getLogger(__name__)


class NotADraft(Exception):
    """Appending to or starting a job that is no longer a draft (answered 409)."""


class TooManyImages(Exception):
    """A draft would grow over BATCH_JOB_MAX_IMAGES (answered 413, the limit named)."""

    def __init__(self, detail: str, limit: int) -> None:
        super().__init__(detail)
        self.limit = limit


@dataclass(frozen=True)
class Appended:
    total: int  # the draft's images after this append
    first: int  # the position of this part's first image
    count: int  # this part's images
    duplicate: bool  # the part was received before: nothing was added


def create_draft(
    user=None,
    access_key: str | None = None,
    client_key: str = "",
    priority: str = Job.Priority.NORMAL,
) -> Job:
    """An empty batch job that receives its images over several requests
    (append_to_draft), then runs once started (start_draft), at `priority`."""
    return Job.objects.create(
        kind=Job.Kind.BATCH_INFERENCE,
        status=Job.Status.DRAFT,
        submitted_by=user,
        access_key_hash=access_key_hash(access_key) if access_key else "",
        client_key=client_key,  # an anonymous caller's quotas (jobs.quotas)
        heartbeat_at=timezone.now(),  # a draft's last append: expired_drafts
        message="draft: 0 images received",
        priority=priority,  # kept when it starts
    )


def append_to_draft(job: Job, images: list[UploadedImage], part: str = "") -> Appended:
    """Decode and store `images` as the next positions of a draft.

    `part` (a client's key for this request, unique per job) makes a re-sent part add
    nothing: the answer then describes what the first sending stored. Positions stay
    contiguous under concurrent appends: they are taken with the job row locked,
    after the slow decoding. A refused append (InvalidBatch, TooManyImages, NotADraft)
    leaves no new row or file behind."""
    if not images:
        raise InvalidBatch(["no images given"])
    if part and (known := _received(job, part)):
        return known
    _check_appendable(job, len(images))  # cheap refusals before any decoding
    with new_files_removed_on_error():
        rows = decode_and_store(images, user_scope(job.submitted_by))
        with transaction.atomic():
            locked = Job.objects.select_for_update().get(pk=job.pk)
            if part and (known := _received(locked, part)):
                return known  # sent twice at once: the other request stored it
            _check_appendable(locked, len(rows))
            first = locked.total
            insert_batch_items(
                [NewBatchItem(job.pk, position, *row) for position, row in enumerate(rows, first)]
            )
            if part:
                BatchPart.objects.create(job=locked, key=part, first=first, count=len(rows))
            lifecycle.draft_grew(job.pk, first + len(rows))
    return Appended(first + len(rows), first, len(rows), duplicate=False)


def _received(job: Job, part: str) -> Appended | None:
    known = BatchPart.objects.filter(job=job, key=part).first()
    if known is None:
        return None
    total = Job.objects.filter(pk=job.pk).values_list("total", flat=True).get()
    return Appended(total, known.first, known.count, duplicate=True)


def _check_appendable(job: Job, adding: int) -> None:
    if job.status != Job.Status.DRAFT:
        raise NotADraft(f"job {job.pk} is {job.status}, not a draft: it takes no more images")
    limit = settings.BATCH_JOB_MAX_IMAGES
    if job.total + adding > limit:
        raise TooManyImages(
            f"job {job.pk} has {job.total:,} images; {adding:,} more would pass the limit of "
            f"{limit:,} images per job (BATCH_JOB_MAX_IMAGES)",
            limit,
        )


def received_parts(job: Job) -> list[dict[str, object]]:
    """The parts a draft has received, in position order (a resuming client skips them)."""
    return [
        dict(part) for part in BatchPart.objects.filter(job=job).values("key", "first", "count")
    ]


def start_draft(job: Job) -> Job:
    """Queue a draft's chunks (at the draft's priority) with the model version now in
    production. Raises NotADraft (not a draft, or one without images yet) or
    NoProductionModel. With Redis down the draft is started all the same: its
    chunks are rows, and the recovery sweep sends the ones whose message was lost."""
    production = ModelVersion.production()
    try:
        with transaction.atomic():
            locked = Job.objects.select_for_update().get(pk=job.pk)
            if locked.status != Job.Status.DRAFT:
                raise NotADraft(
                    f"job {job.pk} is {locked.status}, not a draft: it cannot be started"
                )
            if locked.total == 0:
                raise NotADraft(f"draft {job.pk} has no images yet: append some before starting it")
            if production is None:
                raise NoProductionModel("no model version is in production yet")
            lifecycle.start_draft(job.pk, model_version=production, celery_task_id=uuid.uuid4().hex)
            locked.refresh_from_db()
            queue_chunks(locked)  # dispatched once committed
    except QueueError as exc:  # raised after the commit, by the dispatch
        logger.warning("job %s started; its chunks not sent (no broker: %s)", job.pk, exc)
    return locked
