"""Single predictions, asked by the web process and answered by an inference worker.

The web process decodes and preprocesses (no TensorFlow needed), stores the image,
then waits for a worker's answer, which arrives within milliseconds when a worker
is free: the request is synchronous for the caller.
"""

from __future__ import annotations

from typing import Any

from celery.exceptions import TimeoutError as CeleryTimeoutError
from django.conf import settings

from ml_core.preprocessing import decode_with_format, image_to_array, to_uint8
from predictions.inference import encode_pixels
from predictions.models import Prediction
from training.imports import store_image_file


class PredictionUnavailable(Exception):
    """No worker answered in time, or no model is in production."""


def predict_image(
    content: bytes, original_name: str = "", source: str = Prediction.Source.API
) -> dict[str, Any]:
    """Predict one image; raises InvalidImageError for bad input."""
    from predictions.tasks import predict_images

    image, image_format = decode_with_format(content)
    pixels = to_uint8(image_to_array(image))
    name, sha256 = store_image_file("predictions", content, image_format)
    pending = predict_images.apply_async(
        kwargs={
            "pixels": encode_pixels(pixels),
            "image": name,
            "image_sha256": sha256,
            "original_name": original_name,
            "source": source,
        }
    )
    try:
        result = pending.get(timeout=settings.PREDICTION_TIMEOUT_SECONDS)
    except CeleryTimeoutError as exc:
        raise PredictionUnavailable(
            f"no inference worker answered within {settings.PREDICTION_TIMEOUT_SECONDS:g} s"
        ) from exc
    if "error" in result:
        raise PredictionUnavailable(result["error"])
    return result
