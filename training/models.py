from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured, ValidationError
from django.db import models, transaction
from django.db.models import Q
from django.utils import timezone

from classifier_site.visibility import sees_everything

LABEL_MAX_LENGTH = 64
# Matched with fullmatch: `$` would also accept a trailing newline.
_LABEL_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9 _.-]*")
# The same, as the OpenAPI schema states it (ECMA regex: `$` is the end of the text).
LABEL_SCHEMA_PATTERN = rf"^{_LABEL_PATTERN.pattern}$"


def validate_label(value: str) -> None:
    """Class labels become folder names in exports: letters, digits, space, _ . - only."""
    if not value or len(value) > LABEL_MAX_LENGTH or not _LABEL_PATTERN.fullmatch(value):
        raise ValidationError(
            f"{value!r} is not a valid label: use 1-{LABEL_MAX_LENGTH} letters, digits, "
            "spaces, '_', '.' or '-', starting with a letter or digit",
            code="invalid_label",
        )


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


def known_labels() -> list[str]:
    """Every class some training image has, sorted."""
    return sorted(TrainingImage.objects.values_list("label", flat=True).order_by().distinct())


def check_new_classes(labels: Iterable[str], allow_new: bool) -> None:
    """Every label names a known class, unless `allow_new`: a typo (or a stray folder
    in an archive) must not quietly start a class of its own. Before the first image
    is stored there are no classes yet, and any label starts one.

    Every way of adding or relabelling training images goes through this check."""
    known = known_labels()
    unknown = sorted(set(labels) - set(known))
    if known and unknown and not allow_new:
        names = ", ".join(repr(label) for label in unknown)
        raise ValidationError(
            f"unknown class{'es' if len(unknown) > 1 else ''} {names}; "
            f"known classes: {', '.join(known)}",
            code="unknown_label",
        )


def check_label(value: str, allow_new: bool) -> None:
    """A valid label naming a known class, unless `allow_new`."""
    validate_label(value)
    check_new_classes([value], allow_new)


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
    job = models.OneToOneField(
        "jobs.Job",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="created_version",
        editable=False,
        help_text="The training job that created it; unique, so a redelivered job "
        "can never create a second version.",
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

    def promote(self, user=None) -> None:
        """Make this the production version; the previous one is retired.

        Every promotion is logged, so that `rollback` can walk back through them.
        """
        with transaction.atomic():
            lock_registry()
            self._promote_locked(ModelVersion.production(), user)

    def promote_replacing(self, expected: ModelVersion | None, user=None) -> bool:
        """Promote only if `expected` (None: no version) is still the production one.

        Auto-promote compares a candidate with production outside the lock (the
        comparison can take minutes); if somebody promoted or rolled back meanwhile,
        the comparison is stale and the candidate stays a candidate (returns False).
        """
        with transaction.atomic():
            lock_registry()
            current = ModelVersion.production()
            current_pk = current.pk if current else None
            if current_pk != (expected.pk if expected else None):
                return False
            self._promote_locked(current, user)
            return True

    def _promote_locked(self, previous_version: ModelVersion | None, user) -> None:
        if previous_version is not None and previous_version.pk == self.pk:
            self.status, self.promoted_at = previous_version.status, previous_version.promoted_at
            return
        self._make_production(previous_version)
        Promotion.objects.create(version=self, previous_version=previous_version, promoted_by=user)

    def _make_production(self, previous_version: ModelVersion | None) -> None:
        if previous_version is not None:
            previous_version.status = self.Status.RETIRED
            previous_version.save(update_fields=["status"])
        self.status = self.Status.PRODUCTION
        self.promoted_at = timezone.now()
        self.save(update_fields=["status", "promoted_at"])

    @classmethod
    def rollback(cls) -> ModelVersion:
        """Undo the latest promotion: its previous version serves again.

        Rolling back again undoes the promotion before that (a stack, not a toggle).
        """
        with transaction.atomic():
            lock_registry()
            current = cls.production()
            latest = (
                Promotion.objects.filter(version=current, reverted=False)
                .order_by("-created_at", "-id")
                .first()
            )
            if current is None or latest is None or latest.previous_version is None:
                raise RollbackError("there is no earlier production version to roll back to")
            latest.reverted = True
            latest.save(update_fields=["reverted"])
            target = latest.previous_version
            target._make_production(current)
            return target


# Any number no other advisory lock of this database uses ("registry" in ASCII).
REGISTRY_LOCK_KEY = 0x7265_6769_7374_7279


def lock_registry() -> None:
    """Serialise every move of the production alias: promote, rollback, auto-promote.

    Call it first inside transaction.atomic(), before reading which version is in
    production; it holds until that transaction ends. Locking only the production
    row was not enough: two promotes both saw the same (or no) production row and
    both wrote theirs (IntegrityError, deadlocks, a Promotion naming the wrong
    previous version).

    PostgreSQL: a transaction-scoped advisory lock (no row has to exist for it).
    SQLite: the service's transactions begin IMMEDIATE (settings.DATABASES), so the
    transaction already holds the database's single write lock.
    """
    connection = transaction.get_connection()
    if not connection.in_atomic_block:
        raise RuntimeError("lock_registry() must be called inside transaction.atomic()")
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [REGISTRY_LOCK_KEY])
    elif connection.vendor == "sqlite":
        if connection.settings_dict.get("OPTIONS", {}).get("transaction_mode") != "IMMEDIATE":
            raise ImproperlyConfigured(
                "SQLite needs OPTIONS transaction_mode IMMEDIATE: the model registry relies "
                "on each transaction taking the write lock when it begins"
            )
    else:
        raise ImproperlyConfigured(f"no registry lock for the {connection.vendor} database")


