"""Queue the predictions app's tasks, by name (classifier_site.celery.send): the
services that queue them are what the tasks call, so they never import
predictions.tasks."""

from __future__ import annotations

from celery.result import AsyncResult

from classifier_site.celery import send

PREDICT_BATCH_CHUNK = "predictions.tasks.predict_batch_chunk"
PREDICT_IMAGES = "predictions.tasks.predict_images"


def batch_chunk(job_id: int, start: int, stop: int) -> None:
    """Positions [start, stop) of a batch job, for the `batch` queue (sent when
    jobs.scheduling dispatches the chunk, after its transaction commits)."""
    send(PREDICT_BATCH_CHUNK, job_id, start, stop)


def predict_image(message: dict) -> AsyncResult:
    """One single-image request (predictions.wire), whose answer the caller waits for:
    its result is kept, unlike every job task's."""
    return send(PREDICT_IMAGES, ignore_result=False, kwargs=message)
