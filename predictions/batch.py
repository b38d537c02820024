"""Batch-inference jobs: submit, split into chunk tasks, store results, export.

A job's images are split into chunks of BATCH_JOB_CHUNK_SIZE, each its own task,
so every inference worker on every host takes part in one large job.
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import io
import secrets
import uuid
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING

from django.conf import settings
from django.core.files.storage import default_storage
from django.db import transaction

from classifier_site.media import user_scope
from classifier_site.media_store import (
    Content,
    new_files_removed_on_error,
    prepare_upload,
    store_image_file,
)
from classifier_site.uploads import batch_zip_limits, offload
from jobs import lifecycle
from jobs.models import Job
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
) -> Job:
    """Decode and store the images a chunk at a time (the API has read every
    file's header before: one that is not an image refused the batch already).

    The job and its predictions belong to `user`; an anonymous caller's job is
    followed with `access_key` (new_access_key), of which only the hash is stored,
    and counted against its caller's quotas by `client_key` (jobs.quotas).

    Each chunk is queued as soon as its rows are committed, so workers predict
    while later chunks are still being decoded and stored (bench/jobs_throughput.py
    measures the overlap). If a chunk fails (a file that does not decode: InvalidBatch
    listing that chunk's bad files; a full disk; Redis down), the job is deleted with
    every row and new file it made, and the error propagates: a failed submit leaves
    nothing behind. Do not call this inside a transaction: the chunks would then
    wait for its commit.
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
            job.save()
        else:
            lifecycle.heartbeat(job.pk)
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
    """Queue the chunk tasks of positions [start, stop) of a stored job (by default all
    of them), once the current transaction commits (at once outside one). The one
    place that hands a job's stored items to the workers."""
    stop = job.total if stop is None else stop
    size = settings.BATCH_JOB_CHUNK_SIZE
    for first in range(start, stop, size):
        enqueue.batch_chunk_after_commit(job.pk, first, min(first + size, stop))


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


def enqueue_missing_chunks(job: Job) -> int:
    """Queue a chunk task for every run of positions still without a prediction
    (the recovery sweep's way of resuming a batch job whose worker was lost).

    A job with fewer items than its total lost its submit (the web process died
    while storing the upload): it can never complete, so it fails."""
    stored = BatchItem.objects.filter(job=job).count()
    if stored < job.total:
        lifecycle.fail(
            job,
            f"failed: the upload stopped after {stored} of {job.total} images were stored",
            "the web process stopped while storing the upload; submit the images again",
        )
        return 0
    missing = list(
        BatchItem.objects.filter(job=job, prediction__isnull=True)
        .order_by("position")
        .values_list("position", flat=True)
    )
    size = settings.BATCH_JOB_CHUNK_SIZE
    chunks = [(missing[start], missing[min(start + size, len(missing)) - 1] + 1)
              for start in range(0, len(missing), size)]  # fmt: skip
    for first, stop in chunks:
        enqueue.batch_chunk(job.pk, first, stop)
    if not missing:
        update_progress(job)
    return len(chunks)


def predict_chunk(job: Job, start: int, stop: int) -> None:
    """Predict positions [start, stop) of a batch job that still lack a prediction
    (in an inference worker: the one service call of the chunk task)."""
    if job.is_finished or job.cancel_requested:
        return
    if job.status == Job.Status.QUEUED:
        lifecycle.start_if_queued(job)
    items = pending_items(job, start, stop)
    assert job.model_version is not None  # a batch job is submitted with its version
    predictions = inference.predict_items(job.model_version, items) if items else []
    store_chunk(job, items, predictions)


def pending_items(job: Job, start: int, stop: int) -> list[BatchItem]:
    return list(
        BatchItem.objects.filter(
            job=job, position__gte=start, position__lt=stop, prediction__isnull=True
        ).order_by("position")
    )


def store_chunk(job: Job, items: list[BatchItem], predictions: list[ImagePrediction]) -> None:
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
