"""Batch-inference jobs: submit, split into chunk tasks, store results, export.

A job's images are split into chunks of BATCH_JOB_CHUNK_SIZE, each its own task,
so every inference worker on every host takes part in one large job. The chunks are
rows (jobs.JobChunk) that jobs.scheduling dispatches a few at a time, fairly
between jobs and users; each chunk's task claims its row, so a duplicate message
does nothing. A draft (predictions.drafts) has no chunk rows until it is started.
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import io
import logging
import secrets
import uuid
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING

from django.conf import settings
from django.core.files.storage import default_storage
from django.db import transaction
from django.utils import timezone
from kombu.exceptions import OperationalError as QueueError

from classifier_site.media import user_scope
from classifier_site.media_store import (
    Content,
    new_files_removed_on_error,
    prepare_upload,
    store_image_file,
)
from classifier_site.uploads import batch_zip_limits, offload
from jobs import lifecycle, scheduling
from jobs.models import Job, JobChunk
from ml_core.archives import ArchiveError, ZipMember, ZipReader, display_name
from ml_core.preprocessing import InvalidImageError
from predictions import enqueue, inference
from predictions.models import (
    BatchItem,
    BatchPart,
    NewBatchItem,
    NewPrediction,
    Prediction,
    insert_batch_items,
    insert_predictions,
)
from training.models import ModelVersion

if TYPE_CHECKING:  # the web process must not import TensorFlow
    from ml_core.predictor import ImagePrediction

logger = logging.getLogger(__name__)

RESULT_FIELDS = ["position", "original_name", "label", "confidence", "model_version"]


class NoProductionModel(Exception):
    """Nothing can be predicted before a model version is promoted."""


class InvalidBatch(ValueError):
    def __init__(self, errors: list[str]) -> None:
        super().__init__(f"{len(errors)} file(s) are not images: " + "; ".join(errors[:5]))
        self.errors = errors


@dataclass(frozen=True)
class UploadedImage:
    name: str
    content: Content  # the bytes, or a function that reads them in a decode thread


def images_from_zip(source) -> list[UploadedImage]:
    """Every file of a zip (any folder layout) as an upload, read when decoded;
    raises InvalidBatch, naming the member and the limit, for a refused zip."""
    try:
        reader = offload(ZipReader, source, batch_zip_limits())
    except ArchiveError as exc:
        raise InvalidBatch([str(exc)]) from exc
    return [
        UploadedImage(display_name(member.parts[-1]), partial(_read_member, reader, member))
        for member in reader.members
    ]


def _read_member(reader: ZipReader, member: ZipMember) -> bytes:
    try:
        return reader.read(member)
    except ArchiveError as exc:
        raise InvalidBatch([str(exc)]) from exc


def new_access_key() -> str:
    """The secret that lets an anonymous caller follow their job; only its hash is kept."""
    return secrets.token_urlsafe(32)


def access_key_hash(key: str) -> str:
    # A plain digest suffices: the key is 256 random bits, nothing to brute-force.
    return hashlib.sha256(key.encode()).hexdigest()


def submit_batch_job(
    images: list[UploadedImage],
    user=None,
    access_key: str | None = None,
    client_key: str = "",
    priority: str = Job.Priority.NORMAL,
) -> Job:
    """Decode and store the images a chunk at a time (the API has read every
    file's header before: one that is not an image refused the batch already).

    The job and its predictions belong to `user`; an anonymous caller's job is
    followed with `access_key` (new_access_key), of which only the hash is stored,
    and counted against its caller's quotas by `client_key` (jobs.quotas).

    Each chunk may be dispatched as soon as its rows are committed (queue_chunks), so
    workers predict while later chunks are still being decoded and stored
    (bench/jobs_throughput.py measures the overlap); how many run at once is
    jobs.scheduling's fair share. If a chunk fails (a file that does not decode:
    InvalidBatch listing that chunk's bad files; a full disk; Redis down when a chunk
    of it is dispatched), the job is deleted with every row and new file it made, and
    the error propagates: a failed submit leaves nothing behind. Do not call this
    inside a transaction: the chunks would then wait for its commit.
    """
    if not images:
        raise InvalidBatch(["no images given"])
    production = ModelVersion.production()
    if production is None:
        raise NoProductionModel("no model version is in production yet")
    job = Job(
        kind=Job.Kind.BATCH_INFERENCE,
        total=len(images),
        model_version=production,
        submitted_by=user,
        access_key_hash=access_key_hash(access_key) if access_key else "",
        client_key=client_key,
        celery_task_id=uuid.uuid4().hex,
        message="queued",
        priority=priority,
    )
    size = settings.BATCH_JOB_CHUNK_SIZE
    scope = user_scope(user)
    with new_files_removed_on_error():
        try:
            for first in range(0, len(images), size):
                stop = store_items(job, first, images[first : first + size], scope)
                queue_chunks(job, first, stop)
        except BaseException:
            if job.pk is not None:
                lifecycle.discard(job)  # with its items, and predictions stored meanwhile
            raise
    return job


def store_items(job: Job, first: int, images: list[UploadedImage], scope: str) -> int:
    """Decode one chunk's images and store their copies and rows at positions from
    `first`; returns the position after the last. Queueing them is queue_chunks'.

    The job row is created with the first chunk: a submit that dies before then
    leaves no job behind (a later one leaves a job whose stale heartbeat the
    recovery sweep fails)."""
    rows = decode_and_store(images, scope)
    with transaction.atomic():
        if job.pk is None:
            job.heartbeat_at = timezone.now()
            job.save()
        else:
            lifecycle.touch(job.pk)  # a queued job too: the sweep fails an upload that stopped
        insert_batch_items(
            [NewBatchItem(job.pk, position, *row) for position, row in enumerate(rows, first)]
        )
    return first + len(rows)


def decode_and_store(images: list[UploadedImage], scope: str) -> list[tuple]:
    """Decode the images and store their copies, one at a time in a decode thread (a
    request holds the small pixels of its images, never all its files); the rows'
    values after the position. Raises InvalidBatch naming every file that does not
    decode (storing stops at the first)."""
    errors, rows = [], []
    for image in images:
        try:
            upload = offload(prepare_upload, image.content)
        except InvalidImageError as exc:
            errors.append(f"{image.name}: {exc}")
            continue
        if not errors:
            copy = upload.image
            name, _ = store_image_file("uploads", copy.stored, copy.stored_format, scope)
            rows.append((name, upload.sha256, image.name[:255], copy.pixels.tobytes()))
    if errors:
        raise InvalidBatch(errors)
    return rows


def queue_chunks(job: Job, start: int = 0, stop: int | None = None) -> None:
    """Hand positions [start, stop) of a stored job (by default all of them) to the
    workers: the one place that does. They become chunk rows (in the current
    transaction, if any), and once it commits jobs.scheduling fills the free
    dispatch slots fairly (this job's chunks are sent when their turn comes).

    A broker that is down raises QueueError from that commit: the chunks picked stay
    dispatched, and the recovery sweep sends them again after
    BATCH_CHUNK_LOST_AFTER_SECONDS (the one-request submit deletes its job instead).
    The dispatch runs after the commit, in its own transaction: the dispatch lock is
    never taken while a job row is held (a draft's start holds its row)."""
    stop = job.total if stop is None else stop
    size = settings.BATCH_JOB_CHUNK_SIZE
    with transaction.atomic():
        for first in range(start, stop, size):
            scheduling.add_chunk(job, first, min(first + size, stop))
        transaction.on_commit(scheduling.dispatch)


def discard_draft_items(job: Job) -> None:
    """A cancelled draft's items, parts and the files no other row names are deleted;
    not if it was started meanwhile (starting gives it a model version): its
    results, if any, are kept as any cancelled job's are."""
    with transaction.atomic():
        never_started = Job.objects.select_for_update().filter(
            pk=job.pk, status=Job.Status.CANCELLED, model_version__isnull=True
        )
        if not never_started.exists():
            return
        names = set(BatchItem.objects.filter(job=job).values_list("image", flat=True))
        BatchItem.objects.filter(job=job).delete()
        BatchPart.objects.filter(job=job).delete()
    _delete_unreferenced(names)


def delete_draft(job: Job) -> None:
    """An expired draft goes entirely: its row, items, parts and files."""
    names = set(BatchItem.objects.filter(job=job).values_list("image", flat=True))
    deleted, _ = Job.objects.filter(pk=job.pk, status=Job.Status.DRAFT).delete()
    if deleted:
        _delete_unreferenced(names)


def _delete_unreferenced(names: set[str]) -> None:
    """Stored names are content-addressed per owner: the same image appended to
    another job, or predicted alone, shares the file, which then stays."""
    pending = sorted(names)
    for start in range(0, len(pending), 500):
        batch_names = pending[start : start + 500]
        kept = set(
            BatchItem.objects.filter(image__in=batch_names).values_list("image", flat=True)
        ) | set(Prediction.objects.filter(image__in=batch_names).values_list("image", flat=True))
        for name in set(batch_names) - kept:
            with contextlib.suppress(OSError):
                default_storage.delete(name)


def send_chunk(job_id: int, start: int, stop: int) -> None:
    """How jobs.scheduling queues a dispatched chunk (registered in apps.py)."""
    enqueue.batch_chunk(job_id, start, stop)


def check_silent_job(job: Job) -> int:
    """The recovery sweep asks about a batch job without a heartbeat for a while.
    Waiting for a dispatch slot is no fault (its chunks say where it is), but a job
    with fewer items than its total lost its submit (the web process died while
    storing the upload): it can never complete, so it fails. Positions that no chunk
    row covers and that lack a prediction (a submit that died between storing its
    last items and queueing them; a job from before chunks were rows) get chunk rows.
    Returns how many chunks were made."""
    stored = BatchItem.objects.filter(job=job).count()
    if stored < job.total:
        lifecycle.fail(
            job,
            f"failed: the upload stopped after {stored} of {job.total} images were stored",
            "the web process stopped while storing the upload; submit the images again",
        )
        return 0
    ranges = list(JobChunk.objects.filter(job=job).values_list("start", "stop"))
    if sum(stop - start for start, stop in ranges) >= job.total:
        return 0  # chunk rows never overlap: every position is covered
    missing = [
        position
        for position in BatchItem.objects.filter(job=job, prediction__isnull=True)
        .order_by("position")
        .values_list("position", flat=True)
        if not any(start <= position < stop for start, stop in ranges)
    ]
    chunks = _runs(missing, settings.BATCH_JOB_CHUNK_SIZE)
    with transaction.atomic():
        for first, stop in chunks:
            scheduling.add_chunk(job, first, stop)
    if not missing:
        update_progress(job)
    scheduling.dispatch()
    return len(chunks)


def _runs(positions: list[int], size: int) -> list[tuple[int, int]]:
    """Sorted positions as [start, stop) runs of consecutive ones, each at most `size`."""
    runs: list[tuple[int, int]] = []
    for position in positions:
        if runs and runs[-1][1] == position and position - runs[-1][0] < size:
            runs[-1] = (runs[-1][0], position + 1)
        else:
            runs.append((position, position + 1))
    return runs


def predict_chunk(job: Job, start: int, stop: int) -> None:
    """Predict positions [start, stop) of a batch job that still lack a prediction
    (in an inference worker: the one service call of the chunk task), then fill the
    dispatch slot this chunk frees.

    The chunk's row is claimed first: a duplicate message (redelivered by Redis, or
    sent again by the sweep) finds it claimed or done and does nothing. The model
    is loaded before the claim, so the claim's heartbeat covers only the forward
    pass (a first load can take longer than JOB_STALE_AFTER_SECONDS)."""
    if job.is_finished or job.cancel_requested:
        _dispatch_next()  # the slot this message held goes to another job
        return
    assert job.model_version is not None  # a batch job is queued with its version
    inference.load_model(job.model_version)
    chunk = scheduling.claim_chunk(job.pk, start)
    if chunk is None:
        return
    if job.status == Job.Status.QUEUED:
        lifecycle.start_if_queued(job)
    items = pending_items(job, chunk.start, chunk.stop)
    predictions = inference.predict_items(job.model_version, items) if items else []
    store_chunk(job, items, predictions, chunk)
    _dispatch_next()


def _dispatch_next() -> None:
    """Fill the slot this chunk frees. Redis down: the chunks picked stay dispatched
    and the recovery sweep sends them again (BATCH_CHUNK_LOST_AFTER_SECONDS); this
    chunk's results are stored, so its task succeeds."""
    try:
        scheduling.dispatch()
    except QueueError as exc:
        logger.warning("next chunks not sent (no broker: %s); the sweep sends them", exc)


def pending_items(job: Job, start: int, stop: int) -> list[BatchItem]:
    return list(
        BatchItem.objects.filter(
            job=job, position__gte=start, position__lt=stop, prediction__isnull=True
        ).order_by("position")
    )


def store_chunk(
    job: Job,
    items: list[BatchItem],
    predictions: list[ImagePrediction],
    chunk: JobChunk | None = None,
) -> None:
    """A chunk's predictions and the job's progress in one write transaction (on SQLite
    every separate write takes the database lock again, and other writers wait).

    The job row is locked first, so that chunks of one job commit one after another:
    on PostgreSQL (READ COMMITTED) two workers storing the last two chunks at once
    would each count the other's rows as missing, and neither would finish the job.
    """
    with transaction.atomic():
        if not Job.objects.select_for_update().filter(pk=job.pk).exists():
            return  # deleted: its submit failed after this chunk was queued
        save_predictions(job, items, predictions)
        if chunk is not None:
            scheduling.finish_chunk(chunk)
        update_progress(job)


def save_predictions(job: Job, items: list[BatchItem], predictions: list[ImagePrediction]) -> None:
    """One row per item; the unique batch_item makes a redelivered chunk add none."""
    assert job.model_version_id is not None  # a batch job is submitted with its version
    insert_predictions(
        [
            NewPrediction(
                image=item.image.name,  # type: ignore[arg-type]  # stored: never None
                image_sha256=item.image_sha256,
                original_name=item.original_name,
                top_label=prediction.label,
                confidence=prediction.confidence,
                probabilities=prediction.probabilities,
                model_version_id=job.model_version_id,
                source=Prediction.Source.BATCH,
                batch_item_id=item.pk,
                owner_id=job.submitted_by_id,
            )
            for item, prediction in zip(items, predictions, strict=True)
        ]
    )


def update_progress(job: Job) -> None:
    done = Prediction.objects.filter(batch_item__job=job).count()
    total = max(job.total, 1)
    lifecycle.record_progress(
        job.pk, min(done / total, 1.0), processed=done, message=f"{done} of {job.total} images"
    )
    if done >= job.total:
        lifecycle.succeed(job, f"{done} images predicted", processed=done)


def results(job: Job) -> list[dict]:
    rows = (
        BatchItem.objects.filter(job=job)
        .select_related("prediction__model_version")
        .order_by("position")
    )
    output = []
    for item in rows:
        prediction = getattr(item, "prediction", None)
        output.append(
            {
                "position": item.position,
                "original_name": item.original_name,
                "label": prediction.top_label if prediction else None,
                "confidence": prediction.confidence if prediction else None,
                "model_version": prediction.model_version.number if prediction else None,
                "probabilities": prediction.probabilities if prediction else None,
            }
        )
    return output


def results_csv(job: Job) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=RESULT_FIELDS, extrasaction="ignore")
    writer.writeheader()
    writer.writerows(
        {field: spreadsheet_safe(row[field]) for field in RESULT_FIELDS} for row in results(job)
    )
    return buffer.getvalue()


# A spreadsheet reads a cell starting with one of these as a formula (CSV injection).
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_safe(value):
    """A text cell that a spreadsheet would run as a formula gets a leading single
    quote, which makes it plain text (OWASP's advice); numbers are left alone."""
    if isinstance(value, str) and value.startswith(_FORMULA_STARTS):
        return "'" + value
    return value
