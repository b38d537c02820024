"""Celery tasks of the predictions app (inference queue)."""

from celery import shared_task, states
from celery.utils.log import get_task_logger
from celery_batches import Batches
from django.conf import settings

from predictions import batch, inference
from training import jobs
from training.models import Job

logger = get_task_logger(__name__)


@shared_task
def predict_batch_chunk(job_id: int, start: int, stop: int) -> None:
    """Predict positions [start, stop) of a batch job that still lack a prediction."""
    job = Job.objects.select_related("model_version").filter(pk=job_id).first()
    if job is None or job.is_finished or job.cancel_requested:
        return
    if job.status == Job.Status.QUEUED:
        jobs.start_if_queued(job)
    items = batch.pending_items(job, start, stop)
    predictions = inference.predict_items(job.model_version, items) if items else []
    batch.store_chunk(job, items, predictions)


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
    try:
        results = inference.predict_requests([(request.id, request.kwargs) for request in requests])
    except Exception as exc:
        # Every waiting caller gets an answer now rather than a time-out later.
        logger.exception("micro-batch of %d predictions failed", len(requests))
        results = [{"error": f"prediction failed: {type(exc).__name__}"}] * len(requests)
    store_answers(requests, results)


def store_answers(requests, results) -> None:
    """Every answer of a micro-batch in one Redis round trip, each published to the
    web process waiting for it: what the backend's mark_as_done does for one task
    (a read, then a write and a publish), here pipelined for the whole batch."""
    backend = predict_images.backend
    with backend.client.pipeline(transaction=False) as pipeline:
        for request, result in zip(requests, results, strict=True):
            meta = backend._get_result_meta(
                result=result, state=states.SUCCESS, traceback=None, request=request
            )
            meta["task_id"] = request.id
            key, value = backend.get_key_for_task(request.id), backend.encode(meta)
            if backend.expires:
                pipeline.setex(key, backend.expires, value)
            else:
                pipeline.set(key, value)
            pipeline.publish(key, value)
        pipeline.execute()
