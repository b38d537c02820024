"""Classification metrics as plain JSON-serialisable dictionaries."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from sklearn.metrics import confusion_matrix, precision_recall_fscore_support, roc_auc_score

from ml_core.calibration import ECE_BINS, expected_calibration_error


def _per_class_auc(y_true: np.ndarray, probabilities: np.ndarray, class_index: int) -> float | None:
    positives = y_true == class_index
    if positives.all() or not positives.any():
        return None  # undefined without both positives and negatives
    return float(roc_auc_score(positives, probabilities[:, class_index]))


def evaluate(
    y_true: Sequence[int] | np.ndarray, probabilities: np.ndarray, class_names: Sequence[str]
) -> dict[str, Any]:
    """Accuracy, macro precision/recall/F1, one-vs-rest macro ROC-AUC, expected
    calibration error (15 bins) of these probabilities, confusion matrix.

    ROC-AUC is averaged over the classes that have both positive and negative
    examples (with every class present this equals scikit-learn's
    `roc_auc_score(..., multi_class="ovr", average="macro")`); it is None when no
    class qualifies.
    """
    y_true = np.asarray(y_true, dtype=np.int64)
    probabilities = np.asarray(probabilities, dtype=np.float64)
    if probabilities.shape != (len(y_true), len(class_names)):
        raise ValueError(
            f"probabilities have shape {probabilities.shape}, expected "
            f"({len(y_true)}, {len(class_names)})"
        )
    if len(y_true) == 0:
        raise ValueError("cannot evaluate on zero examples")
    y_pred = probabilities.argmax(axis=1)
    labels = list(range(len(class_names)))
    precision, recall, f1, support = precision_recall_fscore_support(
        y_true, y_pred, labels=labels, zero_division=0
    )
    aucs = [_per_class_auc(y_true, probabilities, index) for index in labels]
    defined_aucs = [auc for auc in aucs if auc is not None]
    per_class = {
        name: {
            "precision": float(precision[index]),
            "recall": float(recall[index]),
            "f1": float(f1[index]),
            "roc_auc": aucs[index],
            "support": int(support[index]),
        }
        for index, name in enumerate(class_names)
    }
    return {
        "count": len(y_true),
        "accuracy": float((y_pred == y_true).mean()),
        "precision_macro": float(precision.mean()),
        "recall_macro": float(recall.mean()),
        "f1_macro": float(f1.mean()),
        "roc_auc_ovr_macro": float(np.mean(defined_aucs)) if defined_aucs else None,
        "ece": expected_calibration_error(probabilities, y_true, ECE_BINS),
        "class_names": list(class_names),
        "confusion_matrix": confusion_matrix(y_true, y_pred, labels=labels).tolist(),
        "per_class": per_class,
    }


def _number(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.4f}"


def _calibration_lines(metrics: dict[str, Any]) -> list[str]:
    """ECE as served, and before calibration when known (older metrics have neither)."""
    if "ece" not in metrics:
        return []
    line = f"ECE ({ECE_BINS} bins)        {_number(metrics['ece'])}"
    if metrics.get("ece_uncalibrated") is not None:
        line += (
            f" (calibrated with temperature {metrics.get('temperature', 1.0):.3f}; "
            f"{_number(metrics['ece_uncalibrated'])} before)"
        )
    return [line]


def format_metrics(metrics: dict[str, Any]) -> str:
    """A plain-text report: summary, per-class table and confusion matrix."""
    names = metrics["class_names"]
    width = max(len(name) for name in names) + 2
    lines = [
        f"examples            {metrics['count']}",
        f"accuracy            {_number(metrics['accuracy'])}",
        f"precision (macro)   {_number(metrics['precision_macro'])}",
        f"recall (macro)      {_number(metrics['recall_macro'])}",
        f"F1 (macro)          {_number(metrics['f1_macro'])}",
        f"ROC-AUC (OvR macro) {_number(metrics['roc_auc_ovr_macro'])}",
        *_calibration_lines(metrics),
        "",
        f"{'class':<{width}}precision  recall     f1         roc_auc    support",
    ]
    for name in names:
        row = metrics["per_class"][name]
        lines.append(
            f"{name:<{width}}{_number(row['precision']):<11}{_number(row['recall']):<11}"
            f"{_number(row['f1']):<11}{_number(row['roc_auc']):<11}{row['support']}"
        )
    lines += ["", "confusion matrix (rows: true class, columns: predicted class)"]
    cell = max(6, max(len(name[:8]) for name in names) + 1)
    lines.append(" " * width + "".join(f"{name[:8]:>{cell}}" for name in names))
    for name, row in zip(names, metrics["confusion_matrix"], strict=True):
        lines.append(f"{name:<{width}}" + "".join(f"{count:>{cell}}" for count in row))
    return "\n".join(lines)
