from __future__ import annotations

import re
from pathlib import Path

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models, transaction
from django.db.models import Q
from django.utils import timezone

LABEL_MAX_LENGTH = 64
_LABEL_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 _.-]*$")


def validate_label(value: str) -> None:
    """Class labels become folder names in exports: letters, digits, space, _ . - only."""
    if not value or len(value) > LABEL_MAX_LENGTH or not _LABEL_PATTERN.match(value):
        raise ValidationError(
            f"{value!r} is not a valid label: use 1-{LABEL_MAX_LENGTH} letters, digits, "
            "spaces, '_', '.' or '-', starting with a letter or digit",
            code="invalid_label",
        )


def content_addressed_name(folder: str, sha256: str, extension: str) -> str:
    """Storage name from content hash: no user-controlled text reaches the filesystem."""
    return f"{folder}/{sha256[:2]}/{sha256}.{extension}"


class TrainingImage(models.Model):
    class Split(models.TextChoices):
        TRAIN = "train", "Train"
        TEST = "test", "Test"

    class Status(models.TextChoices):
        INCLUDED = "included", "Included"
        EXCLUDED = "excluded", "Excluded"

    class Source(models.TextChoices):
        CIFAR = "cifar", "CIFAR archive"
        FOLDER = "folder", "Class-folder import"
        UPLOAD = "upload", "Upload"
        PREDICTION = "prediction", "Corrected prediction"

    image = models.FileField(max_length=255)
    sha256 = models.CharField(max_length=64, unique=True, editable=False)
    label = models.CharField(
        max_length=LABEL_MAX_LENGTH, validators=[validate_label], db_index=True
    )
    split = models.CharField(max_length=8, choices=Split.choices, default=Split.TRAIN)
    source = models.CharField(max_length=16, choices=Source.choices)
    original_name = models.CharField(
        max_length=255, blank=True, help_text="Name the file had when imported; display only."
    )
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.INCLUDED)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["split", "status", "label"])]

    def __str__(self) -> str:
        return f"{self.label} ({self.split}) {self.sha256[:12]}"


class ModelVersion(models.Model):
    """An immutable trained model. Only `status` and `promoted_at` ever change."""

    class Status(models.TextChoices):
        CANDIDATE = "candidate", "Candidate"
        PRODUCTION = "production", "Production"
        RETIRED = "retired", "Retired"

    MUTABLE_FIELDS = frozenset({"status", "promoted_at"})

    number = models.PositiveIntegerField(unique=True, editable=False)
    artifact_path = models.CharField(
        max_length=255, editable=False, help_text="Directory relative to MODELS_DIR."
    )
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.CANDIDATE)
    class_names = models.JSONField(default=list, editable=False)
    metrics = models.JSONField(default=dict, editable=False, help_text="On the test split.")
    validation_metrics = models.JSONField(default=dict, editable=False)
    training_parameters = models.JSONField(default=dict, editable=False)
    training_history = models.JSONField(default=list, editable=False)
    dataset_fingerprint = models.CharField(max_length=64, editable=False)
    training_images = models.ManyToManyField(
        TrainingImage,
        through="ModelVersionTrainingImage",
        related_name="model_versions",
        blank=True,
    )
    created_at = models.DateTimeField(auto_now_add=True)
    promoted_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-number"]
        constraints = [
            models.UniqueConstraint(
                fields=["status"],
                condition=Q(status="production"),
                name="at_most_one_production_version",
            )
        ]

    def __str__(self) -> str:
        return f"v{self.number} ({self.status})"

    def save(self, *args, **kwargs) -> None:
        if self.pk is not None:
            update_fields = kwargs.get("update_fields")
            if update_fields is None or not set(update_fields) <= self.MUTABLE_FIELDS:
                raise ValidationError(
                    "model versions are immutable; only status and promoted_at can change "
                    "(save with update_fields)"
                )
        super().save(*args, **kwargs)

    @property
    def artifact_directory(self) -> Path:
        return Path(settings.MODELS_DIR) / self.artifact_path

    @property
    def accuracy(self) -> float | None:
        return self.metrics.get("accuracy")

    @classmethod
    def production(cls) -> ModelVersion | None:
        return cls.objects.filter(status=cls.Status.PRODUCTION).first()

    def promote(self) -> None:
        """Make this the production version; the previous one is retired."""
        with transaction.atomic():
            current = (
                ModelVersion.objects.select_for_update()
                .filter(status=self.Status.PRODUCTION)
                .exclude(pk=self.pk)
            )
            current.update(status=self.Status.RETIRED)
            self.status = self.Status.PRODUCTION
            self.promoted_at = timezone.now()
            self.save(update_fields=["status", "promoted_at"])


class ModelVersionTrainingImage(models.Model):
    """Which training images a version was trained on (its snapshot).

    PROTECT: an image a model was trained on cannot be deleted, only excluded,
    so every version's training set stays reproducible.
    """

    model_version = models.ForeignKey(ModelVersion, on_delete=models.CASCADE)
    training_image = models.ForeignKey(TrainingImage, on_delete=models.PROTECT)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["model_version", "training_image"], name="unique_version_image"
            )
        ]

    def __str__(self) -> str:
        return f"v{self.model_version_id} ← image {self.training_image_id}"
