"""Single predictions, asked by the web process and answered by an inference worker.

The web process decodes the upload once (no TensorFlow needed), stores its copy,
then sends its pixels (predictions.wire) and waits for a worker's answer, which
arrives within milliseconds when a worker is free: the request is synchronous for
the caller.
"""

from __future__ import annotations

from collections.abc import Sequence

import redis
from celery.exceptions import TimeoutError as CeleryTimeoutError
from django.conf import settings
from kombu.exceptions import OperationalError as QueueError

from classifier_site.media import user_scope
from classifier_site.media_store import (
    Content,
    new_files_removed_on_error,
    prepare_upload,
    store_image_file,
)
from classifier_site.uploads import offload
from predictions import enqueue
from predictions.models import Prediction
from predictions.wire import (
    PredictionAnswer,
    PredictionFailure,
    PredictionRequest,
    answer_from_message,
)


class PredictionUnavailable(Exception):
    """No worker answered in time, or no model is in production."""


def predict_image(
    content: bytes, original_name: str = "", source: str = Prediction.Source.API, user=None
) -> PredictionAnswer:
    """Predict one image; raises InvalidImageError for bad input."""
    return predict_images_now([(original_name, content)], source, user)[0]


def predict_images_now(
    images: Sequence[tuple[str, Content]], source: str = Prediction.Source.API, user=None
) -> list[PredictionAnswer]:
    """Predict a few images synchronously, in order.

    Each image is decoded and its re-encoded copy stored, one at a time in a decode
    thread (one bad image raises InvalidImageError, and the copies stored so far are
    removed); then all requests are sent before waiting, so a worker's
    micro-batching answers them together. The predictions belong to `user` (a
    signed-in user); an anonymous caller's belong to nobody (staff only see them).
    """
    owner = user if user is not None and user.is_authenticated else None
    scope = user_scope(owner)
    requests = []
    with new_files_removed_on_error():
        for original_name, content in images:
            upload = offload(prepare_upload, content)
            name, _ = store_image_file(
                "predictions", upload.image.stored, upload.image.stored_format, scope
            )
            requests.append(
                PredictionRequest(
                    pixels=upload.image.pixels,
                    image=name,
                    image_sha256=upload.sha256,
                    original_name=original_name,
                    source=source,
                    owner_id=owner.pk if owner else None,
                )
            )
    pending = [_send(request) for request in requests]
    return [_answer(result) for result in pending]


# Celery's result backend raises RuntimeError once its reconnection attempts to Redis
# run out; the broker raises kombu's OperationalError.
_QUEUE_DOWN = (QueueError, redis.RedisError, RuntimeError)


def _send(request: PredictionRequest):
    try:
        return enqueue.predict_image(request.to_message())
    except _QUEUE_DOWN as exc:
        raise PredictionUnavailable(
            "the task queue (Redis) is unavailable; try again in a few seconds"
        ) from exc


def _answer(pending) -> PredictionAnswer:
    try:
        result = pending.get(timeout=settings.PREDICTION_TIMEOUT_SECONDS)
    except CeleryTimeoutError as exc:
        raise PredictionUnavailable(
            f"no inference worker answered within {settings.PREDICTION_TIMEOUT_SECONDS:g} s"
        ) from exc
    except _QUEUE_DOWN as exc:
        raise PredictionUnavailable(
            "the task queue (Redis) is unavailable; try again in a few seconds"
        ) from exc
    answer = answer_from_message(result)
    if isinstance(answer, PredictionFailure):
        raise PredictionUnavailable(answer.reason)
    return answer
