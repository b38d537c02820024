"""Training jobs run by a real training worker: progress, snapshot, cancel, redelivery."""

from pathlib import Path

import psutil
import pytest

from ml_core.config import TrainingConfig
from ml_core.preprocessing import encode_png
from predictions.single import predict_image
from tests.workers import JOB_TEST, clear_queues, let_workers_forget_deleted_versions, wait_for
from training import jobs
from training.models import Job, ModelVersion, TrainingImage, Visualization
from training.retraining import submit_training_job
from training.tasks import run_training_job

pytestmark = JOB_TEST


@pytest.fixture(scope="module")
def workers(start_worker):
    clear_queues("training")  # plot tasks that earlier modules' imports queued
    return {
        "training": start_worker("training", queues="training", prefetch=1),
        "inference": start_worker("inference"),
    }


def finished(job: Job, timeout: float = 180) -> Job:
    wait_for(lambda: Job.objects.get(pk=job.pk).is_finished, timeout=timeout, interval=0.1)
    job.refresh_from_db()
    return job


def test_one_epoch_job_creates_a_candidate_with_metrics_and_persisted_progress(
    workers, curated_small
):
    job = submit_training_job(TrainingConfig(epochs=1, batch_size=32))
    assert job.total == 200  # the snapshot: every included train-split image
    job = finished(job)
    assert job.status == "succeeded", job.error
    version = ModelVersion.objects.get()
    assert job.model_version == version and version.job == job
    assert version.status == "candidate"
    assert version.metrics["count"] == 80
    assert (job.epoch, job.total_epochs, job.progress) == (1, 1, 1.0)
    assert [entry["epoch"] for entry in job.history] == [1]
    assert {"loss", "val_accuracy"} <= set(job.metrics)
    assert job.started_at <= job.finished_at and job.attempts == 1


def test_the_training_worker_then_draws_the_versions_plots(workers, curated_small):
    version = finished(submit_training_job(TrainingConfig(epochs=1, batch_size=32))).model_version
    n = version.number
    expected = {f"training_curves_v{n}", f"confusion_matrix_v{n}", f"roc_curves_v{n}",
                f"per_class_metrics_v{n}"}  # fmt: skip
    wait_for(
        lambda: set(version.visualizations.values_list("name", flat=True)) == expected,
        timeout=120,
        interval=0.2,
        message="the training curves and evaluation plots",
    )
    matrix = Visualization.objects.get(name=f"confusion_matrix_v{n}")
    correct = round(version.metrics["accuracy"] * 80)
    assert matrix.interpretation.startswith(f"80 test images, {correct} of them")


def test_curation_after_submit_does_not_change_what_the_job_trains_on(workers, curated_small):
    job = submit_training_job(TrainingConfig(epochs=1, batch_size=32))
    TrainingImage.objects.filter(split="train", label="cat").update(status="excluded")
    job = finished(job)
    assert job.model_version.training_images.count() == 200
    assert job.model_version.training_images.filter(label="cat").count() == 20


def test_promoting_the_new_version_changes_what_predictions_report(
    workers, curated_small, mini_dataset
):
    let_workers_forget_deleted_versions()
    first = finished(submit_training_job(TrainingConfig(epochs=1, batch_size=32))).model_version
    first.promote()
    image = encode_png(mini_dataset.test.images[0])
    assert predict_image(image)["model_version"] == first.number
    second = finished(submit_training_job(TrainingConfig(epochs=1, batch_size=32, seed=2)))
    second.model_version.promote()
    wait_for(
        lambda: predict_image(image)["model_version"] == second.model_version.number,
        timeout=5,
        interval=0.2,
        message="workers to pick up the promotion",
    )


def test_auto_promote_promotes_only_a_version_that_beats_production(workers, curated_small):
    job = finished(submit_training_job(TrainingConfig(epochs=1, batch_size=32), auto_promote=True))
    assert "promoted: no production version yet" in job.message
    assert ModelVersion.production() == job.model_version
    production = job.model_version
    again = finished(
        submit_training_job(TrainingConfig(epochs=1, batch_size=32), auto_promote=True)
    )
    better = again.model_version.metrics["accuracy"] > production.metrics["accuracy"]
    assert ModelVersion.production() == (again.model_version if better else production)
    assert ("promoted" if better else "kept as candidate") in again.message


def test_cancel_ends_the_job_within_one_epoch_without_a_version(workers, curated_small, settings):
    models_dir = Path(settings.MODELS_DIR)
    directories_before = set(models_dir.iterdir()) if models_dir.exists() else set()
    job = submit_training_job(TrainingConfig(epochs=50, batch_size=8))
    wait_for(lambda: Job.objects.get(pk=job.pk).epoch >= 1, timeout=120, interval=0.1)
    cancelled_during = Job.objects.get(pk=job.pk).epoch + 1
    jobs.request_cancel(job)
    job = finished(job)
    assert job.status == "cancelled"
    assert job.epoch <= cancelled_during
    assert ModelVersion.objects.count() == 0
    assert set(models_dir.iterdir()) == directories_before, "no artefacts, not even staging"


def test_redelivered_training_job_creates_no_second_version(workers, curated_small):
    job = finished(submit_training_job(TrainingConfig(epochs=1, batch_size=32)))
    run_training_job.apply_async(args=[job.pk], ignore_result=False).get(timeout=60)
    job.refresh_from_db()
    assert job.status == "succeeded"
    assert ModelVersion.objects.count() == 1


def test_worker_parent_process_never_imports_tensorflow(workers, curated_small):
    finished(submit_training_job(TrainingConfig(epochs=1, batch_size=32)))
    for worker in workers.values():
        parent = psutil.Process(worker.process.pid)
        children = parent.children()
        assert children, "the prefork pool has a child process"
        assert "tensorflow" not in Path(f"/proc/{parent.pid}/maps").read_text()
    child_maps = Path(f"/proc/{workers['training'].process.pid}").exists() and [
        Path(f"/proc/{child.pid}/maps").read_text()
        for child in psutil.Process(workers["training"].process.pid).children()
    ]
    assert any("tensorflow" in maps for maps in child_maps), "the pool child loaded it"
