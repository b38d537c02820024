"""Confidence calibration: temperature scaling and expected calibration error.

Temperature scaling (Guo et al., 2017, "On Calibration of Modern Neural Networks")
divides the logits by one scalar T > 1 (softer) or < 1 (sharper), fitted on held-out
data by minimising the negative log-likelihood; it never changes which class wins,
so accuracy is untouched. The model outputs softmax probabilities; their logarithms
differ from the logits by a per-image constant, which softmax ignores, so scaling
log-probabilities is exactly scaling logits.

numpy and scipy only: the web process may import this without TensorFlow.
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import minimize_scalar
from scipy.special import log_softmax, softmax

ECE_BINS = 15  # the conventional count since Guo et al.
# Temperatures outside this range mean something is broken, not miscalibrated.
MIN_TEMPERATURE = 0.05
MAX_TEMPERATURE = 20.0
# Probabilities are clipped here before the logarithm: float32 softmax underflows to 0.
_SMALLEST_PROBABILITY = 1e-30


def log_probabilities(probabilities: np.ndarray) -> np.ndarray:
    return np.log(np.clip(np.asarray(probabilities, dtype=np.float64), _SMALLEST_PROBABILITY, 1))


def apply_temperature(probabilities: np.ndarray, temperature: float) -> np.ndarray:
    """Probabilities (N, classes) rescaled as if the logits were divided by temperature."""
    probabilities = np.asarray(probabilities)
    if temperature == 1.0:
        return probabilities
    scaled = softmax(log_probabilities(probabilities) / temperature, axis=1)
    return scaled.astype(probabilities.dtype, copy=False)


def negative_log_likelihood(log_probs: np.ndarray, labels: np.ndarray) -> float:
    """Mean cross-entropy of (N, classes) log-probabilities against integer labels."""
    labels = np.asarray(labels, dtype=np.int64)
    normalised = log_softmax(np.asarray(log_probs, dtype=np.float64), axis=1)
    return float(-normalised[np.arange(len(labels)), labels].mean())


def fit_temperature(probabilities: np.ndarray, labels: np.ndarray) -> float:
    """The temperature minimising the NLL of `labels` (validation data, never test).

    The NLL is convex in 1/T, so a bounded scalar search over 1/T finds the optimum.
    """
    labels = np.asarray(labels, dtype=np.int64)
    if len(labels) == 0:
        raise ValueError("cannot fit a temperature on zero examples")
    log_probs = log_probabilities(probabilities)
    result = minimize_scalar(
        lambda inverse: negative_log_likelihood(log_probs * inverse, labels),
        bounds=(1 / MAX_TEMPERATURE, 1 / MIN_TEMPERATURE),
        method="bounded",
        options={"xatol": 1e-6},
    )
    return float(1 / result.x)


def expected_calibration_error(
    probabilities: np.ndarray, labels: np.ndarray, bins: int = ECE_BINS
) -> float:
    """ECE: the gap between confidence and accuracy, averaged over equal-width bins.

    Each prediction falls in the bin (lower, upper] of its top probability; a bin's
    gap |accuracy - mean confidence| is weighted by its share of the predictions.
    """
    probabilities = np.asarray(probabilities, dtype=np.float64)
    labels = np.asarray(labels, dtype=np.int64)
    if len(labels) == 0:
        raise ValueError("cannot compute a calibration error on zero examples")
    confidences = probabilities.max(axis=1)
    correct = probabilities.argmax(axis=1) == labels
    # Bin i holds confidences in (i / bins, (i + 1) / bins]; confidence 0 joins bin 0.
    bin_of = np.clip(np.ceil(confidences * bins).astype(np.int64) - 1, 0, bins - 1)
    confidence_sums = np.bincount(bin_of, weights=confidences, minlength=bins)
    correct_sums = np.bincount(bin_of, weights=correct.astype(np.float64), minlength=bins)
    return float(np.abs(correct_sums - confidence_sums).sum() / len(labels))
