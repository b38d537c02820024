"""The training recipe's knobs and their defaults (the defaults are the recipe).

Kept apart from ml_core.training so that the web process can validate and store
training parameters without importing TensorFlow. docs/model-quality.md logs the
experiments that chose these defaults.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

DEFAULT_EPOCHS = 60
DEFAULT_BATCH_SIZE = 64
DEFAULT_LEARNING_RATE = 2e-3  # the peak, reached at the end of the warm-up
DEFAULT_VALIDATION_FRACTION = 0.1
DEFAULT_SEED = 42
DEFAULT_OPTIMIZER = "adamw"
DEFAULT_WEIGHT_DECAY = 0.05  # decoupled (AdamW); scaled by the learning rate each step
DEFAULT_LEARNING_RATE_SCHEDULE = "cosine"
DEFAULT_WARMUP_EPOCHS = 3
DEFAULT_LABEL_SMOOTHING = 0.0  # tried 0.1: no better, and it blunts calibration
DEFAULT_FLIP = True
DEFAULT_CROP_PADDING = 4  # pixels: random 32x32 crops of the image padded by reflection
DEFAULT_CUTOUT_SIZE = 8  # pixels: side of a square blanked at a random place
DEFAULT_MIXUP_ALPHA = 0.0  # 0: no mixup
# Only for the plateau schedule: halve the rate after this many epochs without a
# validation-loss gain; stop after that many without a validation-accuracy gain.
DEFAULT_PLATEAU_PATIENCE = 4
DEFAULT_EARLY_STOPPING_PATIENCE = 12
PLATEAU_FACTOR = 0.5
MINIMUM_LEARNING_RATE = 1e-5
SGD_MOMENTUM = 0.9

OPTIMIZERS = ("adamw", "sgd")
LEARNING_RATE_SCHEDULES = ("cosine", "plateau")
MAX_CROP_PADDING = 16
MAX_CUTOUT_SIZE = 32
# Knobs of earlier recipes: jobs queued before an upgrade still carry them.
RETIRED_KNOBS = frozenset({"shift_fraction", "rotation_fraction", "zoom_fraction"})

# What each knob means: the API's field help, the command's option help.
KNOB_HELP = {
    "epochs": "passes over the training images",
    "batch_size": "images per optimisation step",
    "learning_rate": "peak learning rate (reached at the end of the warm-up)",
    "validation_fraction": "share of the training images held out for validation",
    "seed": "seeds the validation split, the initial weights, shuffling and augmentation",
    "optimizer": "adamw (Adam with decoupled weight decay) or sgd (Nesterov momentum 0.9)",
    "weight_decay": "decoupled weight decay per step, times the learning rate; "
    "convolution and dense kernels only",
    "learning_rate_schedule": "cosine: linear warm-up, then cosine decay to zero, keeping "
    "the last epoch; plateau: halve on validation-loss plateaus, stop early, keep the "
    "best validation epoch",
    "warmup_epochs": "cosine schedule: epochs of linear warm-up from zero (at most epochs - 1)",
    "label_smoothing": "share of each target spread evenly over all classes",
    "flip": "random horizontal flips",
    "crop_padding": "random crops of the image padded by this many pixels (reflected); 0: off",
    "cutout_size": "side in pixels of a square blanked at a random place; 0: off",
    "mixup_alpha": "mixup: blend image pairs with Beta(alpha, alpha) weights; 0: off",
    "plateau_patience": "plateau schedule: epochs without validation-loss gain before "
    "halving the rate",
    "early_stopping_patience": "plateau schedule: epochs without validation-accuracy gain "
    "before stopping",
}


@dataclass(frozen=True)
class TrainingConfig:
    epochs: int = DEFAULT_EPOCHS
    batch_size: int = DEFAULT_BATCH_SIZE
    learning_rate: float = DEFAULT_LEARNING_RATE
    validation_fraction: float = DEFAULT_VALIDATION_FRACTION
    seed: int = DEFAULT_SEED
    optimizer: str = DEFAULT_OPTIMIZER
    weight_decay: float = DEFAULT_WEIGHT_DECAY
    learning_rate_schedule: str = DEFAULT_LEARNING_RATE_SCHEDULE
    warmup_epochs: int = DEFAULT_WARMUP_EPOCHS
    label_smoothing: float = DEFAULT_LABEL_SMOOTHING
    flip: bool = DEFAULT_FLIP
    crop_padding: int = DEFAULT_CROP_PADDING
    cutout_size: int = DEFAULT_CUTOUT_SIZE
    mixup_alpha: float = DEFAULT_MIXUP_ALPHA
    plateau_patience: int = DEFAULT_PLATEAU_PATIENCE
    early_stopping_patience: int = DEFAULT_EARLY_STOPPING_PATIENCE

    def __post_init__(self) -> None:
        checks = {
            "epochs must be at least 1": self.epochs >= 1,
            "batch_size must be between 1 and 4096": 1 <= self.batch_size <= 4096,
            "learning_rate must be in (0, 1]": 0 < self.learning_rate <= 1,
            "validation_fraction must be in (0, 0.5]": 0 < self.validation_fraction <= 0.5,
            f"optimizer must be one of {', '.join(OPTIMIZERS)}": self.optimizer in OPTIMIZERS,
            "weight_decay must be in [0, 1]": 0 <= self.weight_decay <= 1,
            f"learning_rate_schedule must be one of {', '.join(LEARNING_RATE_SCHEDULES)}": (
                self.learning_rate_schedule in LEARNING_RATE_SCHEDULES
            ),
            "warmup_epochs must be between 0 and 100": 0 <= self.warmup_epochs <= 100,
            "label_smoothing must be in [0, 0.5]": 0 <= self.label_smoothing <= 0.5,
            f"crop_padding must be between 0 and {MAX_CROP_PADDING}": (
                0 <= self.crop_padding <= MAX_CROP_PADDING
            ),
            f"cutout_size must be between 0 and {MAX_CUTOUT_SIZE}": (
                0 <= self.cutout_size <= MAX_CUTOUT_SIZE
            ),
            "mixup_alpha must be in [0, 10]": 0 <= self.mixup_alpha <= 10,
            "plateau_patience must be at least 1": self.plateau_patience >= 1,
            "early_stopping_patience must be at least 1": self.early_stopping_patience >= 1,
        }
        problems = [message for message, ok in checks.items() if not ok]
        if problems:
            raise ValueError("; ".join(problems))

    @property
    def effective_warmup_epochs(self) -> int:
        """The warm-up, shortened so that a short run still has an epoch of decay."""
        return min(self.warmup_epochs, self.epochs - 1)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, parameters: dict[str, Any]) -> TrainingConfig:
        """From stored parameters; knobs of earlier recipes are dropped, others refused."""
        known = {field.name for field in fields(cls)}
        unknown = set(parameters) - known - RETIRED_KNOBS
        if unknown:
            raise ValueError(f"unknown training parameters: {', '.join(sorted(unknown))}")
        return cls(**{name: value for name, value in parameters.items() if name in known})
