"""Submit and run training and evaluation jobs.

Submitting happens in the web process and never imports TensorFlow; running
happens in a training worker's pool process, which imports it lazily.
"""

from __future__ import annotations

import uuid
from typing import Any

from django.db import IntegrityError, transaction

from ml_core.config import TrainingConfig
from training import jobs
from training.models import Job, JobTrainingImage, ModelVersion, TrainingImage
from training.tasks import queue_evaluation_plots, queue_version_plots


def submit_training_job(
    config: TrainingConfig,
    auto_promote: bool = False,
    max_train_images: int | None = None,
    user=None,
) -> Job:
    """Snapshot the included train-split images and queue a training job.

    Curation after this moment does not change what the job trains on.
    """
    from training.tasks import run_training_job

    with transaction.atomic():
        job = Job.objects.create(
            kind=Job.Kind.TRAINING,
            total_epochs=config.epochs,
            parameters={
                **config.to_dict(),
                "auto_promote": auto_promote,
                "max_train_images": max_train_images,
            },
            submitted_by=user,
            celery_task_id=uuid.uuid4().hex,
            message="queued",
        )
        snapshot = TrainingImage.objects.filter(
            split=TrainingImage.Split.TRAIN, status=TrainingImage.Status.INCLUDED
        ).values_list("id", flat=True)
        JobTrainingImage.objects.bulk_create(
            JobTrainingImage(job=job, training_image_id=image_id)
            for image_id in snapshot.iterator()
        )
        job.total = len(snapshot)
        job.save(update_fields=["total"])
        transaction.on_commit(
            lambda: run_training_job.apply_async(args=[job.pk], task_id=job.celery_task_id)
        )
    return job


def submit_evaluation_job(version: ModelVersion, user=None) -> Job:
    from training.tasks import run_evaluation_job

    with transaction.atomic():
        job = Job.objects.create(
            kind=Job.Kind.EVALUATION,
            model_version=version,
            submitted_by=user,
            celery_task_id=uuid.uuid4().hex,
            message="queued",
        )
        transaction.on_commit(
            lambda: run_evaluation_job.apply_async(args=[job.pk], task_id=job.celery_task_id)
        )
    return job


class JobListener:
    """Persists training progress at a bounded rate and reads the cancel flag."""

    def __init__(self, job: Job) -> None:
        self.job_id = job.pk
        self.total_epochs = max(job.total_epochs, 1)
        self.history: list[dict[str, float]] = []
        self.progress_writes = jobs.ThrottledWriter()
        self.cancel_checks = jobs.ThrottledWriter()
        self.stop = False

    def on_load_progress(self, done: int, total: int) -> None:
        if self.progress_writes.due(force=done >= total):
            jobs.record_progress(self.job_id, 0.0, message=f"loading images {done}/{total}")

    def on_batch_end(self, epoch: int, batch: int, batches_per_epoch: int, metrics: dict) -> None:
        if self.progress_writes.due():
            progress = ((epoch - 1) + batch / batches_per_epoch) / self.total_epochs
            jobs.record_progress(
                self.job_id,
                min(progress, 0.99),
                epoch=epoch,
                message=f"epoch {epoch}/{self.total_epochs}, batch {batch}/{batches_per_epoch}",
            )

    def on_epoch_end(self, epoch: int, epochs: int, metrics: dict) -> None:
        self.history.append({"epoch": epoch, **metrics})
        self.progress_writes.due(force=True)
        jobs.record_progress(
            self.job_id,
            min(epoch / self.total_epochs, 0.99),
            epoch=epoch,
            metrics=metrics,
            history=self.history,
            message=f"epoch {epoch}/{epochs}: val_accuracy {metrics.get('val_accuracy', 0):.3f}",
        )

    def should_stop(self) -> bool:
        if not self.stop and self.cancel_checks.due():
            self.stop = jobs.is_cancel_requested(self.job_id)
        return self.stop


def _beats_production(candidate: ModelVersion) -> tuple[bool, str]:
    """Compare with production on the same test split (re-evaluating if it changed)."""
    from training.pipeline import evaluate_version

    production = ModelVersion.production()
    if production is None:
        return True, "no production version yet"
    production_metrics = production.metrics
    if production_metrics.get("test_fingerprint") != candidate.metrics.get("test_fingerprint"):
        production_metrics = evaluate_version(production)
    if production_metrics.get("test_fingerprint") != candidate.metrics.get("test_fingerprint"):
        return False, "test splits differ; not promoted"
    ours, theirs = candidate.metrics["accuracy"], production_metrics["accuracy"]
    if ours > theirs:
        return True, f"accuracy {ours:.4f} beats v{production.number}'s {theirs:.4f}"
    return False, f"accuracy {ours:.4f} does not beat v{production.number}'s {theirs:.4f}"


def run_training(job: Job) -> None:
    """Train, register the version and finish the job (in a training worker)."""
    from training.pipeline import train_new_version

    existing = ModelVersion.objects.filter(job=job).first()
    if existing is not None:  # a redelivery after the version was saved
        jobs.succeed(job, f"created v{existing.number}", model_version=existing)
        queue_version_plots(existing.pk)  # redrawing is idempotent; they may be missing
        return
    parameters: dict[str, Any] = dict(job.parameters)
    auto_promote = parameters.pop("auto_promote", False)
    max_train_images = parameters.pop("max_train_images", None)
    listener = JobListener(job)
    try:
        version = train_new_version(
            TrainingConfig.from_dict(parameters),
            listener=listener,
            max_train_images=max_train_images,
            training_image_ids=list(job.training_images.values_list("id", flat=True)),
            on_load_progress=listener.on_load_progress,
            job=job,
        )
    except IntegrityError:
        # A concurrent delivery of the same job registered its version first.
        version = ModelVersion.objects.get(job=job)
    if version is None:
        jobs.cancel_finished(job, f"cancelled during epoch {max(len(listener.history), 1)}")
        return
    message = f"created v{version.number} (test accuracy {version.metrics['accuracy']:.4f})"
    if auto_promote:
        better, reason = _beats_production(version)
        if better:
            version.promote(user=job.submitted_by)
            message += f"; promoted: {reason}"
        else:
            message += f"; kept as candidate: {reason}"
    jobs.succeed(job, message, model_version=version)
    queue_version_plots(version.pk)


def run_evaluation(job: Job) -> None:
    from training.pipeline import evaluate_version

    metrics = evaluate_version(job.model_version)
    jobs.succeed(
        job,
        f"v{job.model_version.number}: accuracy {metrics['accuracy']:.4f}",
        result=metrics,
    )
    queue_evaluation_plots(job.model_version.pk)
