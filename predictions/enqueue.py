"""Queue the predictions app's tasks, by name (classifier_site.celery.send): the
services that queue them are what the tasks call, so they never import
predictions.tasks."""

from __future__ import annotations

from celery.result import AsyncResult
from django.db import transaction

from classifier_site.celery import send

PREDICT_BATCH_CHUNK = "predictions.tasks.predict_batch_chunk"
PREDICT_IMAGES = "predictions.tasks.predict_images"


def batch_chunk(job_id: int, start: int, stop: int) -> None:
    """Positions [start, stop) of a batch job, for the `batch` queue."""
    send(PREDICT_BATCH_CHUNK, job_id, start, stop)


def batch_chunk_after_commit(job_id: int, start: int, stop: int) -> None:
    transaction.on_commit(lambda: batch_chunk(job_id, start, stop))


def predict_image(message: dict) -> AsyncResult:
    """One single-image request (predictions.wire), whose answer the caller waits for:
    its result is kept, unlike every job task's."""
    return send(PREDICT_IMAGES, ignore_result=False, kwargs=message)
