"""The training recipe's knobs and their defaults (the defaults are the recipe).

Kept apart from ml_core.training so that the web process can validate and store
training parameters without importing TensorFlow.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

DEFAULT_EPOCHS = 60
DEFAULT_BATCH_SIZE = 64
DEFAULT_LEARNING_RATE = 1e-3
DEFAULT_VALIDATION_FRACTION = 0.1
DEFAULT_SEED = 42
DEFAULT_EARLY_STOPPING_PATIENCE = 12
# The learning rate halves when validation loss has not improved for this many epochs.
DEFAULT_PLATEAU_PATIENCE = 4
PLATEAU_FACTOR = 0.5
MINIMUM_LEARNING_RATE = 1e-5
DEFAULT_FLIP = True
DEFAULT_SHIFT_FRACTION = 0.1  # of the image side
DEFAULT_ROTATION_FRACTION = 0.04  # of a full turn: about 15 degrees
DEFAULT_ZOOM_FRACTION = 0.1


@dataclass(frozen=True)
class TrainingConfig:
    epochs: int = DEFAULT_EPOCHS
    batch_size: int = DEFAULT_BATCH_SIZE
    learning_rate: float = DEFAULT_LEARNING_RATE
    validation_fraction: float = DEFAULT_VALIDATION_FRACTION
    seed: int = DEFAULT_SEED
    early_stopping_patience: int = DEFAULT_EARLY_STOPPING_PATIENCE
    plateau_patience: int = DEFAULT_PLATEAU_PATIENCE
    flip: bool = DEFAULT_FLIP
    shift_fraction: float = DEFAULT_SHIFT_FRACTION
    rotation_fraction: float = DEFAULT_ROTATION_FRACTION
    zoom_fraction: float = DEFAULT_ZOOM_FRACTION

    def __post_init__(self) -> None:
        checks = {
            "epochs must be at least 1": self.epochs >= 1,
            "batch_size must be between 1 and 4096": 1 <= self.batch_size <= 4096,
            "learning_rate must be in (0, 1]": 0 < self.learning_rate <= 1,
            "validation_fraction must be in (0, 0.5]": 0 < self.validation_fraction <= 0.5,
            "early_stopping_patience must be at least 1": self.early_stopping_patience >= 1,
            "plateau_patience must be at least 1": self.plateau_patience >= 1,
            "shift_fraction must be in [0, 0.5]": 0 <= self.shift_fraction <= 0.5,
            "rotation_fraction must be in [0, 0.5]": 0 <= self.rotation_fraction <= 0.5,
            "zoom_fraction must be in [0, 0.9]": 0 <= self.zoom_fraction <= 0.9,
        }
        problems = [message for message, ok in checks.items() if not ok]
        if problems:
            raise ValueError("; ".join(problems))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
