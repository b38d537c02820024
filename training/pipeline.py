"""Train and evaluate model versions from the curated training images.

This module imports TensorFlow (through ml_core.training and ml_core.predictor):
import it only inside the code that trains or evaluates, never at module level
of anything the web process or a Celery parent process loads.
"""

from __future__ import annotations

import logging
import shutil
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Max, QuerySet
from django.db.models.fields.files import FieldFile
from django.utils import timezone
from sklearn.model_selection import train_test_split

from jobs.models import Job
from ml_core.artifacts import build_metadata, dataset_fingerprint, save_artifacts
from ml_core.calibration import apply_temperature, expected_calibration_error
from ml_core.evaluation import evaluate
from ml_core.predictor import Predictor
from ml_core.preprocessing import (
    INPUT_SHAPE,
    PREPROCESSING_VERSION,
    decode_pixels,
    to_model_input,
)
from ml_core.training import TrainingConfig, TrainingListener, train_model
from training.models import (
    JobTrainingImage,
    ModelVersion,
    ModelVersionTrainingImage,
    TrainingImage,
)

logger = logging.getLogger(__name__)

NUMBER_ALLOCATION_ATTEMPTS = 5
RECORD_BATCH_SIZE = 1000


class TrainingDataError(Exception):
    """The curated training images cannot train or evaluate a model as asked."""


@dataclass(frozen=True)
class LabeledSet:
    pixels: np.ndarray  # (N, 32, 32, 3) uint8 (ml_core.preprocessing's format)
    labels: np.ndarray  # indices into class_names
    fingerprint: str


@dataclass(frozen=True)
class SnapshotImage:
    """A stored image with the label it has in a snapshot (maybe not its label now)."""

    id: int
    image: FieldFile
    sha256: str
    label: str


@dataclass(frozen=True)
class Snapshot:
    """The images to train on and to test on, with their labels; never overlapping."""

    train: list[SnapshotImage]
    test: list[SnapshotImage]

    @classmethod
    def current(cls) -> Snapshot:
        """The included images of each split as they are now."""
        return cls(
            train=current_images(TrainingImage.Split.TRAIN),
            test=current_images(TrainingImage.Split.TEST),
        )

    @classmethod
    def of_job(cls, job: Job) -> Snapshot:
        """What a training job recorded when it was submitted."""
        rows = JobTrainingImage.objects.filter(job=job)
        return cls(
            train=recorded_images(rows, TrainingImage.Split.TRAIN),
            test=recorded_images(rows, TrainingImage.Split.TEST),
        )


def current_images(split: str) -> list[SnapshotImage]:
    rows = (
        TrainingImage.objects.filter(split=split, status=TrainingImage.Status.INCLUDED)
        .only("id", "image", "sha256", "label")
        .order_by("id")
    )
    return [SnapshotImage(row.id, row.image, row.sha256, row.label) for row in rows]


def recorded_images(rows: QuerySet, split: str) -> list[SnapshotImage]:
    """The images of a JobTrainingImage or ModelVersionTrainingImage queryset in `split`,
    with the labels recorded there."""
    selected = (
        rows.filter(split=split)
        .select_related("training_image")
        .only("label", "training_image", "training_image__image", "training_image__sha256")
        .order_by("training_image_id")
    )
    images = []
    for row in selected:
        image = row.training_image
        images.append(SnapshotImage(image.id, image.image, image.sha256, row.label))
    return images


def frozen_test_set(version: ModelVersion) -> list[SnapshotImage]:
    """The test images `version`'s metrics are of, with the labels it was tested against."""
    rows = ModelVersionTrainingImage.objects.filter(model_version=version)
    return recorded_images(rows, TrainingImage.Split.TEST)


def of_classes(rows: list[SnapshotImage], class_names: Sequence[str]) -> list[SnapshotImage]:
    known = set(class_names)
    return [row for row in rows if row.label in known]


def stratified_subset(rows: list[SnapshotImage], size: int, seed: int) -> list[SnapshotImage]:
    """At most `size` rows with the class proportions of `rows` (seeded)."""
    if size >= len(rows):
        return rows
    labels = [row.label for row in rows]
    try:
        subset, _ = train_test_split(rows, train_size=size, random_state=seed, stratify=labels)
    except ValueError:  # too small to keep every class: fall back to a seeded sample
        subset, _ = train_test_split(rows, train_size=size, random_state=seed)
    return sorted(subset, key=lambda row: row.id)


LoadProgress = Callable[[int, int], None]  # (images loaded so far, images to load)


def _ignore_progress(done: int, total: int) -> None:
    pass


def load_labeled_set(
    rows: Sequence[SnapshotImage],
    class_names: list[str],
    on_progress: LoadProgress = _ignore_progress,
) -> LabeledSet:
    """Read and decode stored images through the serving preprocessing path."""
    index_of = {name: index for index, name in enumerate(class_names)}
    pixels = np.zeros((len(rows), *INPUT_SHAPE), dtype=np.uint8)
    for position, row in enumerate(rows):
        with row.image.open("rb") as handle:
            pixels[position] = decode_pixels(handle.read())
        on_progress(position + 1, len(rows))
    return LabeledSet(
        pixels=pixels,
        labels=np.array([index_of[row.label] for row in rows], dtype=np.int64),
        fingerprint=dataset_fingerprint(f"{row.sha256}:{row.label}" for row in rows),
    )


def _create_version(**fields) -> ModelVersion:
    """Insert with the next free number; a concurrent insert makes us retry."""
    for attempt in range(NUMBER_ALLOCATION_ATTEMPTS):
        try:
            with transaction.atomic():
                highest = ModelVersion.objects.aggregate(highest=Max("number"))["highest"]
                return ModelVersion.objects.create(number=(highest or 0) + 1, **fields)
        except IntegrityError:
            if attempt == NUMBER_ALLOCATION_ATTEMPTS - 1:
                raise
    raise AssertionError("unreachable")


