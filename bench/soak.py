"""Soak: many users of mixed traffic for minutes, with a retrain in the middle.

Usage:
    python bench/soak.py [--users 50] [--duration 600] [--epochs 3]

A plain threaded driver (one thread per user, `requests`), independent of the Locust
suite in locust/. It starts a private deployment (harness.deployment: its own
PostgreSQL cluster and Redis on free ports, gunicorn, two inference workers, a
training worker and celery beat), imports the CIFAR-10 mini archive as training
data, gives every user an API token (so the default per-user rate limits apply),
then runs the users until the duration is over. Halfway, an operator starts a
retrain with auto-promote; the run waits for it to finish.

It prints requests, failures and latency per action, the retrain's outcome, and the
resident memory (RSS) of the web server and of the workers after warm-up and at the
end. It exits 1 if any request failed or the retrain did not succeed.
"""

from __future__ import annotations

import argparse
import io
import os
import random
import statistics
import sys
import tempfile
import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "classifier_site.settings")

import requests  # noqa: E402

from harness.deployment import Deployment, artifacts_for_untrained_model  # noqa: E402
from harness.measure import resident_memory  # noqa: E402
from ml_core.datasets import load_cifar  # noqa: E402
from ml_core.preprocessing import encode_png  # noqa: E402

MINI_ARCHIVE = ROOT / "data" / "cifar-10-mini" / "cifar-10-python.tar.gz"
THINK_SECONDS = (0.5, 1.5)  # pause between one user's requests
KEEP_ALIVE_SECONDS = 10
BATCH_IMAGES = 20
WARM_UP_SECONDS = 15
RETRAIN_TIMEOUT_SECONDS = 900
# (action, weight): what a user does next, chosen at random with these weights.
ACTIONS = [
    ("predict", 50),
    ("predict many (4 images)", 5),
    ("prediction history", 10),
    ("prediction stats", 5),
    ("model info", 10),
    ("model versions", 5),
    ("batch job (20 images, followed to the end)", 3),
    ("readiness", 2),
]


@dataclass
class Results:
    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    failures: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))
    lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, action: str, seconds: float, failure: str | None) -> None:
        with self.lock:
            self.latencies[action].append(seconds)
            if failure:
                self.failures[action].append(failure)


class User:
    def __init__(self, base_url: str, token: str, images: list[bytes], results: Results):
        self.base_url = base_url
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Token {token}"
        self.images = images
        self.results = results

    def run(self, deadline: float) -> None:
        names, weights = zip(*ACTIONS, strict=True)
        while time.monotonic() < deadline:
            action = random.choices(names, weights)[0]
            started = time.monotonic()
            try:
                failure = self.do(action)
            except requests.RequestException as exc:
                failure = f"{type(exc).__name__}: {exc}"
            self.results.record(action, time.monotonic() - started, failure)
            time.sleep(random.uniform(*THINK_SECONDS))

    def call(self, method: str, path: str, expected: int, **options) -> tuple[dict, str | None]:
        response = self.session.request(method, f"{self.base_url}{path}", timeout=60, **options)
        if response.status_code != expected:
            return {}, f"{method} {path}: {response.status_code} {response.text[:200]}"
        is_json = response.headers.get("Content-Type", "").startswith("application/json")
        return (response.json() if is_json else {}), None

    def files(self, field_name: str, count: int) -> list:
        chosen = random.sample(self.images, count)
        return [(field_name, (f"{index}.png", io.BytesIO(image), "image/png"))
                for index, image in enumerate(chosen)]  # fmt: skip

    def do(self, action: str) -> str | None:
        if action == "predict":
            return self.call("POST", "/api/v1/predict/", 200, files=self.files("image", 1))[1]
        if action == "predict many (4 images)":
            return self.call("POST", "/api/v1/predict/many/", 200, files=self.files("images", 4))[1]
        if action == "prediction history":
            query = random.choice(["", "?min_confidence=0.2", "?source=api", "?label=cat"])
            return self.call("GET", f"/api/v1/predictions/{query}", 200)[1]
        if action == "prediction stats":
            return self.call("GET", "/api/v1/predictions/stats/", 200)[1]
        if action == "model info":
            return self.call("GET", "/api/v1/model/", 200)[1]
        if action == "model versions":
            return self.call("GET", "/api/v1/model-versions/", 200)[1]
        if action == "readiness":
            return self.call("GET", "/api/v1/health/ready/", 200)[1]
        return self.batch_job()

    def batch_job(self) -> str | None:
        job, failure = self.call(
            "POST", "/api/v1/batch-jobs/", 202, files=self.files("images", BATCH_IMAGES)
        )
        while not failure and job["status"] in {"queued", "running"}:
            time.sleep(0.5)
            job, failure = self.call("GET", f"/api/v1/batch-jobs/{job['id']}/", 200)
        if not failure and (job["status"], job["processed"]) != ("succeeded", BATCH_IMAGES):
            failure = f"batch job {job['id']}: {job['status']}, {job['processed']} processed"
        return failure


def tokens_for(deployment: Deployment, users: int) -> tuple[list[str], str]:
    """One token per simulated user, and a superuser's token for the operator."""
    script = (
        "from django.contrib.auth.models import User\n"
        "from rest_framework.authtoken.models import Token\n"
        f"for index in range({users}):\n"
        "    user = User.objects.create_user(f'soak-user-{index}')\n"
        "    print('token', Token.objects.create(user=user).key)\n"
        "operator = User.objects.create_superuser('soak-operator')\n"
        "print('token', Token.objects.create(user=operator).key)\n"
    )
    output = deployment.manage("shell", "-c", script).splitlines()
    keys = [line.split()[1] for line in output if line.startswith("token ")]
    return keys[:-1], keys[-1]


