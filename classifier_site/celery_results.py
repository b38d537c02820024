"""Storing many task results in one Redis round trip: the service's one use of a
private Celery API, kept here with a test pinned to the Celery version it was
checked against (tests/classifier_site/test_celery_results.py).

A micro-batch of single predictions (predictions.tasks.predict_images) answers up
to INFERENCE_MAX_BATCH_SIZE waiting web requests at once. The backend's public
store_result costs each a read, then a write and a publish: here every answer's
write and publish go in one pipeline, in the exact form store_result writes
(Backend._get_result_meta), so AsyncResult.get() in the web process reads them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from celery import states

# The Celery release whose private Backend._get_result_meta this was checked with.
CHECKED_CELERY_VERSION = "5.6.3"


def store_successes(backend, answers: Sequence[tuple[Any, Any]]) -> None:
    """Store each (task request, result) as that task's successful result and
    publish it to whoever waits for it, in one round trip to Redis."""
    with backend.client.pipeline(transaction=False) as pipeline:
        for request, result in answers:
            meta = backend._get_result_meta(
                result=result, state=states.SUCCESS, traceback=None, request=request
            )
            meta["task_id"] = request.id
            key, value = backend.get_key_for_task(request.id), backend.encode(meta)
            pipeline.set(key, value, ex=backend.expires or None)
            pipeline.publish(key, value)
        pipeline.execute()
