"""Celery tasks of the training app (the training queue). Each takes ids, loads its
rows and makes one service call; services queue tasks by name (training.enqueue)
and never import this module.

The services load TensorFlow (training, evaluation) or the plotting stack
(matplotlib and scipy, about 80 MB), which belong in the pool process that runs the
task, never in the Celery parent process that imports this module (every worker's,
inference workers' too): hence the imports inside the task functions."""

from celery import shared_task
from celery.utils.log import get_task_logger

from jobs import lifecycle
from training.models import ModelVersion

logger = get_task_logger(__name__)


@shared_task
def run_training_job(job_id: int) -> None:
    from training.retraining import run_training  # TensorFlow: pool process only

    job = lifecycle.claim(job_id)
    if job is None:
        logger.info("training job %s: nothing to do (finished, cancelled or running)", job_id)
        return
    with lifecycle.failure_recorded(job):
        run_training(job)


@shared_task
def run_evaluation_job(job_id: int) -> None:
    from training.retraining import run_evaluation  # TensorFlow: pool process only

    job = lifecycle.claim(job_id)
    if job is None:
        return
    with lifecycle.failure_recorded(job):
        run_evaluation(job)


# The plot tasks run on the training queue: reading every stored image or running a
# model over the test split would hold up an inference worker's predictions.


@shared_task
def generate_dataset_plots() -> int:
    from training.visualizations import generate_dataset_plots  # plotting: pool process only

    return len(generate_dataset_plots())


@shared_task
def generate_training_plot(version_id: int) -> None:
    from training.visualizations import generate_training_plot  # plotting: pool process only

    version = ModelVersion.objects.filter(pk=version_id).first()
    if version is not None:
        generate_training_plot(version)


@shared_task
def generate_evaluation_plots(version_id: int) -> int:
    """Confusion matrix, ROC curves and per-class metrics of a version on the test split."""
    from training.visualizations import generate_evaluation_plots  # plotting: pool only

    version = ModelVersion.objects.filter(pk=version_id).first()
    if version is None:
        return 0
    return len(generate_evaluation_plots(version))
