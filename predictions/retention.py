"""Retention: what the predictions app stores is deleted once its time is up, rows
and files together (the `purge` command and the scheduled purge_expired task).

- RETAIN_BATCH_JOBS_DAYS: a batch job finished that long ago goes whole: its items,
  their predictions, their files and the job row.
- RETAIN_BATCH_INPUTS_DAYS: a batch job finished that long ago loses its inputs:
  the pixels of every item (3 KB an image, needed only to predict), and the items
  that never got a prediction (the job was cancelled or failed) with their files.
  Predicted items stay: they are the results' rows, and their file is the
  prediction's image.
- RETAIN_PREDICTIONS_DAYS: single predictions (API, dashboard, command) older than
  that, with their uploads.
- Files under this app's folders that no row names, older than
  RETAIN_ORPHAN_GRACE_HOURS (a crash between storing a file and committing its
  row leaves one).

Rows go first, a bounded batch per transaction; their files are offered for
deletion once it has committed (classifier_site.media_cleanup), which keeps any
file another row still names (the same image uploaded twice; a training image
never shares a name with an upload, and is never deleted). A crash between the
two leaves an orphan file, never a row naming a missing file; the orphan sweep
collects it later. Training images, model versions, their files and every job
of another kind are left alone.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import partial

from django.conf import settings
from django.db import transaction
from django.db.models import Model, QuerySet, Sum
from django.db.models.functions import Length
from django.utils import timezone

from classifier_site import disk_usage
from classifier_site.media_cleanup import (
    Removed,
    files_older_than,
    named_by_rows,
    reference_counts,
    remove_unnamed,
    size_of,
)
from jobs.models import Job, JobChunk
from predictions.models import BatchItem, Prediction

logger = logging.getLogger(__name__)

# Where this app stores uploads: batch items, and single predictions.
MEDIA_FOLDERS = ("uploads", "predictions")


@dataclass
class PurgeReport:
    """What a purge deleted, or (dry run) would delete."""

    dry_run: bool = False
    rows: Counter = field(default_factory=Counter)  # by kind of row
    pixels_cleared: int = 0  # batch items whose pixels were emptied
    pixel_bytes: int = 0
    files: int = 0
    file_bytes: int = 0
    orphan_files: int = 0
    orphan_bytes: int = 0

    def add_files(self, removed: Removed) -> None:
        self.files += removed.files
        self.file_bytes += removed.bytes

    def lines(self) -> list[str]:
        verb = "would delete" if self.dry_run else "deleted"
        lines = [f"{verb} {count} {kind} rows" for kind, count in sorted(self.rows.items())]
        lines = lines or [f"{verb} no rows"]
        lines.append(
            f"{'would clear' if self.dry_run else 'cleared'} the pixels of "
            f"{self.pixels_cleared} batch items ({self.pixel_bytes} bytes)"
        )
        lines.append(f"{verb} {self.files} files of those rows ({self.file_bytes} bytes)")
        lines.append(f"{verb} {self.orphan_files} orphan files ({self.orphan_bytes} bytes)")
        return lines

    def as_dict(self) -> dict:
        return {
            "dry_run": self.dry_run,
            "rows": dict(self.rows),
            "pixels_cleared": self.pixels_cleared,
            "pixel_bytes": self.pixel_bytes,
            "files": self.files,
            "file_bytes": self.file_bytes,
            "orphan_files": self.orphan_files,
            "orphan_bytes": self.orphan_bytes,
        }


def periods() -> str:
    """The retention periods in force, in words."""

    def days(value: int) -> str:
        return f"{value} days" if value else "kept forever"

    return (
        f"batch inputs {days(settings.RETAIN_BATCH_INPUTS_DAYS)}, "
        f"batch jobs {days(settings.RETAIN_BATCH_JOBS_DAYS)}, "
        f"single predictions {days(settings.RETAIN_PREDICTIONS_DAYS)}, "
        f"orphan files after {settings.RETAIN_ORPHAN_GRACE_HOURS} hours"
    )


def _before(days: int, now: datetime) -> datetime | None:
    return now - timedelta(days=days) if days else None


def purge(dry_run: bool = False, now: datetime | None = None) -> PurgeReport:
    """Delete (or count, when `dry_run`) everything past its retention period."""
    now = now or timezone.now()
    report = PurgeReport(dry_run=dry_run)
    if before := _before(settings.RETAIN_BATCH_JOBS_DAYS, now):
        _purge_batch_jobs(before, report)
    if before := _before(settings.RETAIN_BATCH_INPUTS_DAYS, now):
        _purge_batch_inputs(before, now, report)
    if before := _before(settings.RETAIN_PREDICTIONS_DAYS, now):
        single = Prediction.objects.filter(batch_item__isnull=True, created_at__lt=before)
        _delete_rows(single, ["image"], report)
    _sweep_orphans(report)
    return report


def run_scheduled() -> dict:
    """The beat task's service: the purge, then the disk use the overview shows."""
    report = purge()
    disk_usage.record()
    logger.info("purge: %s", "; ".join(report.lines()))
    return report.as_dict()


