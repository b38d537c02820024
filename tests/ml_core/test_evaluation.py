import json

import numpy as np
import pytest

from ml_core.calibration import expected_calibration_error
from ml_core.evaluation import evaluate, format_metrics

CLASS_NAMES = ["cat", "dog", "frog"]
Y_TRUE = [0, 0, 1, 1, 2, 2]
# Predicted (argmax): 0, 1, 1, 1, 2, 0
PROBABILITIES = np.array(
    [
        [0.7, 0.2, 0.1],
        [0.3, 0.6, 0.1],
        [0.2, 0.7, 0.1],
        [0.1, 0.8, 0.1],
        [0.1, 0.1, 0.8],
        [0.5, 0.2, 0.3],
    ]
)


@pytest.fixture
def metrics():
    return evaluate(Y_TRUE, PROBABILITIES, CLASS_NAMES)


def test_accuracy_and_macro_averages_match_hand_computed_values(metrics):
    # cat: TP 1, FP 1, FN 1 → P 1/2, R 1/2, F1 1/2
    # dog: TP 2, FP 1, FN 0 → P 2/3, R 1,   F1 4/5
    # frog: TP 1, FP 0, FN 1 → P 1,  R 1/2, F1 2/3
    assert metrics["accuracy"] == pytest.approx(4 / 6)
    assert metrics["precision_macro"] == pytest.approx((1 / 2 + 2 / 3 + 1) / 3)
    assert metrics["recall_macro"] == pytest.approx((1 / 2 + 1 + 1 / 2) / 3)
    assert metrics["f1_macro"] == pytest.approx((1 / 2 + 4 / 5 + 2 / 3) / 3)
    assert metrics["per_class"]["dog"] == {
        "precision": pytest.approx(2 / 3),
        "recall": 1.0,
        "f1": pytest.approx(0.8),
        "roc_auc": 1.0,
        "support": 2,
    }


def test_one_vs_rest_roc_auc_matches_hand_computed_pair_counts(metrics):
    # cat scores: positives 0.7, 0.3; negatives 0.2, 0.1, 0.1, 0.5 → 7 of 8 pairs ranked right.
    assert metrics["per_class"]["cat"]["roc_auc"] == pytest.approx(7 / 8)
    assert metrics["per_class"]["frog"]["roc_auc"] == 1.0
    assert metrics["roc_auc_ovr_macro"] == pytest.approx((7 / 8 + 1 + 1) / 3)


def test_confusion_matrix_rows_are_true_classes(metrics):
    assert metrics["confusion_matrix"] == [[1, 1, 0], [0, 2, 0], [1, 0, 1]]


def test_calibration_error_of_the_given_probabilities_is_included(metrics):
    assert metrics["ece"] == expected_calibration_error(PROBABILITIES, Y_TRUE)
    assert metrics["ece"] > 0


def test_metrics_survive_a_json_round_trip(metrics):
    assert json.loads(json.dumps(metrics)) == metrics


def test_class_absent_from_the_labels_has_no_auc_and_is_left_out_of_the_mean():
    metrics = evaluate([0, 1, 0, 1], PROBABILITIES[:4], CLASS_NAMES)
    assert metrics["per_class"]["frog"]["roc_auc"] is None
    assert metrics["per_class"]["frog"]["support"] == 0
    assert metrics["roc_auc_ovr_macro"] == pytest.approx(
        np.mean([metrics["per_class"]["cat"]["roc_auc"], metrics["per_class"]["dog"]["roc_auc"]])
    )


def test_mismatched_shapes_are_refused():
    with pytest.raises(ValueError, match="expected \\(6, 2\\)"):
        evaluate(Y_TRUE, PROBABILITIES, ["a", "b"])


def test_report_shows_summary_per_class_rows_and_confusion_matrix(metrics):
    report = format_metrics(metrics)
    assert "accuracy            0.6667" in report
    assert "ROC-AUC (OvR macro) 0.9583" in report
    assert f"ECE (15 bins)        {metrics['ece']:.4f}" in report
    assert "dog   0.6667     1.0000     0.8000" in report
    assert "confusion matrix" in report
    assert report.splitlines()[-1].split() == ["frog", "1", "0", "1"]
