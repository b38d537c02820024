"""Single-image latency and batched throughput of `Predictor` against `model.predict`.

Usage:
    python bench/predictor_latency.py [--model-dir models/<version>] [--repeats 200]

Without --model-dir a freshly initialised model of the production architecture is
saved and loaded (speed does not depend on the weights' values). Everything is
measured in one run, so compare the ratios: timings on a shared machine are noisy.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from ml_core.artifacts import save_untrained_model
from ml_core.model import count_flops
from ml_core.predictor import Predictor
from ml_core.preprocessing import INPUT_SHAPE, encode_png, to_model_input

BATCH_SIZES = (1, 8, 32, 64, 128, 256)
THROUGHPUT_SECONDS = 2.0
WARMUP_CALLS = 5


def percentile(samples: list[float], fraction: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def time_calls(function, repeats: int) -> list[float]:
    for _ in range(WARMUP_CALLS):
        function()
    durations = []
    for _ in range(repeats):
        started = time.perf_counter()
        function()
        durations.append((time.perf_counter() - started) * 1000)
    return durations


def throughput(function, batch_size: int) -> float:
    for _ in range(WARMUP_CALLS):
        function()
    images, started = 0, time.perf_counter()
    while time.perf_counter() - started < THROUGHPUT_SECONDS:
        function()
        images += batch_size
    return images / (time.perf_counter() - started)


def load_predictor(model_dir: str | None, scratch: Path) -> Predictor:
    if model_dir:
        return Predictor(model_dir)
    directory = save_untrained_model(
        scratch / "bench-model",
        [f"class{index}" for index in range(10)],
        dataset_fingerprint="benchmark",
        # Like a trained version: the timed path includes the calibration step.
        calibration={"method": "temperature", "temperature": 1.5},
    )
    return Predictor(directory)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model-dir", help="artefact directory of a trained version")
    parser.add_argument("--repeats", type=int, default=200)
    arguments = parser.parse_args()

    import tensorflow as tf

    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 256, (256, *INPUT_SHAPE), dtype=np.uint8)
    images = to_model_input(pixels)  # what the network itself takes
    png = encode_png(pixels[0])
    with tempfile.TemporaryDirectory() as scratch:
        predictor = load_predictor(arguments.model_dir, Path(scratch))
        model = predictor.model
        print(
            f"model: {model.count_params():,} parameters, "
            f"{count_flops(model) / 1e6:.1f} MFLOPs per image; "
            f"TensorFlow {tf.__version__}, {os.cpu_count()} CPU cores"
        )
        one, one_pixels = images[:1], pixels[:1]
        single = {
            "Predictor.predict_pixels (tf.function)": lambda: predictor.predict_pixels(one_pixels),
            "Predictor.predict (PNG bytes, with decoding)": lambda: predictor.predict([png]),
            "model(x, training=False) (eager)": lambda: model(one, training=False),
            "model.predict(x) (per call)": lambda: model.predict(one, verbose=0),
        }
        print(f"\nsingle-image latency, {arguments.repeats} calls each (ms)")
        print(f"{'method':<46}{'p50':>8}{'p95':>8}{'mean':>8}")
        medians = {}
        for name, function in single.items():
            samples = time_calls(function, arguments.repeats)
            medians[name] = statistics.median(samples)
            print(
                f"{name:<46}{medians[name]:>8.2f}{percentile(samples, 0.95):>8.2f}"
                f"{statistics.fmean(samples):>8.2f}"
            )
        ratio = (
            medians["model.predict(x) (per call)"]
            / medians["Predictor.predict_pixels (tf.function)"]
        )
        print(f"model.predict p50 / Predictor p50 = {ratio:.1f}x")

        print(f"\nbatched throughput, {THROUGHPUT_SECONDS:.0f} s per batch size (images/s)")
        print(f"{'batch':>6}{'Predictor':>12}{'model.predict':>15}")
        for batch_size in BATCH_SIZES:
            batch, batch_pixels = images[:batch_size], pixels[:batch_size]
            ours = throughput(lambda p=batch_pixels: predictor.predict_pixels(p), batch_size)
            keras_predict = throughput(
                lambda batch=batch: model.predict(batch, batch_size=len(batch), verbose=0),
                batch_size,
            )
            print(f"{batch_size:>6}{ours:>12.0f}{keras_predict:>15.0f}")


if __name__ == "__main__":
    main()
