import argparse
import time

from django.core.management.base import BaseCommand, CommandError, CommandParser

from ml_core.config import KNOBS, Knob, TrainingConfig
from training.management.progress import EpochBarListener, LoadingBar


def option_name(knob: Knob) -> str:
    return "--" + knob.name.replace("_", "-")


def option_help(knob: Knob) -> str:
    """The knob's help, default and bounds (choices are listed by argparse itself)."""
    bounds = "" if knob.minimum is None else f"; {knob.minimum} to {knob.maximum}"
    return f"{knob.help} (default: {knob.default}{bounds})".replace("%", "%%")


class Command(BaseCommand):
    help = (
        "Train a new model version on the included train-split images, evaluate it on "
        "the test split and register it (as a candidate unless --promote)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        # One option per recipe knob (--epochs, --weight-decay, --no-flip, ...);
        # TrainingConfig checks the bounds, and the command reports its ValueError.
        for knob in KNOBS:
            if knob.type is bool:
                parser.add_argument(
                    option_name(knob),
                    action=argparse.BooleanOptionalAction,
                    default=knob.default,
                    help=option_help(knob),
                )
            else:
                parser.add_argument(
                    option_name(knob),
                    type=knob.type,
                    choices=knob.choices or None,
                    default=knob.default,
                    help=option_help(knob),
                )
        parser.add_argument(
            "--max-train-images",
            type=int,
            help="train on a stratified subset of at most this many images (quick runs)",
        )
        parser.add_argument(
            "--promote", action="store_true", help="make the new version the production model"
        )

    def handle(self, *args, **options) -> None:
        try:
            config = TrainingConfig(**{knob.name: options[knob.name] for knob in KNOBS})
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        # Imported here: TensorFlow loads only when a model is actually trained.
        from training.pipeline import TrainingDataError, train_new_version

        started = time.monotonic()
        try:
            version = train_new_version(
                config,
                listener=EpochBarListener(self.stdout.write),
                max_train_images=options["max_train_images"],
                on_load_progress=LoadingBar("Loading images"),
            )
        except TrainingDataError as exc:
            raise CommandError(str(exc)) from exc
        if version is None:
            raise CommandError("training was stopped before it finished; no version saved")
        if options["promote"]:
            version.promote()
        metrics = version.metrics
        parameters = version.training_parameters
        self.stdout.write(
            self.style.SUCCESS(
                f"Created model version {version.number} ({version.status}) in "
                f"{time.monotonic() - started:.0f} s: trained {parameters['epochs_run']} epochs "
                f"(best {parameters['best_epoch']}) on {parameters['train_count']} images, "
                f"validated on {parameters['validation_count']}."
            )
        )
        self.stdout.write(
            f"Test split ({metrics['count']} images): accuracy {metrics['accuracy']:.4f}, "
            f"macro F1 {metrics['f1_macro']:.4f}, ROC-AUC {metrics['roc_auc_ovr_macro']:.4f}, "
            f"ECE {metrics['ece']:.4f} (before calibration {metrics['ece_uncalibrated']:.4f}, "
            f"temperature {metrics['temperature']:.3f}). "
            f"Validation accuracy {version.validation_metrics['accuracy']:.4f}."
        )
