from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

from django.conf import settings
from django.db import connection, models
from django.utils import timezone

from jobs.models import Job
from training.models import LABEL_MAX_LENGTH, ModelVersion


class Prediction(models.Model):
    class Source(models.TextChoices):
        API = "api", "API"
        DASHBOARD = "dashboard", "Dashboard"
        BATCH = "batch", "Batch job"
        COMMAND = "command", "Command line"

    image = models.FileField(max_length=255)
    image_sha256 = models.CharField(max_length=64, db_index=True)
    original_name = models.CharField(max_length=255, blank=True)
    top_label = models.CharField(max_length=LABEL_MAX_LENGTH, db_index=True)
    confidence = models.FloatField(db_index=True)
    probabilities = models.JSONField(help_text="Probability of every class, by class name.")
    model_version = models.ForeignKey(
        ModelVersion, on_delete=models.PROTECT, related_name="predictions"
    )
    source = models.CharField(max_length=16, choices=Source.choices)
    # Who may see it (classifier_site.api.visible_to): the signed-in caller, or the
    # batch job's submitter. None (an anonymous caller's, or a deleted user's): staff only.
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="predictions",
    )
    # Idempotency keys: a redelivered task finds its prediction instead of adding one.
    request_id = models.CharField(max_length=64, null=True, blank=True, unique=True)
    batch_item = models.OneToOneField(
        "BatchItem", null=True, blank=True, on_delete=models.CASCADE, related_name="prediction"
    )
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    # The rows media_cleanup searches for a file name (see the index below).
    file_rows = models.Q(batch_item__isnull=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        # Retention asks which rows still name a file (classifier_site.media_cleanup).
        # A batch prediction's file is its item's (BatchItem.image is indexed), so
        # only single predictions are indexed by file: batch inserts pay nothing.
        indexes = [
            # With batch_item (always NULL here) as a second column, SQLite prefers it
            # to the unique index on batch_item alone, which matches every single
            # prediction; PostgreSQL seeks on image.
            models.Index(
                fields=["image", "batch_item"],
                name="prediction_single_image_idx",
                condition=models.Q(batch_item__isnull=True),
            )
        ]

    def __str__(self) -> str:
        return f"{self.top_label} {self.confidence:.0%} (v{self.model_version_id})"


class BatchItem(models.Model):
    """One image of a batch-inference job; it gets exactly one Prediction."""

    job = models.ForeignKey(Job, on_delete=models.CASCADE, related_name="batch_items")
    position = models.PositiveIntegerField()
    image = models.FileField(max_length=255)
    image_sha256 = models.CharField(max_length=64)
    original_name = models.CharField(max_length=255, blank=True)
    # The preprocessed image (32x32 RGB uint8): the web process decodes each upload
    # once, to validate it, and keeps the result so workers only run the model.
    pixels = models.BinaryField(editable=False)

    class Meta:
        ordering = ["job", "position"]
        constraints = [
            models.UniqueConstraint(fields=["job", "position"], name="unique_job_position")
        ]
        indexes = [models.Index(fields=["image"], name="batchitem_image_idx")]

    def __str__(self) -> str:
        return f"job {self.job_id} #{self.position}"


class BatchPart(models.Model):
    """One request that appended images to a draft batch job: its client-chosen key
    makes re-sending a part (after a dropped connection) add nothing."""

    job = models.ForeignKey(Job, on_delete=models.CASCADE, related_name="batch_parts")
    key = models.CharField(max_length=64)
    first = models.PositiveIntegerField(help_text="The position of its first image.")
    count = models.PositiveIntegerField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["job", "first"]
        constraints = [models.UniqueConstraint(fields=["job", "key"], name="unique_job_part_key")]

    def __str__(self) -> str:
        return f"job {self.job_id} part {self.key}"


@dataclass(frozen=True)
class NewPrediction:
    """A Prediction row to insert, by column (attname)."""

    image: str
    image_sha256: str
    original_name: str
    top_label: str
    confidence: float
    probabilities: dict[str, Any]
    model_version_id: int
    source: str
    batch_item_id: int | None = None
    request_id: str | None = None
    owner_id: int | None = None


@dataclass(frozen=True)
class NewBatchItem:
    """A BatchItem row to insert, by column (attname)."""

    job_id: int
    position: int
    image: str
    image_sha256: str
    original_name: str
    pixels: bytes


def insert_predictions(rows: list[NewPrediction]) -> None:
    """INSERT the rows in one statement, skipping any whose idempotency key
    (batch_item or request_id) is already stored."""
    if not rows:
        return
    columns = [field.name for field in fields(NewPrediction)]
    probabilities = Prediction._meta.get_field("probabilities")
    position = columns.index("probabilities")
    created_at = Prediction._meta.get_field("created_at").get_db_prep_save(
        timezone.now(), connection
    )
    parameters = []
    for row in rows:
        values = [getattr(row, column) for column in columns]
        values[position] = probabilities.get_db_prep_save(values[position], connection)
        parameters.append((*values, created_at))
    _insert(Prediction, [*columns, "created_at"], parameters, skip_conflicts=True)


def insert_batch_items(rows: list[NewBatchItem]) -> None:
    """INSERT the rows in one statement (a position taken already is an error)."""
    columns = [field.name for field in fields(NewBatchItem)]
    parameters = [tuple(getattr(row, column) for column in columns) for row in rows]
    _insert(BatchItem, columns, parameters, skip_conflicts=False)


def _insert(model, columns: list[str], parameters: list[tuple], skip_conflicts: bool) -> None:
    """One INSERT of plain tuples, run for every row.

    Batch jobs write one row per image on both sides: Django's bulk_create spent about
    0.25 ms a row building and preparing model instances (cProfile of a 64-image chunk:
    17 ms beside a 74 ms forward pass; of a 2,000-image submit: a quarter of it). Plain
    tuples cost a fraction of that; only JSON and timestamps need the backend's own
    preparation (the callers do it)."""
    if not parameters:
        return
    quote = connection.ops.quote_name
    sql = (
        f"INSERT INTO {quote(model._meta.db_table)} "
        f"({', '.join(quote(column) for column in columns)}) "
        f"VALUES ({', '.join(['%s'] * len(columns))})"
    )
    if skip_conflicts:
        sql += " ON CONFLICT DO NOTHING"
    with connection.cursor() as cursor:
        cursor.executemany(sql, parameters)
