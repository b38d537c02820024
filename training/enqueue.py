"""Queue training's tasks, by name (classifier_site.celery.send): the services that
queue them are what the tasks call, so they never import training.tasks."""

from __future__ import annotations

import logging

from django.db import transaction
from kombu.exceptions import OperationalError

from classifier_site.celery import send
from jobs import lifecycle
from jobs.models import Job

logger = logging.getLogger(__name__)

RUN_TRAINING_JOB = "training.tasks.run_training_job"
RUN_EVALUATION_JOB = "training.tasks.run_evaluation_job"
GENERATE_DATASET_PLOTS = "training.tasks.generate_dataset_plots"
GENERATE_TRAINING_PLOT = "training.tasks.generate_training_plot"
GENERATE_EVALUATION_PLOTS = "training.tasks.generate_evaluation_plots"

_RUNS: dict[str, str] = {
    Job.Kind.TRAINING: RUN_TRAINING_JOB,
    Job.Kind.EVALUATION: RUN_EVALUATION_JOB,
}


def run_job_after_commit(job: Job) -> None:
    """Queue a submitted training or evaluation job once its rows are committed;
    the task id is the job's, so its Celery messages can be traced to it.

    If Redis cannot take the task, the job is deleted again (with its snapshot) and
    the error propagates: the caller's 503 leaves no queued job that nothing runs
    (which `prepare_service` would take for a first training under way)."""
    name = _RUNS[job.kind]

    def queue() -> None:
        try:
            send(name, job.pk, task_id=job.celery_task_id)
        except OperationalError:
            lifecycle.discard(job)
            raise

    transaction.on_commit(queue)


def run_job_again(job: Job) -> None:
    """A lost job, queued again (jobs.recovery): its task claims it anew."""
    send(_RUNS[job.kind], job.pk)


def _send_after_commit(name: str, *args) -> None:
    """Plots follow the work they show, which has succeeded either way: a broker
    that cannot be reached is logged rather than raised."""

    def queue() -> None:
        try:
            send(name, *args)
        except OperationalError as exc:
            logger.warning("%s not queued (no broker: %s)", name, exc)

    transaction.on_commit(queue)


def queue_dataset_plots() -> None:
    """After an import: redraw the class distribution, samples and pixel intensity."""
    _send_after_commit(GENERATE_DATASET_PLOTS)


def queue_evaluation_plots(version_id: int) -> None:
    """After an evaluation: the version's confusion matrix, ROC and per-class plots."""
    _send_after_commit(GENERATE_EVALUATION_PLOTS, version_id)


def queue_version_plots(version_id: int) -> None:
    """After a training run: the version's training curves and evaluation plots."""
    _send_after_commit(GENERATE_TRAINING_PLOT, version_id)
    queue_evaluation_plots(version_id)