class RollbackError(Exception):
    """No earlier production version exists."""


class Promotion(models.Model):
    """One move of the production alias, newest last; rollbacks mark theirs reverted."""

    version = models.ForeignKey(ModelVersion, on_delete=models.CASCADE, related_name="+")
    previous_version = models.ForeignKey(
        ModelVersion, null=True, on_delete=models.CASCADE, related_name="+"
    )
    promoted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    reverted = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"v{self.version_id} replaced v{self.previous_version_id}"


class ModelVersionTrainingImage(models.Model):
    """The images a version was trained on (split `train`) and tested on (split
    `test`, the images its `metrics` are of), each with the label it had for it.

    PROTECT: an image a model was trained on cannot be deleted, only excluded,
    so every version's training set stays reproducible.
    """

    model_version = models.ForeignKey(ModelVersion, on_delete=models.CASCADE)
    training_image = models.ForeignKey(TrainingImage, on_delete=models.PROTECT)
    label = models.CharField(max_length=LABEL_MAX_LENGTH)
    split = models.CharField(max_length=8, choices=TrainingImage.Split.choices)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["model_version", "training_image"], name="unique_version_image"
            )
        ]

    def __str__(self) -> str:
        return f"v{self.model_version_id} ← image {self.training_image_id}"


class JobTrainingImage(models.Model):
    """A training job's snapshot: the included images of both splits at submit time,
    each with the label and split it had then. The job trains on the train ones and
    is tested on the test ones, whatever curation happens after the submit."""

    job = models.ForeignKey("jobs.Job", on_delete=models.CASCADE)
    training_image = models.ForeignKey(TrainingImage, on_delete=models.PROTECT)
    label = models.CharField(max_length=LABEL_MAX_LENGTH)
    split = models.CharField(max_length=8, choices=TrainingImage.Split.choices)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["job", "training_image"], name="unique_job_image")
        ]

    def __str__(self) -> str:
        return f"job {self.job_id} ← image {self.training_image_id}"


class Visualization(models.Model):
    """A rendered plot with its interpretation; regenerating replaces it by name."""

    name = models.CharField(max_length=64, unique=True)
    title = models.CharField(max_length=120)
    image = models.FileField(max_length=255)
    interpretation = models.TextField()
    model_version = models.ForeignKey(
        ModelVersion,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="visualizations",
        help_text="The version a per-version plot (training curves, evaluation) is of; "
        "empty for dataset plots.",
    )
    created_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.title


# Plots drawn from the training images themselves (a grid of samples per class): seen,
# like the images, by staff and holders of training.view_trainingimage only.
IMAGE_PLOTS = frozenset({"sample_images"})


def visible_plots(user, plots: models.QuerySet) -> models.QuerySet:
    if sees_everything(user, "training.view_trainingimage"):
        return plots
    return plots.exclude(name__in=IMAGE_PLOTS)
