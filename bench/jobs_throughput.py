"""Throughput of inference through Celery workers, against ml_core's raw speed.

Usage:
    python bench/jobs_throughput.py [--images 2000] [--repeat 3] [--requests 400]

Starts its own workers (real `celery worker` processes) on a private SQLite
database, media folder and Redis database 14, then measures in one run:

1. ml_core's raw batched forward pass (Predictor.predict_pixels, batch 64), and
   decode + preprocess + forward from PNG bytes (Predictor.predict);
2. a batch-inference job end to end (submit to all rows stored), and how long the
   submit call itself took (workers start on the first chunks while it stores the
   rest), with 1 worker process using all cores and with 1 and 2 worker processes
   of one TensorFlow thread each, `--repeat` times each; every job uploads images
   never stored before, as users' uploads are;
3. single predictions through the queue at 1, 8 and 32 concurrent callers, with
   micro-batching on (max batch 32, max delay 10 ms) and off.

Timings on a shared 2-core machine are noisy: compare the ratios within a run.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from harness.django_env import private_django

SCRATCH, REDIS_URL = private_django("jobs-bench-")

import numpy as np  # noqa: E402
import redis  # noqa: E402
from django.core.management import call_command  # noqa: E402

from harness.measure import cpu_seconds  # noqa: E402
from harness.workers import Worker  # noqa: E402
from jobs.models import Job  # noqa: E402
from ml_core.artifacts import save_untrained_model  # noqa: E402
from ml_core.predictor import Predictor  # noqa: E402
from ml_core.preprocessing import INPUT_SHAPE, encode_png  # noqa: E402
from predictions import batch  # noqa: E402
from predictions.single import predict_image  # noqa: E402
from training.models import ModelVersion  # noqa: E402

FORWARD_BATCH = 64
WORKER_ENVIRONMENT = {
    "SQLITE_PATH": os.environ["SQLITE_PATH"],
    "MEDIA_ROOT": os.environ["MEDIA_ROOT"],
    "MODELS_DIR": os.environ["MODELS_DIR"],
    "REDIS_URL": REDIS_URL,
}


def set_up_model() -> Predictor:
    directory = save_untrained_model(
        SCRATCH / "models" / "bench",
        [f"class{index}" for index in range(10)],
        dataset_fingerprint="benchmark",
    )
    ModelVersion.objects.create(
        number=1,
        artifact_path=directory.name,
        status=ModelVersion.Status.PRODUCTION,
        class_names=[f"class{index}" for index in range(10)],
        dataset_fingerprint="benchmark",
    )
    return Predictor(directory)


def raw_throughput(
    predictor: Predictor, arrays: np.ndarray, pngs: list[bytes]
) -> tuple[float, float]:
    for _ in range(3):
        predictor.predict_pixels(arrays[:FORWARD_BATCH])
    forward = forward_throughput(predictor, arrays)
    started = time.perf_counter()
    for start in range(0, len(pngs), FORWARD_BATCH):
        predictor.predict(pngs[start : start + FORWARD_BATCH])
    with_decoding = len(pngs) / (time.perf_counter() - started)
    return forward, with_decoding


def forward_throughput(predictor: Predictor, arrays: np.ndarray) -> float:
    started = time.perf_counter()
    for start in range(0, len(arrays), FORWARD_BATCH):
        predictor.predict_pixels(arrays[start : start + FORWARD_BATCH])
    return len(arrays) / (time.perf_counter() - started)


def start_workers(count: int, logs: Path, **environment) -> list[Worker]:
    return [
        Worker(
            f"bench{index}",
            {**WORKER_ENVIRONMENT, **{k: str(v) for k, v in environment.items()}},
            logs / f"bench{index}-{time.monotonic_ns()}.log",
            prefetch=int(environment.get("INFERENCE_MAX_BATCH_SIZE", 32)),
        )
        for index in range(count)
    ]


def warm_up(workers: list[Worker], png: bytes) -> None:
    """Make every worker load TensorFlow and the model before anything is timed."""
    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(lambda _: predict_image(png), range(8 * len(workers))))


def random_images(count: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (count, *INPUT_SHAPE), np.uint8)


def random_pngs(count: int, seed: int) -> list[bytes]:
    return [encode_png(image) for image in random_images(count, seed)]


def batch_job_throughput(pngs: list[bytes], workers: list[Worker]) -> dict:
    """Images/s from submit to all rows stored, seconds the submit call took, and CPU
    ms per image in this (the submitting) process and in the workers' processes."""
    images = [batch.UploadedImage(f"{index}.png", content) for index, content in enumerate(pngs)]

    def cpu_used() -> tuple[float, float]:
        """This process alone (its children are the workers), and the workers' trees."""
        pools = sum(cpu_seconds(worker.process.pid) for worker in workers)
        return cpu_seconds(os.getpid(), children=False), pools

    cpu_before = cpu_used()
    started = time.time()
    job = batch.submit_batch_job(images)
    queued = time.time()
    # The worker stamps finished_at as it stores the last rows, so polling can be
    # slow and take no CPU from the workers being measured (workers share this clock).
    while not Job.objects.get(pk=job.pk).is_finished:
        time.sleep(0.2)
    cpu_after = cpu_used()
    job.refresh_from_db()
    assert job.finished_at is not None  # stamped when the job finished
    return {
        "rate": len(pngs) / (job.finished_at.timestamp() - started),
        "submit": queued - started,
        "status": job.status,
        "submit_cpu": (cpu_after[0] - cpu_before[0]) * 1000 / len(pngs),
        "worker_cpu": (cpu_after[1] - cpu_before[1]) * 1000 / len(pngs),
    }