def memory_snapshot(deployment: Deployment) -> dict[str, int]:
    """RSS of the web server and of each worker, their children included (gunicorn
    workers, Celery pool processes)."""
    assert deployment.web is not None, "the deployment is started"
    snapshot = {"web (gunicorn, all workers)": resident_memory(deployment.web.process.pid)}
    for worker in deployment.workers:
        snapshot[worker.name.split("@")[0]] = resident_memory(worker.process.pid)
    return snapshot


def start_retrain(deployment: Deployment, token: str, epochs: int) -> int:
    response = requests.post(
        f"{deployment.base_url}/api/v1/training-jobs/",
        json={"epochs": epochs, "auto_promote": True},
        headers={"Authorization": f"Token {token}"},
        timeout=60,
    )
    response.raise_for_status()
    return response.json()["id"]


def set_up(folder: Path, class_names: list[str]) -> Deployment:
    print("starting a private deployment (PostgreSQL, Redis, web, workers, beat)...", flush=True)
    deployment = Deployment(
        folder,
        artifacts_for_untrained_model(folder / "fixture-models", class_names),
        API_RATE_ANONYMOUS="120/m",
        API_RATE_USER="1200/m",
        API_RATE_READ="2400/m",
        JOB_STALE_AFTER_SECONDS="120",
        JOB_RECOVERY_INTERVAL_SECONDS="30",
        INFERENCE_THREADS="1",
    )
    deployment.manage("import_cifar", str(MINI_ARCHIVE))
    # Clients keep connections open between requests; the server must keep them
    # longer than a user's pause, or a request sent as it closes one is reset.
    deployment.start_web(keep_alive_seconds=KEEP_ALIVE_SECONDS)
    deployment.start_worker("inference-1")
    deployment.start_worker("inference-2")
    deployment.start_worker("training", queues="training", prefetch=1)
    deployment.start_beat()
    return deployment


def report(results: Results, duration: float) -> int:
    print(f"\n{'action':45} {'requests':>8} {'failed':>6} {'p50 ms':>8} {'p95 ms':>8}")
    total = failed = 0
    for action, _ in ACTIONS:
        latencies = sorted(results.latencies.get(action, []))
        failures = len(results.failures.get(action, []))
        total, failed = total + len(latencies), failed + failures
        if not latencies:
            continue
        p50 = statistics.median(latencies) * 1000
        p95 = latencies[int(0.95 * (len(latencies) - 1))] * 1000
        print(f"{action:45} {len(latencies):8d} {failures:6d} {p50:8.1f} {p95:8.1f}")
    print(f"{'all':45} {total:8d} {failed:6d}   ({total / duration:.1f} user actions/s)")
    for action, messages in results.failures.items():
        for message in messages[:3]:
            print(f"  failure ({action}): {message}")
    return failed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--duration", type=float, default=600, help="seconds of traffic")
    parser.add_argument("--epochs", type=int, default=3, help="epochs of the retrain")
    arguments = parser.parse_args()

    folder = Path(tempfile.mkdtemp(prefix="soak-"))
    dataset = load_cifar(MINI_ARCHIVE)
    deployment = set_up(folder, dataset.class_names)
    try:
        images = [encode_png(pixels) for pixels in dataset.test.images[:200]]
        tokens, operator = tokens_for(deployment, arguments.users)
        results = Results()
        started = time.monotonic()
        deadline = started + arguments.duration
        users = [
            threading.Thread(
                target=User(deployment.base_url, token, images, results).run, args=(deadline,)
            )
            for token in tokens
        ]
        print(f"{arguments.users} users for {arguments.duration:.0f} s...", flush=True)
        for user in users:
            user.start()
        time.sleep(min(WARM_UP_SECONDS, arguments.duration / 4))
        memory_start = memory_snapshot(deployment)
        time.sleep(max(arguments.duration / 2 - (time.monotonic() - started), 0))
        retrain = start_retrain(deployment, operator, arguments.epochs)
        print(f"retrain started (job {retrain}) at {time.monotonic() - started:.0f} s", flush=True)
        for user in users:
            user.join()
        memory_end = memory_snapshot(deployment)
        elapsed = time.monotonic() - started
        job = deployment.wait_until_finished(retrain, RETRAIN_TIMEOUT_SECONDS)
        failed = report(results, elapsed)
        print(f"\nretrain (job {retrain}, {arguments.epochs} epochs): {job['status']}: "
              f"{job['message']}")  # fmt: skip
        print(f"\n{'resident memory (MB)':45} {'start':>8} {'end':>8} {'change':>8}")
        for name, start in memory_start.items():
            end = memory_end[name]
            print(f"{name:45} {start / 2**20:8.0f} {end / 2**20:8.0f} "
                  f"{(end - start) / 2**20:+8.0f}")  # fmt: skip
        print("(start: after warm-up; end: when the traffic stopped; the training worker's\n"
              " pool process loads TensorFlow for its first job, the retrain)")  # fmt: skip
    finally:
        deployment.stop()
    sys.exit(1 if failed or job["status"] != "succeeded" else 0)


if __name__ == "__main__":
    main()
