"""The training recipe's knobs: their defaults (the defaults are the recipe), bounds
and meaning, declared once on `TrainingConfig` and read from `KNOBS` by everything
that offers them (the API's request fields, `manage.py train_model`'s options, the
dashboard's retrain form).

Kept apart from ml_core.training so that the web process can validate and store
training parameters without importing TensorFlow. docs/model-quality.md logs the
experiments that chose these defaults.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any, get_type_hints

# Only for the plateau schedule (see plateau_patience below).
PLATEAU_FACTOR = 0.5
MINIMUM_LEARNING_RATE = 1e-5
SGD_MOMENTUM = 0.9

# Knobs of earlier recipes: jobs queued before an upgrade still carry them.
RETIRED_KNOBS = frozenset({"shift_fraction", "rotation_fraction", "zoom_fraction"})
# Seeds reach numpy and scikit-learn, which take 0 to 2**32 - 1.
MAX_SEED = 2**32 - 1
# Patience or epochs beyond this are a typo, not a recipe.
MAX_EPOCHS = 500


def knob(
    default: Any,
    help: str,
    *,
    minimum: float | None = None,
    maximum: float | None = None,
    choices: tuple[str, ...] = (),
) -> Any:
    """A TrainingConfig field with its bounds and help. Numbers need both bounds, text
    needs choices: every knob is offered to strangers through the API."""
    return field(
        default=default,
        metadata={"help": help, "minimum": minimum, "maximum": maximum, "choices": choices},
    )


@dataclass(frozen=True)
class TrainingConfig:
    epochs: int = knob(60, "passes over the training images", minimum=1, maximum=MAX_EPOCHS)
    batch_size: int = knob(64, "images per optimisation step", minimum=1, maximum=4096)
    learning_rate: float = knob(
        2e-3,
        "peak learning rate (reached at the end of the warm-up)",
        minimum=1e-6,
        maximum=1.0,
    )
    validation_fraction: float = knob(
        0.1,
        "share of the training images held out for validation (and for fitting the "
        "calibration temperature)",
        minimum=0.01,
        maximum=0.5,
    )
    seed: int = knob(
        42,
        "seeds the validation split, the initial weights, shuffling and augmentation",
        minimum=0,
        maximum=MAX_SEED,
    )
    optimizer: str = knob(
        "adamw",
        "adamw (Adam with decoupled weight decay) or sgd (Nesterov momentum 0.9)",
        choices=("adamw", "sgd"),
    )
    # Decoupled (AdamW): scaled by the learning rate each step.
    weight_decay: float = knob(
        0.05,
        "decoupled weight decay per step, times the learning rate; "
        "convolution and dense kernels only",
        minimum=0.0,
        maximum=1.0,
    )
    learning_rate_schedule: str = knob(
        "cosine",
        "cosine: linear warm-up, then cosine decay to zero, keeping the last epoch; "
        "plateau: halve on validation-loss plateaus, stop early, keep the best "
        "validation epoch",
        choices=("cosine", "plateau"),
    )
    warmup_epochs: int = knob(
        3,
        "cosine schedule: epochs of linear warm-up from zero (at most epochs - 1)",
        minimum=0,
        maximum=100,
    )
    # Tried 0.1: no better, and it blunts calibration.
    label_smoothing: float = knob(
        0.0,
        "share of each target spread evenly over all classes",
        minimum=0.0,
        maximum=0.5,
    )
    flip: bool = knob(True, "random horizontal flips")
    crop_padding: int = knob(
        4,
        "random crops of the image padded by this many pixels (reflected); 0: off",
        minimum=0,
        maximum=16,
    )
    cutout_size: int = knob(
        8,
        "side in pixels of a square blanked at a random place; 0: off",
        minimum=0,
        maximum=32,
    )
    mixup_alpha: float = knob(
        0.0,
        "mixup: blend image pairs with Beta(alpha, alpha) weights; 0: off",
        minimum=0.0,
        maximum=10.0,
    )
    # Only for the plateau schedule: halve the rate (PLATEAU_FACTOR) after this many
    # epochs without a validation-loss gain; stop after that many without a
    # validation-accuracy gain.
    plateau_patience: int = knob(
        4,
        "plateau schedule: epochs without validation-loss gain before halving the rate",
        minimum=1,
        maximum=MAX_EPOCHS,
    )
    early_stopping_patience: int = knob(
        12,
        "plateau schedule: epochs without validation-accuracy gain before stopping",
        minimum=1,
        maximum=MAX_EPOCHS,
    )

    def __post_init__(self) -> None:
        problems = [
            problem for each in KNOBS if (problem := each.problem(getattr(self, each.name)))
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


@dataclass(frozen=True)
class Knob:
    """One recipe knob as declared on TrainingConfig."""

    name: str
    type: type[Any]  # int, float, bool or str
    default: Any
    help: str
    minimum: float | None = None
    maximum: float | None = None
    choices: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        numeric = self.type in (int, float)
        bounded = self.minimum is not None and self.maximum is not None
        if (numeric and not bounded) or (self.type is str and not self.choices):
            raise TypeError(f"recipe knob {self.name} needs bounds (numbers) or choices (text)")
        if problem := self.problem(self.default):
            raise TypeError(f"recipe knob {self.name}'s default is invalid: {problem}")

    @property
    def sentence(self) -> str:
        """The help as a sentence (str.capitalize would lower-case "Adam" and "Beta")."""
        return self.help[:1].upper() + self.help[1:] + "."

    def problem(self, value: Any) -> str | None:
        """What is wrong with `value` for this knob (a sentence naming it), or None."""
        if self.type is bool:
            return None if isinstance(value, bool) else f"{self.name} must be true or false"
        if self.type is str:
            if isinstance(value, str) and value in self.choices:
                return None
            return f"{self.name} must be one of {', '.join(self.choices)}"
        if isinstance(value, bool) or not isinstance(value, self.type | int):
            return f"{self.name} must be {'an integer' if self.type is int else 'a number'}"
        # __post_init__ made sure that a number has both bounds
        assert self.minimum is not None
        assert self.maximum is not None
        # NaN fails every comparison; infinities fail the bounds.
        if self.minimum <= value <= self.maximum:
            return None
        if self.type is int:
            return f"{self.name} must be between {self.minimum} and {self.maximum}"
        return f"{self.name} must be in [{self.minimum:g}, {self.maximum:g}]"


def _declared_knobs() -> tuple[Knob, ...]:
    types = get_type_hints(TrainingConfig)
    return tuple(
        Knob(name=each.name, type=types[each.name], default=each.default, **each.metadata)
        for each in fields(TrainingConfig)
    )


# Every knob of TrainingConfig, in declaration order.
KNOBS = _declared_knobs()
