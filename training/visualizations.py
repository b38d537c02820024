"""Render the plots of ml_core.plots and store them in media as Visualization rows.

Dataset plots are named after the plot; a version's plots get `_v<number>` and
point at their ModelVersion. Redrawing a plot replaces its row and file.
"""

from __future__ import annotations

import hashlib
import logging

import numpy as np
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import transaction

from ml_core.calibration import apply_temperature
from ml_core.plots import Plot, dataset_plots, evaluation_plots, training_curves
from ml_core.preprocessing import decode_pixels
from training.models import ModelVersion, TrainingImage, Visualization

logger = logging.getLogger(__name__)


def _store(plot: Plot, model_version: ModelVersion | None = None) -> Visualization:
    """Save the PNG under a name made of its content, then point the row at it.

    A new content means a new URL, so no browser shows a cached older plot, and a
    concurrent redraw never overwrites a file that a row still points at.
    """
    digest = hashlib.sha256(plot.png).hexdigest()[:16]
    name = f"plots/{plot.name}-{digest}.png"
    if not default_storage.exists(name):
        name = default_storage.save(name, ContentFile(plot.png))
    with transaction.atomic():
        previous = Visualization.objects.select_for_update().filter(name=plot.name).first()
        visualization, _ = Visualization.objects.update_or_create(
            name=plot.name,
            defaults={
                "title": plot.title,
                "image": name,
                "interpretation": plot.interpretation,
                "model_version": model_version,
            },
        )
    if previous is not None and previous.image.name and previous.image.name != name:
        default_storage.delete(previous.image.name)
    return visualization


def generate_dataset_plots() -> list[Visualization]:
    """Class distribution, samples and pixel intensity of the included train split."""
    rows = list(
        TrainingImage.objects.filter(split="train", status="included").only("image", "label")
    )
    if not rows:
        return []
    class_names = sorted({row.label for row in rows})
    index_of = {name: index for index, name in enumerate(class_names)}
    images = np.stack([_pixels(row) for row in rows])
    labels = np.array([index_of[row.label] for row in rows])
    return [_store(plot) for plot in dataset_plots(images, labels, class_names)]


def _pixels(row: TrainingImage) -> np.ndarray:
    with row.image.open("rb") as handle:
        return decode_pixels(handle.read())


def _of_version(plot: Plot, version: ModelVersion) -> Plot:
    return Plot(
        name=f"{plot.name}_v{version.number}",
        title=f"{plot.title} of version {version.number}",
        png=plot.png,
        interpretation=plot.interpretation,
    )


def generate_training_plot(version: ModelVersion) -> Visualization | None:
    if not version.training_history:
        return None
    return _store(_of_version(training_curves(version.training_history), version), version)


def generate_evaluation_plots(version: ModelVersion) -> list[Visualization]:
    """Confusion matrix, ROC curves and per-class metrics of `version` on the current
    included test split. Runs the model: call it in a worker's pool process only."""
    # TensorFlow: this runs in a training worker's pool process only.
    from training.pipeline import TrainingDataError, predict_test_split

    try:
        test_set, raw, temperature = predict_test_split(version)
    except TrainingDataError as exc:  # nothing to plot until the test split has images
        logger.warning("no evaluation plots for v%s: %s", version.number, exc)
        return []
    probabilities = apply_temperature(raw, temperature)  # what the version serves
    plots = evaluation_plots(test_set.labels, probabilities, version.class_names)
    return [_store(_of_version(plot, version), version) for plot in plots]
