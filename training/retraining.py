"""Run training and evaluation jobs, in a training worker's pool process: the one
service call of training.tasks.run_training_job and run_evaluation_job.

This module imports TensorFlow (through training.pipeline): only the tasks import
it, inside the task function, so that a Celery parent process never loads it.
Submitting is training.submit's, in the web process.
"""

from __future__ import annotations

import logging

from django.db import IntegrityError

from jobs import lifecycle
from jobs.models import Job
from training.enqueue import queue_evaluation_plots, queue_version_plots
from training.models import ModelVersion
from training.pipeline import (
    Snapshot,
    TrainingDataError,
    evaluate_version,
    frozen_test_set,
    train_new_version,
)
from training.submit import TrainingRequest

logger = logging.getLogger(__name__)


class JobListener:
    """Persists training progress at a bounded rate and reads the cancel flag."""

    def __init__(self, job: Job) -> None:
        self.job_id = job.pk
        self.total_epochs = max(job.total_epochs, 1)
        self.history: list[dict[str, float]] = []
        self.progress_writes = lifecycle.ThrottledWriter()
        self.cancel_checks = lifecycle.ThrottledWriter()
        self.stop = False

    def on_load_progress(self, done: int, total: int) -> None:
        if self.progress_writes.due(force=done >= total):
            lifecycle.record_progress(self.job_id, 0.0, message=f"loading images {done}/{total}")

    def on_batch_end(self, epoch: int, batch: int, batches_per_epoch: int, metrics: dict) -> None:
        if self.progress_writes.due():
            progress = ((epoch - 1) + batch / batches_per_epoch) / self.total_epochs
            lifecycle.record_progress(
                self.job_id,
                min(progress, 0.99),
                epoch=epoch,
                message=f"epoch {epoch}/{self.total_epochs}, batch {batch}/{batches_per_epoch}",
            )

    def on_epoch_end(self, epoch: int, epochs: int, metrics: dict) -> None:
        self.history.append({"epoch": epoch, **metrics})
        self.progress_writes.due(force=True)
        lifecycle.record_progress(
            self.job_id,
            min(epoch / self.total_epochs, 0.99),
            epoch=epoch,
            metrics=metrics,
            history=self.history,
            message=f"epoch {epoch}/{epochs}: val_accuracy {metrics.get('val_accuracy', 0):.3f}",
        )

    def should_stop(self) -> bool:
        if not self.stop and self.cancel_checks.due():
            self.stop = lifecycle.is_cancel_requested(self.job_id)
        return self.stop


def _beats_production(candidate: ModelVersion, production: ModelVersion) -> tuple[bool, str]:
    """Compare with production on the candidate's own (frozen) test set."""
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
    """Train, register the version and finish the job."""
    existing = ModelVersion.objects.filter(job=job).first()
    if existing is not None:  # a redelivery after the version was saved
        lifecycle.succeed(job, f"created v{existing.number}", model_version=existing)
        queue_version_plots(existing.pk)  # redrawing is idempotent; they may be missing
        return
    request = TrainingRequest.of_job(job)
    listener = JobListener(job)
    try:
        version = train_new_version(
            request.config,
            listener=listener,
            max_train_images=request.max_train_images,
            snapshot=Snapshot.of_job(job),
            on_load_progress=listener.on_load_progress,
            job=job,
        )
    except IntegrityError:
        # A concurrent delivery of the same job registered its version first.
        version = ModelVersion.objects.get(job=job)
    if version is None:
        lifecycle.cancel_finished(job, f"cancelled during epoch {max(len(listener.history), 1)}")
        return
    message = f"created v{version.number} (test accuracy {version.metrics['accuracy']:.4f})"
    if request.auto_promote:
        message += "; " + auto_promote(version, user=job.submitted_by)
    lifecycle.succeed(job, message, model_version=version)
    queue_version_plots(version.pk)


def run_evaluation(job: Job) -> None:
    """Evaluate the job's version on the test split of now and finish the job."""
    version = job.model_version
    if version is None:  # fails the job (tasks.run_evaluation_job), saying why
        raise ValueError("an evaluation job needs the version it evaluates")
    metrics = evaluate_version(version)
    lifecycle.succeed(job, f"v{version.number}: accuracy {metrics['accuracy']:.4f}", result=metrics)
    queue_evaluation_plots(version.pk)
