"""Render the dataset and training plots (ml_core.plots) and store them in media."""

from __future__ import annotations

import numpy as np
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage

from ml_core.plots import Plot, dataset_plots, training_curves
from ml_core.preprocessing import preprocess_image, to_uint8
from training.models import ModelVersion, TrainingImage, Visualization


def _store(plot: Plot) -> Visualization:
    name = f"plots/{plot.name}.png"
    if default_storage.exists(name):
        default_storage.delete(name)
    stored = default_storage.save(name, ContentFile(plot.png))
    visualization, _ = Visualization.objects.update_or_create(
        name=plot.name,
        defaults={"title": plot.title, "image": stored, "interpretation": plot.interpretation},
    )
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
        return to_uint8(preprocess_image(handle.read()))


def generate_training_plot(version: ModelVersion) -> Visualization | None:
    if not version.training_history:
        return None
    plot = training_curves(version.training_history)
    return _store(
        Plot(
            name=f"training_curves_v{version.number}",
            title=f"Training curves of version {version.number}",
            png=plot.png,
            interpretation=plot.interpretation,
        )
    )
