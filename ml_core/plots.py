"""Plots of a dataset or a training run, each with an interpretation computed from
the same data (every number in a sentence comes from the data).

matplotlib's Agg backend renders to PNG bytes; nothing here touches files.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import matplotlib

matplotlib.use("Agg")  # no display; must precede pyplot
import matplotlib.pyplot as plt
import numpy as np
from sklearn.metrics import roc_auc_score, roc_curve

from ml_core.evaluation import evaluate
from ml_core.preprocessing import to_model_input, to_uint8

SAMPLES_PER_CLASS = 8
MOSAIC_GAP = 2  # white pixels between sample images
FIGURE_DPI = 100
INTENSITY_BINS = 32
# Above this gap between a class's precision and recall, the sentence explains it.
NOTABLE_PRECISION_RECALL_GAP = 0.1


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
    """A grid: one row per class, the first `per_class` images of each.

    Drawn as one mosaic image: one matplotlib axes per sample took seconds.
    """
    labels = np.asarray(labels)
    if images.dtype != np.uint8:
        images = to_uint8(images)
    height, width = images.shape[1:3]
    cell_height, cell_width = height + MOSAIC_GAP, width + MOSAIC_GAP
    mosaic = np.full(
        (len(class_names) * cell_height, per_class * cell_width, 3), 255, dtype=np.uint8
    )
    shown = 0
    for row in range(len(class_names)):
        for column, index in enumerate(np.flatnonzero(labels == row)[:per_class]):
            top, left = row * cell_height, column * cell_width
            mosaic[top : top + height, left : left + width] = images[index]
            shown += 1
    figure, axes = plt.subplots(figsize=(per_class * 0.9, len(class_names) * 0.9))
    axes.imshow(mosaic, interpolation="nearest")
    axes.set_xticks([])
    axes.set_yticks(np.arange(len(class_names)) * cell_height + height / 2, class_names)
    axes.tick_params(axis="y", length=0)
    for side in axes.spines.values():
        side.set_visible(False)
    interpretation = (
        f"{shown} example images, up to {per_class} per class, shown at their stored "
        f"{images.shape[1]}x{images.shape[2]} resolution: at this size objects are recognisable "
        "mostly by shape and colour, which is what the network has to work with."
    )
    return Plot("sample_images", "Sample images per class", _render(figure), interpretation)


def pixel_intensity(images: np.ndarray, labels: np.ndarray, class_names: Sequence[str]) -> Plot:
    """Distribution of mean pixel brightness per class (uint8 or [0, 1] images)."""
    labels = np.asarray(labels)
    if images.dtype == np.uint8:
        images = to_model_input(images)
    brightness = images.reshape(len(images), -1).mean(axis=1)
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


# --- Evaluation of a model version on the test split ---------------------------------
# These take the dictionary of ml_core.evaluation.evaluate, so the plots show exactly
# the figures the version reports (ROC curves also need the scores themselves).


def confusion_matrix_heatmap(metrics: dict[str, Any]) -> Plot:
    """Rows: true class; columns: predicted class; colour: share of the true class."""
    names = metrics["class_names"]
    matrix = np.asarray(metrics["confusion_matrix"], dtype=np.int64)
    row_totals = matrix.sum(axis=1)
    shares = matrix / np.maximum(row_totals, 1)[:, None]
    size = max(6.0, 0.6 * len(names) + 2)
    figure, axes = plt.subplots(figsize=(size, size * 0.85))
    image = axes.imshow(shares, cmap="Blues", vmin=0, vmax=1)
    figure.colorbar(image, ax=axes, fraction=0.046, pad=0.04, label="share of the true class")
    for row, column in np.ndindex(matrix.shape):
        colour = "white" if shares[row, column] > 0.5 else "black"
        count = str(matrix[row, column])
        axes.text(column, row, count, ha="center", va="center", fontsize=8, color=colour)
    positions = np.arange(len(names))
    axes.set_xticks(positions, names, rotation=45, ha="right")
    axes.set_yticks(positions, names)
    axes.set_xlabel("predicted class")
    axes.set_ylabel("true class")
    return Plot(
        "confusion_matrix", "Confusion matrix", _render(figure), _confusion_sentence(matrix, names)
    )


def _confusion_sentence(matrix: np.ndarray, names: Sequence[str]) -> str:
    total, correct = int(matrix.sum()), int(np.trace(matrix))
    row_totals = matrix.sum(axis=1)
    sentence = (
        f"{total} test images, {correct} of them ({correct / max(total, 1):.1%}) on the "
        "diagonal, i.e. classified correctly."
    )
    mistakes = matrix.copy()
    np.fill_diagonal(mistakes, 0)
    if mistakes.any():
        true, predicted = map(int, np.unravel_index(int(mistakes.argmax()), mistakes.shape))
        count = int(mistakes[true, predicted])
        sentence += (
            f" The most frequent confusion is {names[true]} taken for {names[predicted]}: "
            f"{count} of {int(row_totals[true])} {names[true]} images "
            f"({count / row_totals[true]:.1%})."
        )
    else:
        sentence += " No image was misclassified."
    present = np.flatnonzero(row_totals)
    recall = np.diag(matrix)[present] / row_totals[present]
    worst, best = present[recall.argmin()], present[recall.argmax()]
    if worst != best:
        sentence += (
            f" The class recognised least often is {names[worst]} ({recall.min():.1%} of its "
            f"images), the most often {names[best]} ({recall.max():.1%})."
        )
    return sentence


def roc_curves(
    y_true: Sequence[int] | np.ndarray, probabilities: np.ndarray, class_names: Sequence[str]
) -> Plot:
    """One-vs-rest ROC curve per class, from the predicted probability of that class."""
    y_true = np.asarray(y_true)
    figure, axes = plt.subplots(figsize=(7, 6))
    colours = plt.get_cmap("tab10" if len(class_names) <= 10 else "tab20")
    aucs: dict[str, float] = {}
    for index, name in enumerate(class_names):
        positives = y_true == index
        if positives.all() or not positives.any():
            continue  # a curve needs both positive and negative examples
        scores = probabilities[:, index]
        false_positive_rate, true_positive_rate, _ = roc_curve(positives, scores)
        aucs[name] = float(roc_auc_score(positives, scores))
        axes.plot(
            false_positive_rate,
            true_positive_rate,
            color=colours(index % colours.N),
            linewidth=1.2,
            label=f"{name} (AUC {aucs[name]:.3f})",
        )
    axes.plot([0, 1], [0, 1], linestyle="--", color="grey", label="chance (AUC 0.500)")
    axes.set_xlabel("false positive rate")
    axes.set_ylabel("true positive rate")
    axes.set_xlim(0, 1)
    axes.set_ylim(0, 1.01)
    axes.legend(fontsize=7, loc="lower right")
    return Plot(
        "roc_curves",
        "One-vs-rest ROC curves",
        _render(figure),
        _roc_sentence(aucs, class_names, len(y_true)),
    )


def _roc_sentence(aucs: dict[str, float], class_names: Sequence[str], count: int) -> str:
    missing = [name for name in class_names if name not in aucs]
    if not aucs:
        return (
            f"No ROC curve can be drawn from {count} test images: every class needs images "
            "of its own and of other classes."
        )
    best, worst = max(aucs, key=aucs.__getitem__), min(aucs, key=aucs.__getitem__)
    sentence = (
        f"One-vs-rest ROC curves of {len(aucs)} classes over {count} test images; the mean "
        f"area under the curve is {np.mean(list(aucs.values())):.3f} (0.500 is chance, "
        f"1.000 a perfect ranking)."
    )
    if best != worst:
        sentence += (
            f" The easiest class to tell apart from the rest is {best} (AUC {aucs[best]:.3f}), "
            f"the hardest {worst} (AUC {aucs[worst]:.3f})."
        )
    if missing:
        sentence += (
            f" No curve for {', '.join(missing)}: the test split lacks positives or negatives."
        )
    return sentence


def per_class_metrics(metrics: dict[str, Any]) -> Plot:
    """Grouped bars: precision, recall and F1 of every class."""
    names = metrics["class_names"]
    rows = [metrics["per_class"][name] for name in names]
    positions = np.arange(len(names))
    width = 0.27
    figure, axes = plt.subplots(figsize=(max(8.0, 0.8 * len(names)), 4.5))
    bars = (("precision", "precision"), ("recall", "recall"), ("f1", "F1"))
    for offset, (key, label) in zip((-1, 0, 1), bars, strict=True):
        axes.bar(positions + offset * width, [row[key] for row in rows], width, label=label)
    axes.axhline(
        metrics["f1_macro"],
        color="black",
        linestyle="--",
        linewidth=1,
        label=f"macro F1 {metrics['f1_macro']:.3f}",
    )
    axes.set_xticks(positions, names, rotation=45, ha="right")
    axes.set_ylim(0, 1)
    axes.set_ylabel("score on the test split")
    axes.legend(fontsize=8, ncol=4, loc="upper center", bbox_to_anchor=(0.5, 1.15))
    return Plot(
        "per_class_metrics",
        "Per-class precision, recall and F1",
        _render(figure),
        _per_class_sentence(metrics),
    )


def _per_class_sentence(metrics: dict[str, Any]) -> str:
    per_class = metrics["per_class"]
    names = list(metrics["class_names"])
    f1 = {name: per_class[name]["f1"] for name in names}
    best, worst = max(names, key=f1.__getitem__), min(names, key=f1.__getitem__)
    sentence = (
        f"Macro-averaged over {len(names)} classes: precision {metrics['precision_macro']:.3f}, "
        f"recall {metrics['recall_macro']:.3f}, F1 {metrics['f1_macro']:.3f}. The best F1 is "
        f"{best}'s ({f1[best]:.3f}), the worst {worst}'s ({f1[worst]:.3f})."
    )
    gaps = {name: per_class[name]["precision"] - per_class[name]["recall"] for name in names}
    widest = max(names, key=lambda name: abs(gaps[name]))
    if abs(gaps[widest]) > NOTABLE_PRECISION_RECALL_GAP:
        row = per_class[widest]
        meaning = (
            "the model misses many of its images"
            if gaps[widest] > 0
            else "the model says it too often, for images of other classes"
        )
        sentence += (
            f" The widest gap is {widest}'s: precision {row['precision']:.3f} against recall "
            f"{row['recall']:.3f}, so {meaning}."
        )
    return sentence


def evaluation_plots(
    y_true: Sequence[int] | np.ndarray, probabilities: np.ndarray, class_names: Sequence[str]
) -> list[Plot]:
    """Confusion matrix, ROC curves and per-class metrics of one set of predictions."""
    metrics = evaluate(y_true, probabilities, class_names)
    return [
        confusion_matrix_heatmap(metrics),
        roc_curves(y_true, probabilities, class_names),
        per_class_metrics(metrics),
    ]
