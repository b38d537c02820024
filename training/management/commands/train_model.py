import time

from django.core.management.base import BaseCommand, CommandError, CommandParser

from ml_core.config import DEFAULT_BATCH_SIZE, DEFAULT_EPOCHS, DEFAULT_SEED, TrainingConfig
from training.management.progress import EpochBarListener, LoadingBar


class Command(BaseCommand):
    help = (
        "Train a new model version on the included train-split images, evaluate it on "
        "the test split and register it (as a candidate unless --promote)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--epochs", type=int, default=DEFAULT_EPOCHS)
        parser.add_argument("--batch-size", type=int, default=DEFAULT_BATCH_SIZE)
        parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
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
                epochs=options["epochs"], batch_size=options["batch_size"], seed=options["seed"]
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
            f"macro F1 {metrics['f1_macro']:.4f}, ROC-AUC {metrics['roc_auc_ovr_macro']:.4f}. "
            f"Validation accuracy {version.validation_metrics['accuracy']:.4f}."
        )
