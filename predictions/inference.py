"""Worker-side inference: which model serves, and predicting with it.

Runs only in inference worker pool processes. Each process keeps its loaded
models in memory (a cache: the production alias itself lives in the database)
and re-reads the alias every PRODUCTION_RECHECK_SECONDS, so a promotion reaches
every worker within seconds, without a restart and without failing a request.
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from typing import TYPE_CHECKING, Any

import numpy as np
from django.conf import settings

from ml_core.preprocessing import pixels_from_bytes
from predictions.models import BatchItem, NewPrediction, Prediction, insert_predictions
from predictions.wire import Answer, PredictionAnswer, PredictionFailure, PredictionRequest
from training.models import ModelVersion

if TYPE_CHECKING:
    from ml_core.predictor import ImagePrediction, Predictor

logger = logging.getLogger(__name__)

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
        from ml_core.predictor import Predictor  # TensorFlow: pool process only

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
    import tensorflow as tf  # TensorFlow: pool process only

    threads = settings.INFERENCE_THREADS
    if threads and tf.config.threading.get_intra_op_parallelism_threads() != threads:
        try:
            tf.config.threading.set_intra_op_parallelism_threads(threads)
            tf.config.threading.set_inter_op_parallelism_threads(1)
        except RuntimeError:  # TensorFlow already initialised in this process
            pass


def load_model(version: ModelVersion) -> None:
    """Load (or find cached) the version's model in this process."""
    models.predictor(version)


def predict_items(version: ModelVersion, items: list[BatchItem]) -> list[ImagePrediction]:
    """One forward pass over the items' stored pixels."""
    predictor = models.predictor(version)
    pixels = np.stack([pixels_from_bytes(bytes(item.pixels)) for item in items])
    return [predictor.describe(row) for row in predictor.predict_pixels(pixels)]


def answer_requests(requests: list[tuple[str, dict[str, Any]]]) -> list[Answer]:
    """Answer a micro-batch of single-image requests, (task id, message) each; every
    waiting caller gets an answer, a failure rather than a time-out later."""
    try:
        parsed = [
            (task_id, PredictionRequest.from_message(message)) for task_id, message in requests
        ]
        return predict_requests(parsed)
    except Exception as exc:
        logger.exception("micro-batch of %d predictions failed", len(requests))
        return [PredictionFailure(f"prediction failed: {type(exc).__name__}")] * len(requests)


def predict_requests(requests: list[tuple[str, PredictionRequest]]) -> list[Answer]:
    """One forward pass for a micro-batch. Each prediction row is keyed by its task
    id, so a redelivered request finds the stored row instead of adding another."""
    version = models.production()
    if version is None:
        return [PredictionFailure("no model version is in production yet")] * len(requests)
    predictor = models.predictor(version)
    probabilities = predictor.predict_pixels(np.stack([request.pixels for _, request in requests]))
    predictions = [predictor.describe(row) for row in probabilities]
    insert_predictions(
        [
            NewPrediction(
                image=request.image,
                image_sha256=request.image_sha256,
                original_name=request.original_name[:255],
                top_label=prediction.label,
                confidence=prediction.confidence,
                probabilities=prediction.probabilities,
                model_version_id=version.pk,
                source=request.source,
                owner_id=request.owner_id,
                request_id=task_id,
            )
            for (task_id, request), prediction in zip(requests, predictions, strict=True)
        ]
    )
    stored = dict(
        Prediction.objects.filter(request_id__in=[task_id for task_id, _ in requests]).values_list(
            "request_id", "id"
        )
    )
    return [
        PredictionAnswer(
            prediction_id=stored[task_id],
            model_version=version.number,
            label=prediction.label,
            confidence=prediction.confidence,
            probabilities=prediction.probabilities,
            batch_size=len(requests),
        )
        for (task_id, _), prediction in zip(requests, predictions, strict=True)
    ]