def train_new_version(
    config: TrainingConfig,
    listener: TrainingListener | None = None,
    max_train_images: int | None = None,
    snapshot: Snapshot | None = None,
    on_load_progress: LoadProgress = _ignore_progress,
    job: Job | None = None,
) -> ModelVersion | None:
    """Train on a snapshot's train images, evaluate on its test images, register.

    `snapshot` is what a job recorded at submit time; without it, the included images
    as they are now. The labels are the snapshot's. Returns None when the listener
    asked training to stop: nothing is written then.
    """
    if snapshot is None:
        snapshot = Snapshot.current()
    train_rows = snapshot.train
    if max_train_images is not None:
        train_rows = stratified_subset(train_rows, max_train_images, config.seed)
    class_names = sorted({row.label for row in train_rows})
    if len(class_names) < 2:
        raise TrainingDataError(
            f"training needs images of at least 2 classes in the train split; "
            f"found {len(train_rows)} images in {len(class_names)} classes"
        )
    test_rows = of_classes(snapshot.test, class_names)
    if not test_rows:
        raise TrainingDataError("the test split has no included images of the trained classes")

    # One progress count over both splits.
    total = len(train_rows) + len(test_rows)
    train_set = load_labeled_set(
        train_rows, class_names, lambda done, _: on_load_progress(done, total)
    )
    test_set = load_labeled_set(
        test_rows, class_names, lambda done, _: on_load_progress(len(train_rows) + done, total)
    )
    result = train_model(
        to_model_input(train_set.pixels), train_set.labels, class_names, config, listener
    )
    if result.stop_requested:
        logger.info("training stopped on request after %d epochs", len(result.history))
        return None

    # The metrics are those of the probabilities served: calibrated as Predictor does.
    raw = result.model.predict(to_model_input(test_set.pixels), batch_size=256, verbose=0)
    temperature = float(result.calibration["temperature"])  # the dict also holds text
    metrics = evaluate(test_set.labels, apply_temperature(raw, temperature), class_names)
    metrics["ece_uncalibrated"] = expected_calibration_error(raw, test_set.labels)
    metrics["temperature"] = temperature
    metrics["test_fingerprint"] = test_set.fingerprint
    parameters = {
        **config.to_dict(),
        "max_train_images": max_train_images,
        "train_count": result.train_count,
        "validation_count": result.validation_count,
        "epochs_run": len(result.history),
        "best_epoch": result.best_epoch,
        "stopped_early": result.stopped_early,
        "duration_seconds": round(result.duration_seconds, 1),
    }
    artifact_path = f"{timezone.now():%Y%m%d-%H%M%S}-{uuid.uuid4().hex[:8]}"
    save_artifacts(
        result.model,
        settings.MODELS_DIR / artifact_path,
        build_metadata(
            class_names=class_names,
            input_shape=INPUT_SHAPE,
            preprocessing_version=PREPROCESSING_VERSION,
            metrics=metrics,
            dataset_fingerprint=train_set.fingerprint,
            training_parameters=parameters,
            calibration=result.calibration,
            extra={"validation_metrics": result.validation_metrics, "history": result.history},
        ),
    )
    try:
        with transaction.atomic():
            version = _create_version(
                artifact_path=artifact_path,
                class_names=class_names,
                metrics=metrics,
                validation_metrics=result.validation_metrics,
                training_parameters=parameters,
                training_history=result.history,
                dataset_fingerprint=train_set.fingerprint,
                job=job,
            )
            ModelVersionTrainingImage.objects.bulk_create(
                (
                    ModelVersionTrainingImage(
                        model_version=version,
                        training_image_id=row.id,
                        label=row.label,
                        split=split,
                    )
                    for split, rows in (("train", train_rows), ("test", test_rows))
                    for row in rows
                ),
                batch_size=RECORD_BATCH_SIZE,
            )
    except BaseException:
        shutil.rmtree(settings.MODELS_DIR / artifact_path, ignore_errors=True)
        raise
    return version


def predict_test_split(
    version: ModelVersion,
    test_rows: list[SnapshotImage] | None = None,
    on_load_progress: LoadProgress = _ignore_progress,
) -> tuple[LabeledSet, np.ndarray, float]:
    """A test set of the version's classes (`test_rows`; by default the included test
    split of now), the network's own probabilities for it, and the temperature
    `version` serves them with."""
    if test_rows is None:
        test_rows = current_images(TrainingImage.Split.TEST)
    test_rows = of_classes(test_rows, version.class_names)
    if not test_rows:
        raise TrainingDataError("the test split has no included images of this model's classes")
    test_set = load_labeled_set(test_rows, version.class_names, on_load_progress)
    predictor = Predictor(version.artifact_directory)
    raw = predictor.predict_pixels(test_set.pixels, calibrated=False)
    return test_set, raw, predictor.temperature


def evaluate_version(
    version: ModelVersion,
    test_rows: list[SnapshotImage] | None = None,
    on_load_progress: LoadProgress = _ignore_progress,
) -> dict:
    """Metrics of `version` on a test set (by default the included test split of now),
    via `Predictor`: those of the calibrated probabilities it serves, plus the
    network's own ECE for comparison."""
    test_set, raw, temperature = predict_test_split(version, test_rows, on_load_progress)
    metrics = evaluate(test_set.labels, apply_temperature(raw, temperature), version.class_names)
    metrics["ece_uncalibrated"] = expected_calibration_error(raw, test_set.labels)
    metrics["temperature"] = temperature
    metrics["test_fingerprint"] = test_set.fingerprint
    return metrics
