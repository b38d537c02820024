"""Single predictions, asked by the web process and answered by an inference worker.

The web process decodes and preprocesses (no TensorFlow needed), stores the image,
then waits for a worker's answer, which arrives within milliseconds when a worker
is free: the request is synchronous for the caller.
"""

from __future__ import annotations

from typing import Any

import redis
from celery.exceptions import TimeoutError as CeleryTimeoutError
from django.conf import settings
from kombu.exceptions import OperationalError as QueueError

from classifier_site.media import user_scope
from classifier_site.uploads import offload
from predictions.inference import encode_pixels
from predictions.models import Prediction
from training.imports import Content, new_files_removed_on_error, prepare_upload, store_image_file


class PredictionUnavailable(Exception):
    """No worker answered in time, or no model is in production."""


def predict_image(
    content: bytes, original_name: str = "", source: str = Prediction.Source.API, user=None
) -> dict[str, Any]:
    """Predict one image; raises InvalidImageError for bad input."""
    return predict_images_now([(original_name, content)], source, user)[0]


def predict_images_now(
    images: list[tuple[str, Content]], source: str = Prediction.Source.API, user=None
) -> list[dict[str, Any]]:
    """Predict a few images synchronously, in order.

    Each image is decoded and its re-encoded copy stored, one at a time in a decode
    thread (one bad image raises InvalidImageError, and the copies stored so far are
    removed); then all requests are sent before waiting, so a worker's
    micro-batching answers them together. The predictions belong to `user` (a
    signed-in user); an anonymous caller's belong to nobody (staff only see them).
    """
    owner = user if user is not None and user.is_authenticated else None
    scope = user_scope(owner)
    prepared = []
    with new_files_removed_on_error():
        for original_name, content in images:
            upload = offload(prepare_upload, content)
            name, _ = store_image_file(
                "predictions", upload.image.stored, upload.image.stored_format, scope
            )
            prepared.append((original_name, name, upload.sha256, upload.image.pixels))
    pending = []
    for original_name, name, sha256, pixels in prepared:
        pending.append(
            _send(
                kwargs={
                    "pixels": encode_pixels(pixels),
                    "image": name,
                    "image_sha256": sha256,
                    "original_name": original_name,
                    "source": source,
                    "owner_id": owner.pk if owner else None,
                }
            )
        )
    return [_answer(result) for result in pending]


# Celery's result backend raises RuntimeError once its reconnection attempts to Redis
# run out; the broker raises kombu's OperationalError.
_QUEUE_DOWN = (QueueError, redis.RedisError, RuntimeError)


def _send(**options):
    from predictions.tasks import predict_images

    try:
        return predict_images.apply_async(**options)
    except _QUEUE_DOWN as exc:
        raise PredictionUnavailable(
            "the task queue (Redis) is unavailable; try again in a few seconds"
        ) from exc


def _answer(pending) -> dict[str, Any]:
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
    if "error" in result:
        raise PredictionUnavailable(result["error"])
    return result
