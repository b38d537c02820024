"""Plots of a dataset or a training run, each with an interpretation computed from
the same data (every number in a sentence comes from the data).

matplotlib's Agg backend renders to PNG bytes; nothing here touches files.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass

import matplotlib

matplotlib.use("Agg")  # no display; must precede pyplot
import matplotlib.pyplot as plt
import numpy as np

SAMPLES_PER_CLASS = 8
FIGURE_DPI = 100
INTENSITY_BINS = 32


@dataclass(frozen=True)
class Plot:
    name: str  # stable identifier, also the file name
    title: str
    png: bytes
    interpretation: str


def _render(figure) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=FIGURE_DPI, bbox_inches="tight")
    plt.close(figure)
    return buffer.getvalue()


def class_distribution(labels: np.ndarray, class_names: Sequence[str]) -> Plot:
    counts = np.bincount(np.asarray(labels), minlength=len(class_names))
    figure, axes = plt.subplots(figsize=(8, 4))
    axes.bar(class_names, counts, color="#4c72b0")
    axes.set_ylabel("images")
    axes.set_title("Images per class")
    axes.tick_params(axis="x", rotation=45)
    largest, smallest = int(counts.argmax()), int(counts.argmin())
    ratio = counts[largest] / max(counts[smallest], 1)
    balance = "roughly balanced" if ratio < 1.5 else "imbalanced"
    interpretation = (
        f"{int(counts.sum())} images in {len(class_names)} classes. The largest class, "
        f"{class_names[largest]}, has {int(counts[largest])} images and the smallest, "
        f"{class_names[smallest]}, {int(counts[smallest])}: a ratio of {ratio:.2f}, so the "
        f"classes are {balance}."
    )
    return Plot("class_distribution", "Class distribution", _render(figure), interpretation)


def sample_images(
    images: np.ndarray,
    labels: np.ndarray,
    class_names: Sequence[str],
    per_class: int = SAMPLES_PER_CLASS,
) -> Plot:
    """A grid: one row per class, the first `per_class` images of each."""
    labels = np.asarray(labels)
    figure, axes = plt.subplots(
        len(class_names), per_class, figsize=(per_class * 0.9, len(class_names) * 0.95)
    )
    axes = np.atleast_2d(axes)
    shown = 0
    for row, name in enumerate(class_names):
        indices = np.flatnonzero(labels == row)[:per_class]
        for column in range(per_class):
            axis = axes[row, column]
            axis.axis("off")
            if column < len(indices):
                axis.imshow(images[indices[column]], interpolation="nearest")
                shown += 1
        axes[row, 0].set_title(name, fontsize=8, loc="left")
    interpretation = (
        f"{shown} example images, up to {per_class} per class, shown at their stored "
        f"{images.shape[1]}x{images.shape[2]} resolution: at this size objects are recognisable "
        "mostly by shape and colour, which is what the network has to work with."
    )
    return Plot("sample_images", "Sample images per class", _render(figure), interpretation)


def pixel_intensity(images: np.ndarray, labels: np.ndarray, class_names: Sequence[str]) -> Plot:
    """Distribution of mean pixel brightness per class (uint8 or [0, 1] images)."""
    labels = np.asarray(labels)
    scale = 255.0 if images.dtype == np.uint8 else 1.0
    brightness = images.reshape(len(images), -1).mean(axis=1) / scale
    figure, axes = plt.subplots(figsize=(8, 4))
    means = []
    for index, name in enumerate(class_names):
        values = brightness[labels == index]
        means.append(float(values.mean()) if values.size else float("nan"))
        axes.hist(values, bins=INTENSITY_BINS, range=(0, 1), histtype="step", label=name)
    axes.set_xlabel("mean pixel intensity of an image (0 = black, 1 = white)")
    axes.set_ylabel("images")
    axes.legend(fontsize=7, ncol=2)
    order = np.argsort(means)
    darkest, brightest = int(order[0]), int(order[-1])
    interpretation = (
        f"Mean intensity over all images is {float(brightness.mean()):.3f}. The darkest class "
        f"on average is {class_names[darkest]} ({means[darkest]:.3f}), the brightest "
        f"{class_names[brightest]} ({means[brightest]:.3f}); a spread of "
        f"{means[brightest] - means[darkest]:.3f} means brightness alone separates few classes."
    )
    return Plot("pixel_intensity", "Pixel intensity per class", _render(figure), interpretation)


def training_curves(history: Sequence[dict]) -> Plot:
    """Loss and accuracy per epoch, training and validation."""
    epochs = [entry["epoch"] for entry in history]
    figure, (loss_axes, accuracy_axes) = plt.subplots(1, 2, figsize=(10, 4))
    for key, axes in (("loss", loss_axes), ("accuracy", accuracy_axes)):
        axes.plot(epochs, [entry[key] for entry in history], label=f"training {key}")
        axes.plot(epochs, [entry[f"val_{key}"] for entry in history], label=f"validation {key}")
        axes.set_xlabel("epoch")
        axes.set_title(key)
        axes.legend()
    best = max(history, key=lambda entry: entry["val_accuracy"])
    last = history[-1]
    gap = last["accuracy"] - last["val_accuracy"]
    interpretation = (
        f"{len(history)} epochs. Validation accuracy peaked at {best['val_accuracy']:.3f} in "
        f"epoch {best['epoch']}; in the last epoch training accuracy was {last['accuracy']:.3f} "
        f"and validation {last['val_accuracy']:.3f}, a gap of {gap:.3f}"
        + (" (the model overfits)." if gap > 0.1 else ".")
    )
    return Plot("training_curves", "Training curves", _render(figure), interpretation)


def dataset_plots(images: np.ndarray, labels: np.ndarray, class_names: Sequence[str]) -> list[Plot]:
    """The three dataset stories: class distribution, samples, pixel intensity."""
    return [
        class_distribution(labels, class_names),
        sample_images(images, labels, class_names),
        pixel_intensity(images, labels, class_names),
    ]
