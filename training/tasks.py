"""Celery tasks of the training app. Each takes ids, loads its rows and hands over
to training.retraining / training.jobs; TensorFlow loads inside the pool process."""

from celery import shared_task
from celery.utils.log import get_task_logger
from django.utils import timezone

from training import jobs
from training.models import Job

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


@shared_task
def generate_dataset_plots() -> int:
    from training.visualizations import generate_dataset_plots as generate

    return len(generate())


@shared_task
def generate_training_plot(version_id: int) -> None:
    from training.models import ModelVersion
    from training.visualizations import generate_training_plot as generate

    generate(ModelVersion.objects.get(pk=version_id))


@shared_task
def recover_stale_jobs() -> dict[str, int]:
    """Jobs whose worker died (stale heartbeat) are re-queued, failed or cancelled."""
    from predictions.batch import enqueue_missing_chunks, fully_stored

    outcomes: dict[str, int] = {}
    for job in jobs.stale_jobs():
        is_batch = job.kind == Job.Kind.BATCH_INFERENCE
        if is_batch and not fully_stored(job):
            jobs.fail(job, "failed: the upload was interrupted before every image was stored")
            outcome = "failed"
        elif job.status == Job.Status.QUEUED:
            continue  # fully stored: its chunks wait in the queue for a worker
        else:
            outcome = jobs.recover(job)
            if outcome == "requeue":
                _requeue(job, enqueue_missing_chunks)
        logger.warning("job %s went quiet: %s", job.pk, outcome)
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
