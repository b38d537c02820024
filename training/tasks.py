"""Celery tasks of the training app. Each takes ids, loads its rows and hands over
to training.retraining / training.jobs; TensorFlow loads inside the pool process."""

from celery import shared_task
from celery.utils.log import get_task_logger
from django.db import transaction
from django.utils import timezone
from kombu.exceptions import OperationalError

from training import jobs
from training.models import Job, ModelVersion

logger = get_task_logger(__name__)


@shared_task
def run_training_job(job_id: int) -> None:
    from training.retraining import run_training

    job = jobs.claim(job_id)
    if job is None:
        logger.info("training job %s: nothing to do (finished, cancelled or running)", job_id)
        return
    with jobs.failure_recorded(job):
        run_training(job)


@shared_task
def run_evaluation_job(job_id: int) -> None:
    from training.retraining import run_evaluation

    job = jobs.claim(job_id)
    if job is None:
        return
    with jobs.failure_recorded(job):
        run_evaluation(job)


# The plot tasks run on the training queue: reading every stored image or running a
# model over the test split would hold up an inference worker's predictions.


@shared_task
def generate_dataset_plots() -> int:
    from training.visualizations import generate_dataset_plots as generate

    return len(generate())


@shared_task
def generate_training_plot(version_id: int) -> None:
    from training.visualizations import generate_training_plot as generate

    version = ModelVersion.objects.filter(pk=version_id).first()
    if version is not None:
        generate(version)


@shared_task
def generate_evaluation_plots(version_id: int) -> int:
    """Confusion matrix, ROC curves and per-class metrics of a version on the test split."""
    from training.pipeline import TrainingDataError
    from training.visualizations import generate_evaluation_plots as generate

    version = ModelVersion.objects.filter(pk=version_id).first()
    if version is None:
        return 0
    try:
        return len(generate(version))
    except TrainingDataError as exc:  # nothing to plot until the test split has images
        logger.warning("no evaluation plots for v%s: %s", version.number, exc)
        return 0


@shared_task
def recover_stale_jobs() -> dict[str, int]:
    """Jobs whose worker died (stale heartbeat) are re-queued, failed or cancelled."""
    from predictions.batch import enqueue_missing_chunks

    outcomes: dict[str, int] = {}
    for job in jobs.stale_jobs():
        outcome = jobs.recover(job)
        if outcome == "requeue":
            _requeue(job, enqueue_missing_chunks)
        logger.warning("job %s lost its worker: %s", job.pk, outcome)
        outcomes[outcome] = outcomes.get(outcome, 0) + 1
    return outcomes


def _requeue(job: Job, enqueue_missing_chunks) -> None:
    if job.kind == Job.Kind.BATCH_INFERENCE:
        # Fresh heartbeat: the next sweep leaves it alone while the chunks run.
        Job.objects.filter(pk=job.pk).update(
            attempts=job.attempts + 1, heartbeat_at=timezone.now(), message="re-queued"
        )
        enqueue_missing_chunks(job)
        return
    Job.objects.filter(pk=job.pk, status=Job.Status.RUNNING).update(
        status=Job.Status.QUEUED, message="re-queued after its worker was lost"
    )
    task = run_training_job if job.kind == Job.Kind.TRAINING else run_evaluation_job
    task.delay(job.pk)


def _queue_after_commit(task, *args) -> None:
    """Plots follow the work they show, which has succeeded either way: a broker
    that cannot be reached is logged rather than raised."""

    def send() -> None:
        try:
            task.delay(*args)
        except OperationalError as exc:
            logger.warning("%s not queued (no broker: %s)", task.name, exc)

    transaction.on_commit(send)


def queue_dataset_plots() -> None:
    """After an import: redraw the class distribution, samples and pixel intensity."""
    _queue_after_commit(generate_dataset_plots)


def queue_evaluation_plots(version_id: int) -> None:
    """After an evaluation: the version's confusion matrix, ROC and per-class plots."""
    _queue_after_commit(generate_evaluation_plots, version_id)


def queue_version_plots(version_id: int) -> None:
    """After a training run: the version's training curves and evaluation plots."""
    _queue_after_commit(generate_training_plot, version_id)
    queue_evaluation_plots(version_id)
