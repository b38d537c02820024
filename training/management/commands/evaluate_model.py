import json

from django.core.management.base import BaseCommand, CommandError, CommandParser

from ml_core.evaluation import format_metrics
from training.management.progress import LoadingBar
from training.models import ModelVersion


class Command(BaseCommand):
    help = (
        "Evaluate a model version on the current included test split and print "
        "accuracy, macro precision/recall/F1, ROC-AUC, per-class metrics and the "
        "confusion matrix. Default: the production version, else the newest."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("version", nargs="?", type=int, help="model version number")
        parser.add_argument(
            "--json", dest="as_json", action="store_true", help="print the metrics as JSON"
        )

    def handle(self, *args, version: int | None, as_json: bool, **options) -> None:
        # Imported here: TensorFlow loads only when a model is actually evaluated.
        from training.pipeline import TrainingDataError, evaluate_version

        model_version = self._choose(version)
        try:
            metrics = evaluate_version(model_version, on_load_progress=LoadingBar("Loading"))
        except TrainingDataError as exc:
            raise CommandError(str(exc)) from exc
        if as_json:
            self.stdout.write(json.dumps(metrics, indent=2))
            return
        self.stdout.write(f"Model version {model_version.number} ({model_version.status})")
        if metrics["test_fingerprint"] != model_version.metrics.get("test_fingerprint"):
            self.stdout.write(
                "note: the test split changed since this version was trained; "
                "these figures differ from the stored ones"
            )
        self.stdout.write(format_metrics(metrics))

    def _choose(self, number: int | None) -> ModelVersion:
        if number is not None:
            try:
                return ModelVersion.objects.get(number=number)
            except ModelVersion.DoesNotExist:
                raise CommandError(f"there is no model version {number}") from None
        chosen = ModelVersion.production() or ModelVersion.objects.first()
        if chosen is None:
            raise CommandError("no model is trained yet: run `manage.py train_model` first")
        return chosen
