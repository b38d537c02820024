import argparse
import dataclasses
import time

from django.core.management.base import BaseCommand, CommandError, CommandParser

from ml_core.config import Knob, TrainingConfig, knobs
from training.management.progress import EpochBarListener, LoadingBar

_OPTION_TYPES = {"int": int, "float": float, "str": str}


class Command(BaseCommand):
    help = (
        "Train a new model version on the included train-split images, evaluate it on "
        "the test split and register it (as a candidate unless --promote)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        # One option per recipe knob (--epochs, --weight-decay, --no-flip, ...).
        specs = knobs()
        for knob in dataclasses.fields(TrainingConfig):
            option = "--" + knob.name.replace("_", "-")
            spec = specs[knob.name]
            help_text = f"{spec.help} ({_default_and_bounds(knob.default, spec)})"
            if knob.type == "bool":
                parser.add_argument(
                    option,
                    action=argparse.BooleanOptionalAction,
                    default=knob.default,
                    help=help_text,
                )
            else:
                parser.add_argument(
                    option, type=_OPTION_TYPES[knob.type], default=knob.default, help=help_text
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
        # Imported here: TensorFlow loads only when a model is actually trained.
        from training.pipeline import TrainingDataError, train_new_version

        try:
            config = TrainingConfig(
                **{knob.name: options[knob.name] for knob in dataclasses.fields(TrainingConfig)}
            )
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
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


def _default_and_bounds(default, spec: Knob) -> str:
    if spec.choices:
        return f"default: {default}; one of {', '.join(spec.choices)}"
    if spec.minimum is None:
        return f"default: {default}"
    if spec.maximum is None:
        return f"default: {default}; at least {spec.minimum:g}"
    return f"default: {default}; {spec.minimum:g} to {spec.maximum:g}"
