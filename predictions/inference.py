"""Worker-side inference: which model serves, and predicting with it.

Runs only in inference worker pool processes. Each process keeps its loaded
models in memory (a cache: the production alias itself lives in the database)
and re-reads the alias every PRODUCTION_RECHECK_SECONDS, so a promotion reaches
every worker within seconds, without a restart and without failing a request.
"""

from __future__ import annotations

import base64
import time
from collections import OrderedDict
from typing import TYPE_CHECKING, Any

import numpy as np
from django.conf import settings

from ml_core.preprocessing import INPUT_SHAPE
from predictions.models import BatchItem, Prediction
from training.models import ModelVersion

if TYPE_CHECKING:
    from ml_core.predictor import ImagePrediction, Predictor

LOADED_MODELS_KEPT = 2  # the production version and the one before it


class ModelCache:
    def __init__(self) -> None:
        self._predictors: OrderedDict[int, Predictor] = OrderedDict()
        self._production: ModelVersion | None = None
        self._checked_at = float("-inf")

    def production(self) -> ModelVersion | None:
        now = time.monotonic()
        if now - self._checked_at >= settings.PRODUCTION_RECHECK_SECONDS:
            self._production = ModelVersion.production()
            self._checked_at = now
        return self._production

    def predictor(self, version: ModelVersion) -> Predictor:
        if not self._predictors:
            _configure_tensorflow()
        from ml_core.predictor import Predictor  # TensorFlow loads here, in the pool process

        if version.pk not in self._predictors:
            self._predictors[version.pk] = Predictor(version.artifact_directory)
            while len(self._predictors) > LOADED_MODELS_KEPT:
                self._predictors.popitem(last=False)
        self._predictors.move_to_end(version.pk)
        return self._predictors[version.pk]


models = ModelCache()


def _configure_tensorflow() -> None:
    """Threads per inference process (0 = TensorFlow's default, one per core).

    With several inference processes on one host, one thread each avoids them
    fighting over cores; bench/jobs_throughput.py measures the choice.
    """
    import tensorflow as tf

    threads = settings.INFERENCE_THREADS
    if threads and tf.config.threading.get_intra_op_parallelism_threads() != threads:
        try:
            tf.config.threading.set_intra_op_parallelism_threads(threads)
            tf.config.threading.set_inter_op_parallelism_threads(1)
        except RuntimeError:  # TensorFlow already initialised in this process
            pass


def predict_items(version: ModelVersion, items: list[BatchItem]) -> list[ImagePrediction]:
    """One forward pass over the items' stored, already preprocessed pixels."""
    predictor = models.predictor(version)
    images = np.stack([pixels_to_array(bytes(item.pixels)) for item in items])
    return [predictor.describe(row) for row in predictor.predict_arrays(images)]


def pixels_to_array(pixels: bytes) -> np.ndarray:
    return np.frombuffer(pixels, dtype=np.uint8).reshape(INPUT_SHAPE).astype(np.float32) / 255.0


def encode_pixels(pixels: np.ndarray) -> str:
    """uint8 (32, 32, 3) → base64 text for a JSON task message."""
    return base64.b64encode(np.ascontiguousarray(pixels, dtype=np.uint8).tobytes()).decode()


def decode_pixels(text: str) -> np.ndarray:
    return pixels_to_array(base64.b64decode(text))


def predict_requests(requests: list[tuple[str, dict[str, Any]]]) -> list[dict[str, Any]]:
    """Answer a micro-batch of single-image requests with one forward pass.

    `requests` are (task id, kwargs). Each prediction row is keyed by its task id,
    so a redelivered request returns the stored row instead of adding another.
    """
    version = models.production()
    if version is None:
        return [{"error": "no model version is in production yet"}] * len(requests)
    predictor = models.predictor(version)
    images = np.stack([decode_pixels(kwargs["pixels"]) for _, kwargs in requests])
    predictions = [predictor.describe(row) for row in predictor.predict_arrays(images)]
    Prediction.objects.bulk_create(
        [
            Prediction(
                image=kwargs["image"],
                image_sha256=kwargs["image_sha256"],
                original_name=kwargs.get("original_name", "")[:255],
                top_label=prediction.label,
                confidence=prediction.confidence,
                probabilities=prediction.probabilities,
                model_version=version,
                source=kwargs.get("source", Prediction.Source.API),
                owner_id=kwargs.get("owner_id"),
                request_id=request_id,
            )
            for (request_id, kwargs), prediction in zip(requests, predictions, strict=True)
        ],
        ignore_conflicts=True,
    )
    stored = dict(
        Prediction.objects.filter(
            request_id__in=[request_id for request_id, _ in requests]
        ).values_list("request_id", "id")
    )
    return [
        {
            "prediction_id": stored[request_id],
            "model_version": version.number,
            "label": prediction.label,
            "confidence": prediction.confidence,
            "probabilities": prediction.probabilities,
            "batch_size": len(requests),  # how many requests shared this forward pass
        }
        for (request_id, _), prediction in zip(requests, predictions, strict=True)
    ]
