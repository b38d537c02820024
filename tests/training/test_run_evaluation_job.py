"""Evaluation jobs run by a real training worker, which then draws the plots."""

import pytest

from harness.helpers import wait_until
from jobs.models import Job
from tests.workers import JOB_TEST, clear_queues, register_version
from training.models import Visualization
from training.submit import submit_evaluation_job
from training.tasks import run_evaluation_job

pytestmark = JOB_TEST


@pytest.fixture(scope="module")
def training_worker(start_worker):
    """Only the training queue is served: evaluation and plots must be routed there."""
    clear_queues("training")  # plot tasks that earlier modules' imports queued
    return start_worker("evaluation", queues="training", prefetch=1)


def test_evaluation_job_reports_metrics_then_the_plots_are_redrawn(
    training_worker, curated_small, trained_artifacts
):
    version = register_version(trained_artifacts, 4)
    job = submit_evaluation_job(version)
    wait_until(lambda: Job.objects.get(pk=job.pk).is_finished, timeout=120, interval=0.1)
    job.refresh_from_db()
    assert job.status == "succeeded", job.error
    assert job.result["count"] == 80
    names = {"confusion_matrix_v4", "roc_curves_v4", "per_class_metrics_v4"}
    wait_until(
        lambda: set(version.visualizations.values_list("name", flat=True)) == names,
        timeout=120,
        interval=0.2,
        message="the evaluation plots",
    )
    roc = Visualization.objects.get(name="roc_curves_v4")
    assert f"area under the curve is {job.result['roc_auc_ovr_macro']:.3f}" in roc.interpretation
    per_class = Visualization.objects.get(name="per_class_metrics_v4")
    assert f"F1 {job.result['f1_macro']:.3f}." in per_class.interpretation


def test_an_evaluation_job_without_a_version_fails_saying_so():
    """Run in this process: there is no model to load, only the job to fail."""
    job = Job.objects.create(kind=Job.Kind.EVALUATION, celery_task_id="no-version")
    with pytest.raises(ValueError, match="needs the version it evaluates"):
        run_evaluation_job(job.pk)
    job.refresh_from_db()
    assert job.status == "failed"
    assert "needs the version it evaluates" in job.error
