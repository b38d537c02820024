"""Training jobs run by a real training worker: progress, snapshot, cancel, redelivery."""

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psutil
import pytest
from django.db import connection, transaction

from harness.helpers import wait_until
from jobs import lifecycle
from jobs.models import Job
from ml_core.config import TrainingConfig
from ml_core.preprocessing import encode_png
from predictions.single import predict_image
from tests.workers import (
    JOB_TEST,
    clear_queues,
    let_workers_forget_deleted_versions,
    register_version,
)
from training.models import (
    ModelVersion,
    ModelVersionTrainingImage,
    Promotion,
    TrainingImage,
    Visualization,
)
from training.pipeline import evaluate_version, frozen_test_set
from training.submit import submit_training_job
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
    wait_until(lambda: Job.objects.get(pk=job.pk).is_finished, timeout=timeout, interval=0.1)
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
    wait_until(
        lambda: set(version.visualizations.values_list("name", flat=True)) == expected,
        timeout=120,
        interval=0.2,
        message="the training curves and evaluation plots",
    )
    matrix = Visualization.objects.get(name=f"confusion_matrix_v{n}")
    correct = round(version.metrics["accuracy"] * 80)
    assert matrix.interpretation.startswith(f"80 test images, {correct} of them")


def recorded(version: ModelVersion, split: str):
    """The version's own record of the images it was trained or tested on."""
    return ModelVersionTrainingImage.objects.filter(model_version=version, split=split)


def image_ids(rows) -> set[int]:
    return set(rows.values_list("training_image_id", flat=True))


def test_curation_after_submit_does_not_change_what_the_job_trains_on(workers, curated_small):
    job = submit_training_job(TrainingConfig(epochs=1, batch_size=32))
    TrainingImage.objects.filter(split="train", label="cat").update(status="excluded")
    job = finished(job)
    assert recorded(job.model_version, "train").count() == 200
    assert recorded(job.model_version, "train").filter(label="cat").count() == 20


def test_an_image_moved_to_the_test_split_after_submit_is_neither_trained_nor_tested_on(
    workers, curated_small, trained_artifacts
):
    production = register_version(trained_artifacts, 1)
    with transaction.atomic():  # the job is queued when this commits: after the move
        job = submit_training_job(TrainingConfig(epochs=1, batch_size=32), auto_promote=True)
        moved = list(
            TrainingImage.objects.filter(split="train", label="cat").values_list("id", flat=True)
        )[:5]
        TrainingImage.objects.filter(id__in=moved).update(split="test")
    job = finished(job)
    assert job.status == "succeeded", job.error
    version = job.model_version
    assert version.metrics["count"] == 80  # the test split at submit, not 85
    assert set(moved) <= image_ids(recorded(version, "train"))  # trained on, as at submit
    assert not set(moved) & image_ids(recorded(version, "test"))
    assert not image_ids(recorded(version, "train")) & image_ids(recorded(version, "test"))
    # Auto-promote measured production on that same frozen test set.
    theirs = evaluate_version(production, frozen_test_set(version))
    assert (
        theirs["count"] == 80 and theirs["test_fingerprint"] == version.metrics["test_fingerprint"]
    )
    assert f"v1's {theirs['accuracy']:.4f}" in job.message


def test_a_relabel_after_submit_changes_nothing_for_the_job(workers, curated_small):
    with transaction.atomic():  # the job is queued when this commits: after the relabel
        job = submit_training_job(TrainingConfig(epochs=1, batch_size=32))
        TrainingImage.objects.filter(label="cat").update(label="dog")
    job = finished(job)
    assert job.status == "succeeded", job.error
    version = job.model_version
    assert len(version.class_names) == 10 and "cat" in version.class_names
    assert version.metrics["per_class"]["cat"]["support"] == 8
    assert recorded(version, "train").filter(label="cat").count() == 20
    assert recorded(version, "test").filter(label="cat").count() == 8


def waiting_for_a_lock() -> bool:
    """Another session of this database waits for a lock (PostgreSQL)."""
    with connection.cursor() as cursor:
        # Inside a transaction PostgreSQL shows the activity as first read, unless told.
        cursor.execute("SELECT pg_stat_clear_snapshot()")
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
            "AND pid <> pg_backend_pid() AND wait_event_type = 'Lock'"
        )
        return cursor.fetchone()[0] > 0


def test_an_auto_promote_racing_a_manual_promote_still_succeeds(
    workers, curated_small, trained_artifacts
):
    if connection.vendor != "postgresql":
        pytest.skip("SQLite runs one write transaction at a time: two promotes cannot overlap")
    manual = register_version(trained_artifacts, 1, status="candidate")

    def promote_and_hold() -> None:
        """A manual promote whose transaction stays open until the worker's auto-promote
        waits for it, then commits."""
        try:
            with transaction.atomic():
                manual.promote()
                wait_until(waiting_for_a_lock, timeout=300, interval=0.1, message="a lock wait")
        finally:
            connection.close()

    with ThreadPoolExecutor(1) as pool:
        holding = pool.submit(promote_and_hold)
        job = submit_training_job(TrainingConfig(epochs=1, batch_size=32), auto_promote=True)
        holding.result(timeout=360)
    job = finished(job)
    assert job.status == "succeeded", job.error
    assert job.model_version.status == "candidate"
    assert "kept as candidate: production changed to v1" in job.message
    assert ModelVersion.production() == manual
    assert list(Promotion.objects.values_list("version", "previous_version")) == [(manual.pk, None)]


def test_promoting_the_new_version_changes_what_predictions_report(
    workers, curated_small, mini_dataset
):
    let_workers_forget_deleted_versions()
    first = finished(submit_training_job(TrainingConfig(epochs=1, batch_size=32))).model_version
    first.promote()
    image = encode_png(mini_dataset.test.images[0])
    assert predict_image(image).model_version == first.number
    second = finished(submit_training_job(TrainingConfig(epochs=1, batch_size=32, seed=2)))
    second.model_version.promote()
    wait_until(
        lambda: predict_image(image).model_version == second.model_version.number,
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
    wait_until(lambda: Job.objects.get(pk=job.pk).epoch >= 1, timeout=120, interval=0.1)
    cancelled_during = Job.objects.get(pk=job.pk).epoch + 1
    lifecycle.request_cancel(job)
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
