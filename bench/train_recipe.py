"""Train the default recipe (or a variant) on a CIFAR archive with several seeds.

For each seed: train on the archive's training images (a stratified, seeded 10% of
them held out for validation and for fitting the calibration temperature), save
the version as the service does, load it through `Predictor` and evaluate it on
the archive's test split, with and without the stored calibration. Then the mean
and spread over the seeds, the model's parameters and MFLOPs per image.

    .venv/bin/python bench/train_recipe.py                      # seeds 42,43,44, default recipe
    .venv/bin/python bench/train_recipe.py --seeds 42 --epochs 30 --label-smoothing 0

Every `TrainingConfig` field is an option (`--weight-decay`, `--cutout-size`, ...).
No database: ml_core and the archive only. Not part of the test suite (it runs
for tens of minutes); docs/model-quality.md shows its output.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


from ml_core.artifacts import build_metadata, save_artifacts
from ml_core.calibration import expected_calibration_error
from ml_core.config import TrainingConfig
from ml_core.datasets import load_cifar
from ml_core.evaluation import evaluate
from ml_core.preprocessing import PREPROCESSING_VERSION, to_model_input

DEFAULT_ARCHIVE = Path("data/cifar-10-mini/cifar-10-python.tar.gz")
DEFAULT_SEEDS = "42,43,44"
# The reference model's cost (issue 8): nothing costlier may be served.
MAX_PARAMETERS = 1_800_000
MAX_MEGAFLOPS = 107.0


def parse_arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--archive", type=Path, default=DEFAULT_ARCHIVE)
    parser.add_argument("--seeds", default=DEFAULT_SEEDS, help="comma-separated")
    parser.add_argument("--log", type=Path, help="append one JSON line per seed to this file")
    parser.add_argument("--name", default="default recipe", help="the run's name in --log")
    parser.add_argument("--verbose", action="store_true", help="print every epoch's metrics")
    for field in dataclasses.fields(TrainingConfig):
        if field.name == "seed":
            continue
        option = "--" + field.name.replace("_", "-")
        if field.type == "bool":
            parser.add_argument(option, action=argparse.BooleanOptionalAction, default=None)
        else:
            # field.type is the annotation's text (from __future__ import annotations)
            kind = {"int": int, "float": float, "str": str}[str(field.type)]
            parser.add_argument(option, type=kind, default=None)
    return parser.parse_args()


def recipe_overrides(arguments: argparse.Namespace) -> dict:
    return {
        field.name: getattr(arguments, field.name)
        for field in dataclasses.fields(TrainingConfig)
        if field.name != "seed" and getattr(arguments, field.name) is not None
    }


class EpochPrinter:
    def __init__(self) -> None:
        self.started = time.monotonic()

    def on_batch_end(self, epoch, batch, batches_per_epoch, metrics) -> None:
        pass

    def on_epoch_end(self, epoch: int, epochs: int, metrics: dict[str, float]) -> None:
        print(
            f"  epoch {epoch:>3}/{epochs}  loss {metrics['loss']:.4f}  "
            f"accuracy {metrics['accuracy']:.4f}  val_accuracy {metrics['val_accuracy']:.4f}  "
            f"learning rate {metrics['learning_rate']:.2e}  "
            f"{time.monotonic() - self.started:.0f} s",
            flush=True,
        )

    def should_stop(self) -> bool:
        return False


def train_one_seed(dataset, config: TrainingConfig, models_dir: Path, verbose: bool) -> dict:
    from ml_core.predictor import Predictor
    from ml_core.training import SilentListener, train_model

    train_images = to_model_input(dataset.train.images)
    started = time.monotonic()
    listener = EpochPrinter() if verbose else SilentListener()
    result = train_model(train_images, dataset.train.labels, dataset.class_names, config, listener)
    wall_seconds = time.monotonic() - started
    directory = save_artifacts(
        result.model,
        models_dir / f"seed-{config.seed}",
        build_metadata(
            class_names=dataset.class_names,
            input_shape=train_images.shape[1:],
            preprocessing_version=PREPROCESSING_VERSION,
            metrics={},
            dataset_fingerprint="",
            training_parameters=config.to_dict(),
            calibration=result.calibration,
        ),
    )
    predictor = Predictor(directory)  # the serving path, with the stored temperature
    raw = predictor.predict_pixels(dataset.test.images, calibrated=False)
    calibrated = predictor.predict_pixels(dataset.test.images)
    metrics = evaluate(dataset.test.labels, calibrated, dataset.class_names)
    return {
        "seed": config.seed,
        "test_accuracy": metrics["accuracy"],
        "validation_accuracy": result.validation_metrics["accuracy"],
        "best_validation_accuracy": max(epoch["val_accuracy"] for epoch in result.history),
        "test_ece_before": expected_calibration_error(raw, dataset.test.labels),
        "test_ece_after": expected_calibration_error(calibrated, dataset.test.labels),
        "validation_ece_before": result.validation_metrics["ece_uncalibrated"],
        "validation_ece_after": result.validation_metrics["ece"],
        "temperature": result.calibration["temperature"],
        "epochs_run": len(result.history),
        "training_seconds": result.duration_seconds,
        "wall_seconds": wall_seconds,
        "f1_macro": metrics["f1_macro"],
    }


def spread(values: list[float]) -> str:
    if len(values) < 2:
        return f"{values[0]:.4f}"
    return (
        f"{statistics.mean(values):.4f} ± {statistics.stdev(values):.4f} (sd), "
        f"range {min(values):.4f}-{max(values):.4f}"
    )


def main() -> None:
    arguments = parse_arguments()
    seeds = [int(seed) for seed in arguments.seeds.split(",")]
    overrides = recipe_overrides(arguments)
    configs = [TrainingConfig(seed=seed, **overrides) for seed in seeds]  # validates first

    import tensorflow as tf

    from ml_core.model import build_model, count_flops

    dataset = load_cifar(arguments.archive)
    model = build_model(dataset.train.images.shape[1:], len(dataset.class_names))
    parameters, megaflops = model.count_params(), count_flops(model) / 1e6
    print(
        f"archive: {arguments.archive} ({len(dataset.train)} training images, "
        f"{len(dataset.test)} test images, {len(dataset.class_names)} classes)"
    )
    print(
        f"model: {parameters:,} parameters (limit {MAX_PARAMETERS:,}), "
        f"{megaflops:.1f} MFLOPs per image (limit {MAX_MEGAFLOPS:g}); "
        f"TensorFlow {tf.__version__}, {os.cpu_count()} CPU cores"
    )
    print(f"recipe: {json.dumps({k: v for k, v in configs[0].to_dict().items() if k != 'seed'})}")
    print()
    header = (
        f"{'seed':>5} {'test acc':>9} {'val acc':>8} {'ECE before':>11} {'ECE after':>10} "
        f"{'T':>6} {'epochs':>7} {'minutes':>8}"
    )
    print("test split: accuracy and ECE (15 bins), before/after temperature scaling")
    print(header, flush=True)
    rows = []
    with tempfile.TemporaryDirectory(prefix="train-recipe-") as models_dir:
        for config in configs:
            row = train_one_seed(dataset, config, Path(models_dir), arguments.verbose)
            rows.append(row)
            print(
                f"{row['seed']:>5} {row['test_accuracy']:>9.4f} "
                f"{row['validation_accuracy']:>8.4f} {row['test_ece_before']:>11.4f} "
                f"{row['test_ece_after']:>10.4f} {row['temperature']:>6.3f} "
                f"{row['epochs_run']:>7} {row['wall_seconds'] / 60:>8.1f}",
                flush=True,
            )
            if arguments.log:
                with arguments.log.open("a") as log:
                    record = {"name": arguments.name, **overrides, **row}
                    log.write(json.dumps(record) + "\n")
    print()
    print(f"test accuracy     {spread([row['test_accuracy'] for row in rows])}")
    print(f"val accuracy      {spread([row['validation_accuracy'] for row in rows])}")
    print(f"test ECE before   {spread([row['test_ece_before'] for row in rows])}")
    print(f"test ECE after    {spread([row['test_ece_after'] for row in rows])}")
    print(f"temperature       {spread([row['temperature'] for row in rows])}")
    print(f"training minutes  {spread([row['wall_seconds'] / 60 for row in rows])}")
    print(f"parameters        {parameters:,}")
    print(f"MFLOPs per image  {megaflops:.1f}")


if __name__ == "__main__":
    main()
