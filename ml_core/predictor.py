"""`Predictor`: the one entry point for predicting with a saved model."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from ml_core.artifacts import MODEL_FILENAME, ArtifactError, load_metadata
from ml_core.calibration import MAX_TEMPERATURE, MIN_TEMPERATURE, apply_temperature
from ml_core.preprocessing import (
    PREPROCESSING_VERSION,
    ImageSource,
    decode_pixels_batch,
    to_model_input,
)

# Bounds the memory of one forward pass; larger inputs are split into chunks.
MAX_FORWARD_BATCH = 256
DEFAULT_TOP_K = 3


@dataclass(frozen=True)
class ImagePrediction:
    top: list[tuple[str, float]]  # the k most probable classes, most probable first
    probabilities: dict[str, float]  # every class

    @property
    def label(self) -> str:
        return self.top[0][0]

    @property
    def confidence(self) -> float:
        return self.top[0][1]


def calibration_temperature(metadata: dict[str, Any]) -> float:
    """The stored temperature; 1 (no change) for versions saved before calibration."""
    calibration = metadata.get("calibration") or {}
    temperature = float(calibration.get("temperature", 1.0))
    if not (MIN_TEMPERATURE <= temperature <= MAX_TEMPERATURE):
        raise ArtifactError(f"calibration temperature {temperature} is out of range")
    return temperature


class Predictor:
    """Loads `model.keras` and `metadata.json` from an artefact directory.

    Inference runs through one traced `tf.function` (batch dimension left open)
    rather than `model.predict`, whose per-call set-up dominates small batches:
    bench/predictor_latency.py measures the difference.

    Probabilities are calibrated with the temperature stored in the metadata
    (fitted on the version's validation images); versions without one use 1.
    """

    def __init__(self, artifact_directory: str | Path) -> None:
        self.directory = Path(artifact_directory)
        self.metadata: dict[str, Any] = load_metadata(self.directory)
        if self.metadata["preprocessing_version"] != PREPROCESSING_VERSION:
            raise ArtifactError(
                f"{self.directory}: model expects preprocessing version "
                f"{self.metadata['preprocessing_version']}, this code has {PREPROCESSING_VERSION}"
            )
        model_path = self.directory / MODEL_FILENAME
        if not model_path.is_file():
            raise ArtifactError(f"{model_path}: model file is missing")
        try:
            self.model = keras.saving.load_model(model_path, compile=False)
        except (OSError, ValueError) as exc:
            raise ArtifactError(f"{model_path}: cannot load model ({exc})") from exc
        self.class_names: list[str] = list(self.metadata["class_names"])
        self.input_shape = tuple(self.metadata["input_shape"])
        self.temperature = calibration_temperature(self.metadata)
        self._forward = tf.function(
            self._probabilities,
            input_signature=[tf.TensorSpec((None, *self.input_shape), tf.float32)],
        )
        self._forward(tf.zeros((1, *self.input_shape), tf.float32))  # trace once, now

    def _probabilities(self, images: tf.Tensor) -> tf.Tensor:
        return self.model(images, training=False)

    def predict_pixels(self, pixels: np.ndarray, calibrated: bool = True) -> np.ndarray:
        """uint8 pixels (N, H, W, 3) (ml_core.preprocessing's format) → probabilities
        (N, classes).

        `calibrated=False` returns the network's own probabilities (to measure
        what calibration changed); serving always uses the calibrated ones.
        """
        pixels = np.asarray(pixels)
        if pixels.ndim != 4 or pixels.shape[1:] != self.input_shape:
            raise ValueError(
                f"expected images of shape (N, {', '.join(map(str, self.input_shape))}), "
                f"got {pixels.shape}"
            )
        images = to_model_input(pixels)
        chunks = [
            self._forward(tf.constant(images[start : start + MAX_FORWARD_BATCH])).numpy()
            for start in range(0, len(images), MAX_FORWARD_BATCH)
        ]
        if not chunks:
            return np.zeros((0, len(self.class_names)), dtype=np.float32)
        probabilities = np.concatenate(chunks)
        return apply_temperature(probabilities, self.temperature) if calibrated else probabilities

    def predict(
        self, images: Sequence[ImageSource], top_k: int = DEFAULT_TOP_K
    ) -> list[ImagePrediction]:
        """Decode images, then return the top-k classes of each."""
        probabilities = self.predict_pixels(decode_pixels_batch(images))
        return [self.describe(row, top_k) for row in probabilities]

    def describe(self, probabilities: np.ndarray, top_k: int = DEFAULT_TOP_K) -> ImagePrediction:
        top_k = max(1, min(top_k, len(self.class_names)))
        order = np.argsort(-probabilities, kind="stable")[:top_k]
        return ImagePrediction(
            top=[(self.class_names[index], float(probabilities[index])) for index in order],
            probabilities={
                name: float(value)
                for name, value in zip(self.class_names, probabilities, strict=True)
            },
        )
