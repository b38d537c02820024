"""Submit and run training and evaluation jobs.

Submitting happens in the web process and never imports TensorFlow; running
happens in a training worker's pool process, which imports it lazily.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

from django.db import IntegrityError, transaction

from ml_core.config import TrainingConfig
from training import jobs
from training.models import Job, JobTrainingImage, ModelVersion, TrainingImage
from training.tasks import queue_evaluation_plots, queue_version_plots

logger = logging.getLogger(__name__)

SNAPSHOT_BATCH_SIZE = 1000


def submit_training_job(
    config: TrainingConfig,
    auto_promote: bool = False,
    max_train_images: int | None = None,
    user=None,
) -> Job:
    """Snapshot the included images, with their label and split, and queue a job.

    Curation after this moment (relabelling, excluding, moving an image to the
    other split) changes neither what the job trains on nor what it is tested on.
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
        snapshot = TrainingImage.objects.filter(status=TrainingImage.Status.INCLUDED).values_list(
            "id", "label", "split"
        )
        JobTrainingImage.objects.bulk_create(
            (
                JobTrainingImage(job=job, training_image_id=image_id, label=label, split=split)
                for image_id, label, split in snapshot.iterator()
            ),
            batch_size=SNAPSHOT_BATCH_SIZE,
        )
        job.total = JobTrainingImage.objects.filter(
            job=job, split=TrainingImage.Split.TRAIN
        ).count()
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


def _beats_production(candidate: ModelVersion, production: ModelVersion) -> tuple[bool, str]:
    """Compare with production on the candidate's own (frozen) test set."""
    from training.pipeline import evaluate_version, frozen_test_set

    if production.class_names != candidate.class_names:
        return False, f"its classes differ from v{production.number}'s"
    theirs = production.metrics.get("accuracy")
    if production.metrics.get("test_fingerprint") != candidate.metrics["test_fingerprint"]:
        theirs = evaluate_version(production, frozen_test_set(candidate))["accuracy"]
    ours = candidate.metrics["accuracy"]
    if ours > theirs:
        return True, f"accuracy {ours:.4f} beats v{production.number}'s {theirs:.4f}"
    return False, f"accuracy {ours:.4f} does not beat v{production.number}'s {theirs:.4f}"


def auto_promote(candidate: ModelVersion, user=None) -> str:
    """Promote `candidate` if it beats production on the same test set; says what
    happened. Never raises for a comparison that cannot be made: the candidate
    exists either way, and the job that made it has succeeded."""
    from training.pipeline import TrainingDataError

    production = ModelVersion.production()
    if production is None:
        better, reason = True, "no production version yet"
    else:
        try:
            better, reason = _beats_production(candidate, production)
        except (TrainingDataError, OSError) as exc:
            logger.warning("v%s not compared with production: %s", candidate.number, exc)
            better, reason = False, f"cannot compare with v{production.number} ({exc})"
    if not better:
        return f"kept as candidate: {reason}"
    if candidate.promote_replacing(production, user=user):
        return f"promoted: {reason}"
    now = ModelVersion.production()
    return (
        f"kept as candidate: production changed to "
        f"{f'v{now.number}' if now else 'none'} while it was compared"
    )


def run_training(job: Job) -> None:
    """Train, register the version and finish the job (in a training worker)."""
    from training.pipeline import Snapshot, train_new_version

    existing = ModelVersion.objects.filter(job=job).first()
    if existing is not None:  # a redelivery after the version was saved
        jobs.succeed(job, f"created v{existing.number}", model_version=existing)
        queue_version_plots(existing.pk)  # redrawing is idempotent; they may be missing
        return
    parameters: dict[str, Any] = dict(job.parameters)
    promote = parameters.pop("auto_promote", False)
    max_train_images = parameters.pop("max_train_images", None)
    listener = JobListener(job)
    try:
        version = train_new_version(
            TrainingConfig.from_dict(parameters),
            listener=listener,
            max_train_images=max_train_images,
            snapshot=Snapshot.of_job(job),
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
    if promote:
        message += "; " + auto_promote(version, user=job.submitted_by)
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
