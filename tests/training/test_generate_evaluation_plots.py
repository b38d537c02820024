"""The evaluation plots task, called in this process: a real model over the real
test split (a worker runs the same function; see test_run_evaluation_job)."""

from pathlib import Path

import pytest

from tests.workers import register_version
from training.models import TrainingImage, Visualization
from training.pipeline import evaluate_version
from training.tasks import generate_evaluation_plots

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("worker_storage")]


def plots_of(version) -> dict[str, Visualization]:
    return {row.name: row for row in Visualization.objects.filter(model_version=version)}


def test_draws_the_three_plots_from_the_versions_predictions(curated_small, trained_artifacts):
    version = register_version(trained_artifacts, 3)
    assert generate_evaluation_plots(version.pk) == 3
    plots = plots_of(version)
    assert set(plots) == {"confusion_matrix_v3", "roc_curves_v3", "per_class_metrics_v3"}
    assert plots["confusion_matrix_v3"].title == "Confusion matrix of version 3"
    assert plots["roc_curves_v3"].title == "One-vs-rest ROC curves of version 3"
    assert all(Path(row.image.path).stat().st_size > 1000 for row in plots.values())

    metrics = evaluate_version(version)  # the figures the version reports
    correct = round(metrics["accuracy"] * metrics["count"])
    assert plots["confusion_matrix_v3"].interpretation.startswith(
        f"80 test images, {correct} of them ({metrics['accuracy']:.1%}) on the diagonal"
    )
    assert (
        f"over 80 test images; the mean area under the curve is {metrics['roc_auc_ovr_macro']:.3f}"
    ) in plots["roc_curves_v3"].interpretation
    assert f"F1 {metrics['f1_macro']:.3f}." in plots["per_class_metrics_v3"].interpretation


def test_redrawing_after_the_test_split_changed_replaces_the_plots(
    curated_small, trained_artifacts
):
    version = register_version(trained_artifacts, 1)
    generate_evaluation_plots(version.pk)
    old_files = [Path(row.image.path) for row in plots_of(version).values()]
    TrainingImage.objects.filter(split="test", label="cat").update(status="excluded")
    assert generate_evaluation_plots(version.pk) == 3
    plots = plots_of(version)
    assert len(plots) == 3
    assert "over 72 test images" in plots["roc_curves_v1"].interpretation
    assert "No curve for cat" in plots["roc_curves_v1"].interpretation
    assert plots["confusion_matrix_v1"].interpretation.startswith("72 test images")
    assert not any(path.exists() for path in old_files)


def test_nothing_to_plot_without_test_images_or_version(curated_small, trained_artifacts):
    version = register_version(trained_artifacts, 1)
    TrainingImage.objects.filter(split="test").update(status="excluded")
    assert generate_evaluation_plots(version.pk) == 0
    assert generate_evaluation_plots(version.pk + 1000) == 0
    assert not Visualization.objects.exists()
