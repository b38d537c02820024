import numpy as np
import pytest
from scipy.special import softmax

from ml_core.calibration import (
    apply_temperature,
    expected_calibration_error,
    fit_temperature,
    log_probabilities,
    negative_log_likelihood,
)

CLASSES = 10


def sample_labels(probabilities: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One label per row, drawn from that row's distribution."""
    cumulative = probabilities.cumsum(axis=1)
    draws = rng.random((len(probabilities), 1))
    return np.minimum((draws > cumulative).sum(axis=1), probabilities.shape[1] - 1)


def overconfident_case(true_temperature: float, count: int, seed: int = 0):
    """Labels drawn from softmax(logits / T): the model's softmax(logits) is miscalibrated
    exactly by T, so fitting must recover T."""
    rng = np.random.default_rng(seed)
    logits = rng.normal(0, 4, (count, CLASSES))
    labels = sample_labels(softmax(logits / true_temperature, axis=1), rng)
    return softmax(logits, axis=1), labels


@pytest.mark.parametrize("true_temperature", [0.5, 1.0, 2.5])
def test_fitting_recovers_the_temperature_that_generated_the_labels(true_temperature):
    probabilities, labels = overconfident_case(true_temperature, count=20_000)
    assert fit_temperature(probabilities, labels) == pytest.approx(true_temperature, rel=0.05)


def test_fitted_temperature_lowers_the_likelihood_loss_and_the_calibration_error():
    probabilities, labels = overconfident_case(2.5, count=20_000)
    temperature = fit_temperature(probabilities, labels)
    calibrated = apply_temperature(probabilities, temperature)
    before = negative_log_likelihood(log_probabilities(probabilities), labels)
    after = negative_log_likelihood(log_probabilities(calibrated), labels)
    assert after < before - 0.1
    assert expected_calibration_error(probabilities, labels) > 0.1
    assert expected_calibration_error(calibrated, labels) < 0.02


def test_temperature_keeps_the_ranking_and_sums_to_one():
    probabilities, _ = overconfident_case(2.0, count=500)
    calibrated = apply_temperature(probabilities.astype(np.float32), 2.0)
    assert calibrated.dtype == np.float32
    assert np.array_equal(calibrated.argmax(axis=1), probabilities.argmax(axis=1))
    assert np.allclose(calibrated.sum(axis=1), 1.0, atol=1e-5)
    # A higher temperature softens: the top probability never grows.
    assert (calibrated.max(axis=1) <= probabilities.max(axis=1) + 1e-6).all()


def test_scaling_log_probabilities_equals_scaling_logits():
    rng = np.random.default_rng(1)
    logits = rng.normal(0, 3, (100, CLASSES))
    expected = softmax(logits / 1.7, axis=1)
    assert np.allclose(apply_temperature(softmax(logits, axis=1), 1.7), expected, atol=1e-9)


def test_saturated_probabilities_stay_finite():
    probabilities = np.eye(CLASSES, dtype=np.float32)[[0, 3, 7]]  # exact zeros elsewhere
    calibrated = apply_temperature(probabilities, 3.0)
    assert np.isfinite(calibrated).all()
    assert np.array_equal(calibrated.argmax(axis=1), [0, 3, 7])


def test_calibration_error_of_a_perfectly_calibrated_model_is_near_zero():
    rng = np.random.default_rng(2)
    count = 200_000
    confidence = rng.uniform(1 / CLASSES, 1, count)
    # The top class is right with exactly the stated confidence.
    correct = rng.random(count) < confidence
    probabilities = np.full((count, CLASSES), 0.0)
    probabilities[:, 0] = confidence
    probabilities[:, 1:] = ((1 - confidence) / (CLASSES - 1))[:, None]
    labels = np.where(correct, 0, 1 + rng.integers(0, CLASSES - 1, count))
    assert expected_calibration_error(probabilities, labels) < 0.005


def test_calibration_error_matches_a_hand_computed_case():
    # Two predictions in the (0.8, 0.867] bin (one right): |0.5 - 0.85| * 2/4;
    # two in the (0.933, 1] bin (both right): |1 - 0.95| * 2/4.
    probabilities = np.array([[0.85, 0.15], [0.85, 0.15], [0.95, 0.05], [0.05, 0.95]])
    labels = np.array([0, 1, 0, 1])
    expected = (abs(0.5 - 0.85) * 2 + abs(1.0 - 0.95) * 2) / 4
    assert expected_calibration_error(probabilities, labels) == pytest.approx(expected)


def test_empty_inputs_are_refused():
    with pytest.raises(ValueError, match="zero examples"):
        fit_temperature(np.zeros((0, CLASSES)), np.zeros(0))
    with pytest.raises(ValueError, match="zero examples"):
        expected_calibration_error(np.zeros((0, CLASSES)), np.zeros(0))
