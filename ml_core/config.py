"""The training recipe's knobs and their defaults (the defaults are the recipe).

Kept apart from ml_core.training so that the web process can validate and store
training parameters without importing TensorFlow. docs/model-quality.md logs the
experiments that chose these defaults.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
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


@dataclass(frozen=True)
class Knob:
    """What the API, the train_model command and the dashboard say about a knob, and
    the bounds TrainingConfig checks: the one place each is written."""

    help: str
    minimum: float | None = None
    maximum: float | None = None
    above_minimum: bool = False  # the minimum itself is not allowed
    choices: tuple[str, ...] = ()
    in_api: bool = True  # a retrain over the API may set it


def knob(default: Any, help: str, **bounds: Any) -> Any:
    return field(default=default, metadata={"knob": Knob(help, **bounds)})


@dataclass(frozen=True)
class TrainingConfig:
    epochs: int = knob(DEFAULT_EPOCHS, "passes over the training images", minimum=1, maximum=500)
    batch_size: int = knob(
        DEFAULT_BATCH_SIZE, "images per optimisation step", minimum=1, maximum=4096
    )
    learning_rate: float = knob(
        DEFAULT_LEARNING_RATE,
        "peak learning rate (reached at the end of the warm-up)",
        minimum=1e-6,
        maximum=1.0,
    )
    validation_fraction: float = knob(
        DEFAULT_VALIDATION_FRACTION,
        "share of the training images held out for validation",
        minimum=0.0,
        maximum=0.5,
        above_minimum=True,
        in_api=False,
    )
    seed: int = knob(
        DEFAULT_SEED,
        "seeds the validation split, the initial weights, shuffling and augmentation",
        minimum=0,
    )
    optimizer: str = knob(
        DEFAULT_OPTIMIZER,
        "adamw (Adam with decoupled weight decay) or sgd (Nesterov momentum 0.9)",
        choices=OPTIMIZERS,
    )
    weight_decay: float = knob(
        DEFAULT_WEIGHT_DECAY,
        "decoupled weight decay per step, times the learning rate; "
        "convolution and dense kernels only",
        minimum=0.0,
        maximum=1.0,
    )
    learning_rate_schedule: str = knob(
        DEFAULT_LEARNING_RATE_SCHEDULE,
        "cosine: linear warm-up, then cosine decay to zero, keeping the last epoch; "
        "plateau: halve on validation-loss plateaus, stop early, keep the best "
        "validation epoch",
        choices=LEARNING_RATE_SCHEDULES,
    )
    warmup_epochs: int = knob(
        DEFAULT_WARMUP_EPOCHS,
        "cosine schedule: epochs of linear warm-up from zero (at most epochs - 1)",
        minimum=0,
        maximum=100,
    )
    label_smoothing: float = knob(
        DEFAULT_LABEL_SMOOTHING,
        "share of each target spread evenly over all classes",
        minimum=0.0,
        maximum=0.5,
    )
    flip: bool = knob(DEFAULT_FLIP, "random horizontal flips")
    crop_padding: int = knob(
        DEFAULT_CROP_PADDING,
        "random crops of the image padded by this many pixels (reflected); 0: off",
        minimum=0,
        maximum=MAX_CROP_PADDING,
    )
    cutout_size: int = knob(
        DEFAULT_CUTOUT_SIZE,
        "side in pixels of a square blanked at a random place; 0: off",
        minimum=0,
        maximum=MAX_CUTOUT_SIZE,
    )
    mixup_alpha: float = knob(
        DEFAULT_MIXUP_ALPHA,
        "mixup: blend image pairs with Beta(alpha, alpha) weights; 0: off",
        minimum=0.0,
        maximum=10.0,
    )
    plateau_patience: int = knob(
        DEFAULT_PLATEAU_PATIENCE,
        "plateau schedule: epochs without validation-loss gain before halving the rate",
        minimum=1,
        maximum=500,
    )
    early_stopping_patience: int = knob(
        DEFAULT_EARLY_STOPPING_PATIENCE,
        "plateau schedule: epochs without validation-accuracy gain before stopping",
        minimum=1,
        maximum=500,
    )

    def __post_init__(self) -> None:
        problems = [
            problem
            for name, spec in knobs().items()
            if (problem := _problem(name, getattr(self, name), spec))
        ]
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


def knobs() -> dict[str, Knob]:
    """Every knob of the recipe, in order, with its help and bounds."""
    return {spec.name: spec.metadata["knob"] for spec in fields(TrainingConfig)}


def _problem(name: str, value: Any, spec: Knob) -> str | None:
    if spec.choices:
        return None if value in spec.choices else f"{name} must be one of {', '.join(spec.choices)}"
    low, high = spec.minimum, spec.maximum
    if low is None:
        return None
    if high is None:
        return None if value >= low else f"{name} must be at least {low:g}"
    if spec.above_minimum:
        return None if low < value <= high else f"{name} must be in ({low:g}, {high:g}]"
    if isinstance(low, int) and isinstance(high, int):
        return None if low <= value <= high else f"{name} must be between {low} and {high}"
    return None if low <= value <= high else f"{name} must be in [{low:g}, {high:g}]"


# What each knob means: the API's field help, the command's option help.
KNOB_HELP = {name: spec.help for name, spec in knobs().items()}
