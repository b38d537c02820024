"""Celery tasks of the predictions app (inference and batch queues). Each loads its
rows and makes one service call; services queue tasks by name (predictions.enqueue)
and never import this module."""

from celery import shared_task
from celery_batches import Batches
from django.conf import settings

from classifier_site.celery_results import store_successes
from jobs.models import Job
from predictions import batch, inference, retention, wire


@shared_task
def predict_batch_chunk(job_id: int, start: int, stop: int) -> None:
    """Predict positions [start, stop) of a batch job that still lack a prediction."""
    job = Job.objects.select_related("model_version").filter(pk=job_id).first()
    if job is not None:
        batch.predict_chunk(job, start, stop)


# Dynamic micro-batching (celery-batches): requests arriving within the delay are
# answered by one forward pass, up to the maximum batch size. The worker's
# prefetch multiplier must be at least the batch size for full batches.
@shared_task(
    base=Batches,
    ignore_result=False,
    flush_every=settings.INFERENCE_MAX_BATCH_SIZE,
    flush_interval=settings.INFERENCE_MAX_DELAY_SECONDS,
)
def predict_images(requests) -> None:
    """Answer a micro-batch of single predictions (predictions.wire messages); every
    answer, or failure, is stored where its caller waits, in one Redis round trip."""
    answers = inference.answer_requests([(request.id, request.kwargs) for request in requests])
    store_successes(
        predict_images.backend,
        [
            (request, wire.answer_to_message(answer))
            for request, answer in zip(requests, answers, strict=True)
        ],
    )


@shared_task
def purge_expired() -> dict:
    """Delete what is past its retention period (predictions.retention), then measure
    the disk use the overview shows; celery beat runs it every
    RETENTION_INTERVAL_SECONDS."""
    return retention.run_scheduled()
