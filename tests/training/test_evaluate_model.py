import json
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from training.models import ModelVersion, TrainingImage


@pytest.fixture
def trained(curated_small):
    call_command("train_model", "--epochs", "1", stdout=StringIO(), stderr=StringIO())
    return ModelVersion.objects.get()


def evaluate(*args) -> str:
    output = StringIO()
    call_command("evaluate_model", *args, stdout=output, stderr=StringIO())
    return output.getvalue()


@pytest.mark.django_db
def test_prints_accuracy_macro_scores_auc_and_confusion_matrix(trained):
    output = evaluate()
    assert "Model version 1 (candidate)" in output
    for heading in ("accuracy", "precision (macro)", "recall (macro)", "F1 (macro)",
                    "ROC-AUC (OvR macro)", "ECE (15 bins)", "confusion matrix"):  # fmt: skip
        assert heading in output
    assert f"accuracy            {trained.metrics['accuracy']:.4f}" in output


@pytest.mark.django_db
def test_json_output_reproduces_the_metrics_stored_at_training(trained):
    metrics = json.loads(evaluate("1", "--json"))
    assert metrics["accuracy"] == pytest.approx(trained.metrics["accuracy"])
    assert metrics["confusion_matrix"] == trained.metrics["confusion_matrix"]
    assert metrics["test_fingerprint"] == trained.metrics["test_fingerprint"]
    # Evaluation goes through Predictor, which applies the stored temperature.
    assert metrics["temperature"] == trained.metrics["temperature"]
    assert metrics["ece"] == pytest.approx(trained.metrics["ece"], abs=1e-6)
    assert metrics["ece_uncalibrated"] == pytest.approx(
        trained.metrics["ece_uncalibrated"], abs=1e-6
    )


@pytest.mark.django_db
def test_a_changed_test_split_is_pointed_out(trained):
    TrainingImage.objects.filter(split="test", label="cat").update(status="excluded")
    output = evaluate()
    assert "the test split changed since this version was trained" in output
    assert "examples            72" in output


@pytest.mark.django_db
def test_production_version_is_the_default(trained, curated_small):
    call_command("train_model", "--epochs", "1", "--promote", stdout=StringIO(), stderr=StringIO())
    assert "Model version 2 (production)" in evaluate()


@pytest.mark.django_db
def test_unknown_version_and_no_versions_are_command_errors(curated_small):
    with pytest.raises(CommandError, match="no model is trained yet"):
        evaluate()
    with pytest.raises(CommandError, match="there is no model version 7"):
        evaluate("7")