def _finished_batch_jobs(before: datetime) -> QuerySet:
    return Job.objects.filter(
        kind=Job.Kind.BATCH_INFERENCE, status__in=Job.TERMINAL, finished_at__lt=before
    )


def _purge_batch_jobs(before: datetime, report: PurgeReport) -> None:
    jobs = _finished_batch_jobs(before)
    items = BatchItem.objects.filter(job__in=jobs.values("pk"))
    _delete_rows(items, ["image", "prediction__image"], report)
    _delete_rows(jobs, [], report)


def _purge_batch_inputs(before: datetime, now: datetime, report: PurgeReport) -> None:
    jobs = _finished_batch_jobs(before).filter(inputs_purged_at__isnull=True)
    for job_ids in _keyset(jobs):
        unpredicted = BatchItem.objects.filter(job__in=job_ids, prediction__isnull=True)
        _delete_rows(unpredicted, ["image"], report)
        for item_ids in _keyset(BatchItem.objects.filter(job__in=job_ids)):
            items = BatchItem.objects.filter(pk__in=item_ids)
            report.pixels_cleared += len(item_ids)
            report.pixel_bytes += items.aggregate(n=Sum(Length("pixels")))["n"] or 0
            if not report.dry_run:
                items.update(pixels=b"")
        if not report.dry_run:
            Job.objects.filter(pk__in=job_ids).update(inputs_purged_at=now)


def _keyset(rows: QuerySet) -> Iterator[list[int]]:
    """The rows' primary keys, a batch at a time in key order: each batch is a new
    query after the last key, so rows deleted meanwhile neither stop nor repeat it."""
    last = None
    while True:
        page = rows.order_by("pk")
        if last is not None:
            page = page.filter(pk__gt=last)
        ids = list(page.values_list("pk", flat=True)[: settings.RETENTION_BATCH_SIZE])
        if not ids:
            return
        yield ids
        last = ids[-1]


def _delete_rows(rows: QuerySet, file_columns: list[str], report: PurgeReport) -> None:
    """Delete the rows (and what cascades from them) a batch at a time; then, once
    each batch has committed, those of their files no other row names."""
    for ids in _keyset(rows):
        batch = rows.model.objects.filter(pk__in=ids)
        names = [
            name
            for values in batch.values_list(*file_columns)
            for name in values
            if name  # an item without a prediction has none
        ] if file_columns else []  # fmt: skip
        if report.dry_run:
            _count_instead(rows.model, batch, names, report)
            continue
        with transaction.atomic():
            _, deleted = batch.delete()
            transaction.on_commit(partial(_remove_files, report, names))
        report.rows.update({_label(label): count for label, count in deleted.items() if count})


def _count_instead(model: type[Model], batch: QuerySet, names: list[str], report) -> None:
    """A dry run's batch: its rows, those cascading from them, and the files that only
    these rows name."""
    report.rows[_label(model._meta.label)] += batch.count()
    if model is BatchItem:
        report.rows[_label(Prediction._meta.label)] += Prediction.objects.filter(
            batch_item__in=batch
        ).count()
    if model is Job:  # a job's chunk rows cascade with it
        report.rows[_label(JobChunk._meta.label)] += JobChunk.objects.filter(job__in=batch).count()
    here = Counter(names)
    for name, count in reference_counts(here).items():
        if count <= here[name]:
            report.files += 1
            report.file_bytes += size_of(name)


def _label(model_label: str) -> str:
    return {
        "predictions.Prediction": "prediction",
        "predictions.BatchItem": "batch item",
        "jobs.Job": "batch job",
        "jobs.JobChunk": "job chunk",
    }.get(model_label, model_label)


def _sweep_orphans(report: PurgeReport) -> None:
    grace = settings.RETAIN_ORPHAN_GRACE_HOURS * 3600
    for folder in MEDIA_FOLDERS:
        batch: list[str] = []
        for name in files_older_than(folder, grace):
            batch.append(name)
            if len(batch) >= settings.RETENTION_BATCH_SIZE:
                _remove_orphans(batch, report)
                batch = []
        _remove_orphans(batch, report)


def _remove_orphans(names: list[str], report: PurgeReport) -> None:
    if not names:
        return
    if report.dry_run:
        unnamed = set(names) - named_by_rows(names)
        report.orphan_files += len(unnamed)
        report.orphan_bytes += sum(size_of(name) for name in unnamed)
        return
    removed = remove_unnamed(names)
    report.orphan_files += removed.files
    report.orphan_bytes += removed.bytes


def _remove_files(report: PurgeReport, names: list[str]) -> None:
    """After the rows' deletion commits: the files no row names any more."""
    report.add_files(remove_unnamed(names))