def single_predictions(pngs: list[bytes], callers: int) -> dict:
    def timed(content: bytes) -> tuple[float, int]:
        started = time.perf_counter()
        result = predict_image(content)
        return (time.perf_counter() - started) * 1000, result.batch_size

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=callers) as pool:
        outcomes = list(pool.map(timed, pngs))
    elapsed = time.perf_counter() - started
    latencies = sorted(latency for latency, _ in outcomes)
    return {
        "p50": statistics.median(latencies),
        "p95": latencies[int(0.95 * (len(latencies) - 1))],
        "throughput": len(pngs) / elapsed,
        "batch": statistics.fmean(size for _, size in outcomes),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=2000, help="images per batch job")
    parser.add_argument("--repeat", type=int, default=3, help="batch jobs per configuration")
    parser.add_argument("--requests", type=int, default=400, help="single predictions per row")
    arguments = parser.parse_args()

    redis.Redis.from_url(REDIS_URL).flushdb()
    call_command("migrate", verbosity=0)
    predictor = set_up_model()
    pixels = random_images(arguments.images, seed=0)
    pngs = [encode_png(image) for image in pixels]
    logs = SCRATCH / "logs"
    logs.mkdir()

    arrays = pixels  # uint8: Predictor scales them itself
    forward, with_decoding = raw_throughput(predictor, arrays, pngs)
    cpu_before = cpu_seconds(os.getpid(), children=False)
    forward_throughput(predictor, arrays)
    forward_cpu = (cpu_seconds(os.getpid(), children=False) - cpu_before) * 1000 / len(pixels)
    print(f"ml_core raw, batch {FORWARD_BATCH}: forward {forward:.0f} images/s "
          f"({forward_cpu:.2f} ms of CPU per image); "
          f"decode + preprocess + forward {with_decoding:.0f} images/s")  # fmt: skip

    # This machine's speed drifts over a minute: each job is compared with a raw
    # forward pass over as many images measured just before it.
    print(f"\nbatch-inference job of {len(pngs)} new images, {arguments.repeat} runs each "
          "(images/s and % of the raw forward pass measured just before each job: "
          "medians, then every run)")  # fmt: skip
    print(f"{'worker processes':<22}{'end to end':>20}{'submit call':>14}"
          f"{'CPU ms/image: submit':>23}{'workers':>9}   every run")  # fmt: skip
    results = {}
    seed = 1
    for count, threads in ((1, 0), (1, 1), (2, 1)):
        label = f"{count} x {'all cores' if threads == 0 else f'{threads} thread'}"
        workers = start_workers(count, logs, INFERENCE_THREADS=threads)
        warm_up(workers, pngs[0])
        runs, ratios = [], []
        for _ in range(arguments.repeat):
            new_pngs = random_pngs(arguments.images, seed)
            raw = forward_throughput(predictor, arrays)
            runs.append(batch_job_throughput(new_pngs, workers))
            ratios.append(runs[-1]["rate"] / raw)
            seed += 1
        from_submit, submit_seconds, submit_cpu, worker_cpu = (
            statistics.median(run[key] for run in runs)
            for key in ("rate", "submit", "submit_cpu", "worker_cpu")
        )
        statuses = {run["status"] for run in runs}
        results[(count, threads)] = from_submit
        every_run = " ".join(f"{ratio:.0%}" for ratio in ratios)
        print(f"{label:<22}{from_submit:>12.0f} ({statistics.median(ratios):>4.0%})"
              f"{submit_seconds:>12.2f} s{submit_cpu:>23.2f}{worker_cpu:>9.2f}   {every_run}"
              f"  {'/'.join(sorted(statuses))}")  # fmt: skip
        for worker in workers:
            worker.stop()
    print(f"2 worker processes / 1 (one thread each) = {results[(2, 1)] / results[(1, 1)]:.2f}x")

    print(f"\nsingle predictions through the queue, {arguments.requests} requests per row")
    header = ("micro-batching", "callers", "p50 ms", "p95 ms", "req/s", "mean batch")
    print("{:<16}{:>8}{:>9}{:>9}{:>8}{:>12}".format(*header))
    for label, environment in (
        ("on (32, 10 ms)", {"INFERENCE_MAX_BATCH_SIZE": 32, "INFERENCE_MAX_DELAY_SECONDS": 0.01}),
        ("off", {"INFERENCE_MAX_BATCH_SIZE": 1}),
    ):
        workers = start_workers(1, logs, **environment)
        warm_up(workers, pngs[0])
        for callers in (1, 8, 32):
            row = single_predictions(pngs[: arguments.requests], callers)
            print(f"{label:<16}{callers:>8}{row['p50']:>9.1f}{row['p95']:>9.1f}"
                  f"{row['throughput']:>8.0f}{row['batch']:>12.1f}")  # fmt: skip
        for worker in workers:
            worker.stop()


if __name__ == "__main__":
    main()
