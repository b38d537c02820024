"""The messages between the web process and an inference worker for single
predictions, shared by both sides: a typed request, a typed answer and a typed
failure, each with the one JSON form it takes on the way (Celery's JSON serializer).

The image travels as its pixels (ml_core.preprocessing's uint8 32x32x3 format),
decoded once in the web process; base64 is how its bytes fit in JSON.
"""

from __future__ import annotations

import base64
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from ml_core.preprocessing import pixels_from_bytes, pixels_to_bytes


@dataclass(frozen=True)
class PredictionRequest:
    pixels: np.ndarray  # uint8 (32, 32, 3)
    image: str  # the stored copy's name
    image_sha256: str  # of the bytes as uploaded
    original_name: str
    source: str  # Prediction.Source
    owner_id: int | None

    def to_message(self) -> dict[str, Any]:
        return {
            "pixels": base64.b64encode(pixels_to_bytes(self.pixels)).decode(),
            "image": self.image,
            "image_sha256": self.image_sha256,
            "original_name": self.original_name,
            "source": self.source,
            "owner_id": self.owner_id,
        }

    @classmethod
    def from_message(cls, message: dict[str, Any]) -> PredictionRequest:
        return cls(
            pixels=pixels_from_bytes(base64.b64decode(message["pixels"])),
            image=message["image"],
            image_sha256=message["image_sha256"],
            original_name=message["original_name"],
            source=message["source"],
            owner_id=message["owner_id"],
        )


@dataclass(frozen=True)
class PredictionAnswer:
    prediction_id: int
    model_version: int  # its number
    label: str
    confidence: float
    probabilities: dict[str, float]  # every class
    batch_size: int  # how many requests shared this forward pass


@dataclass(frozen=True)
class PredictionFailure:
    """No prediction was made; `reason` is for the caller (no server detail)."""

    reason: str


Answer = PredictionAnswer | PredictionFailure


def answer_to_message(answer: Answer) -> dict[str, Any]:
    if isinstance(answer, PredictionFailure):
        return {"failed": True, "reason": answer.reason}
    return {"failed": False, **asdict(answer)}


def answer_from_message(message: dict[str, Any]) -> Answer:
    fields = dict(message)
    if fields.pop("failed"):
        return PredictionFailure(fields["reason"])
    return PredictionAnswer(**fields)
