"""Does one heavy upload stall a web process? And what does each hostile upload cost?

Usage:
    python bench/live_check_under_load.py [--checkout NAME=PATH ...] [--rounds 3]
                                          [--seconds 45]

Each checkout (default: this one, as `after`; e.g. `--checkout before=../older-checkout
--checkout after=.`) is served in turn by a private gunicorn with ONE gevent worker
process (its own gunicorn.conf.py, as in production), the checkouts alternating
round after round in one session; Redis, PostgreSQL and an inference worker (an
untrained model) are private and shared by the runs (harness.deployment).

Per run:
1. hostile uploads, one at a time: the web worker's peak resident memory (sampled
   every 10 ms) above its level before the request, the answer and its time;
2. liveness under load: one client posts, again and again, the largest request the
   limits allow, predict/many of 8 solid-colour PNGs of 8000x8000 (8 x 64 MP = the
   512 MP of API_MAX_REQUEST_PIXELS), while another asks GET /api/v1/health/live/
   every 20 ms: p50, p95 and max of its latency, and the worker's peak RSS.

It prints every run, then the medians per checkout. Nothing leaves this machine.
"""

from __future__ import annotations

import argparse
import io
import os
import statistics
import sys
import tempfile
import threading
import time
from functools import cache
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "classifier_site.settings")

import psutil  # noqa: E402
import requests  # noqa: E402
from PIL import Image  # noqa: E402

from harness.deployment import Deployment, artifacts_for_untrained_model  # noqa: E402
from harness.hostile_inputs import bzip2_bomb, lying_size_zip, many_entries_zip  # noqa: E402
from harness.measure import PeakRss  # noqa: E402
from harness.web import WebServer  # noqa: E402

CLASS_NAMES = ["airplane", "automobile", "bird", "cat", "deer",
               "dog", "frog", "horse", "ship", "truck"]  # fmt: skip
LIVE_INTERVAL_SECONDS = 0.02
HEAVY_IMAGES = 8  # x 64 MP: API_MAX_REQUEST_PIXELS (512 MP)
MAX_REQUESTS = 100_000  # a bound on every request loop


@cache
def solid_png(side: int) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (side, side), (30, 120, 200)).save(buffer, "PNG")
    return buffer.getvalue()


def hostile_uploads() -> dict[str, tuple[str, list, bool]]:
    """name -> (endpoint, multipart files, as a superuser)."""
    big = solid_png(8000)
    return {
        "lying-size zip (400 MB as 10 B) -> batch-jobs": (
            "batch-jobs", [("archive", ("a.zip", lying_size_zip()))], False),
        "lying-size zip -> training-images": (
            "training-images", [("archive", ("a.zip", lying_size_zip()))], True),
        "bzip2 bomb (400 MB) -> batch-jobs": (
            "batch-jobs", [("archive", ("b.zip", bzip2_bomb()))], False),
        "100,000-entry zip -> batch-jobs": (
            "batch-jobs", [("archive", ("c.zip", many_entries_zip(100_000)))], False),
        "16 x 64 MP PNG -> predict/many": (
            "predict/many", [("images", (f"{i}.png", big, "image/png")) for i in range(16)], False),
    }  # fmt: skip


def start_web(checkout: Path, deployment: Deployment, folder: Path) -> WebServer:
    """gunicorn from `checkout` with its own gunicorn.conf.py: one gevent process."""
    environment = {**deployment.environment, "PYTHONDONTWRITEBYTECODE": "1"}  # only read
    return WebServer(environment, folder / "web.log", checkout=checkout,
                     worker_class="gevent", workers=1)  # fmt: skip


def web_worker(web: WebServer) -> psutil.Process:
    (worker,) = psutil.Process(web.process.pid).children()
    return worker


def post(url: str, endpoint: str, files: list, headers: dict, data: dict | None = None):
    return requests.post(f"{url}/api/v1/{endpoint}/", files=files, data=data or {},
                         headers=headers, timeout=300)  # fmt: skip


def hostile_run(web: WebServer, token: str) -> dict[str, tuple[float, int, float]]:
    """name -> (peak RSS growth in MB, status, seconds)."""
    results = {}
    worker = web_worker(web)
    for name, (endpoint, files, as_admin) in hostile_uploads().items():
        headers = {"Authorization": f"Token {token}"} if as_admin else {}
        before = worker.memory_info().rss
        started = time.monotonic()
        with PeakRss(worker) as rss:
            response = post(web.url, endpoint, files, headers, {"split": "train"})
        results[name] = ((rss.peak - before) / 2**20, response.status_code,
                         time.monotonic() - started)  # fmt: skip
    return results


def liveness_run(web: WebServer, seconds: float) -> dict:
    heavy = [("images", (f"{i}.png", solid_png(8000), "image/png")) for i in range(HEAVY_IMAGES)]
    stop_at = time.monotonic() + seconds
    latencies: list[float] = []
    statuses: list[int] = []

    def load() -> None:
        for _ in range(MAX_REQUESTS):
            if time.monotonic() >= stop_at:
                return
            statuses.append(post(web.url, "predict/many", heavy, {}).status_code)

    def live() -> None:
        session = requests.Session()
        for _ in range(MAX_REQUESTS):
            if time.monotonic() >= stop_at:
                return
            started = time.perf_counter()
            session.get(f"{web.url}/api/v1/health/live/", timeout=120).raise_for_status()
            latencies.append(time.perf_counter() - started)
            time.sleep(LIVE_INTERVAL_SECONDS)

    worker = web_worker(web)
    before = worker.memory_info().rss
    threads = [threading.Thread(target=load), threading.Thread(target=live)]
    with PeakRss(worker) as rss:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    latencies.sort()
    return {
        "p50_ms": 1000 * statistics.median(latencies),
        "p95_ms": 1000 * latencies[int(0.95 * (len(latencies) - 1))],
        "max_ms": 1000 * latencies[-1],
        "checks": len(latencies),
        "heavy_requests": len(statuses),
        "heavy_statuses": sorted(set(statuses)),
        "peak_rss_growth_mb": (rss.peak - before) / 2**20,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--checkout", action="append", default=[],
                        help="NAME=PATH of a checkout to serve (repeatable)")  # fmt: skip
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=45.0)
    args = parser.parse_args()
    checkouts = dict(item.split("=", 1) for item in args.checkout) or {"after": str(ROOT)}
    folder = Path(tempfile.mkdtemp(prefix="live-check-"))
    print("building the hostile uploads ...", flush=True)
    hostile_uploads()
    artifacts = artifacts_for_untrained_model(folder / "fixture-models", CLASS_NAMES)
    deployment = Deployment(folder, artifacts, PREDICTION_TIMEOUT_SECONDS="120")
    runs: dict[str, list] = {name: [] for name in checkouts}
    try:
        deployment.start_worker("inference")
        token = deployment.manage("issue_token", "bench", "--create").split()[-1]
        deployment.postgres.query(
            "UPDATE auth_user SET is_superuser = true WHERE username = 'bench'"
        )
        for round_number in range(1, args.rounds + 1):
            for name, path in checkouts.items():
                web = start_web(Path(path).resolve(), deployment, folder)
                try:
                    requests.post(f"{web.url}/api/v1/predict/", timeout=60,
                                  files={"image": ("a.png", solid_png(64))})  # fmt: skip
                    hostile = hostile_run(web, token)
                    live = liveness_run(web, args.seconds)
                finally:
                    web.stop()
                runs[name].append((hostile, live))
                report_run(round_number, name, hostile, live)
    finally:
        deployment.stop()
    report_medians(runs)


def report_run(round_number: int, name: str, hostile: dict, live: dict) -> None:
    print(f"\n== round {round_number}: {name} ==")
    for request, (grew, status, seconds) in hostile.items():
        print(f"  {request:<48} {status}  peak RSS +{grew:6.0f} MB  {seconds:5.1f} s")
    print(f"  liveness under load: p50 {live['p50_ms']:.1f} ms, p95 {live['p95_ms']:.1f} ms, "
          f"max {live['max_ms']:.0f} ms ({live['checks']} checks); "
          f"{live['heavy_requests']} heavy requests {live['heavy_statuses']}, "
          f"peak RSS +{live['peak_rss_growth_mb']:.0f} MB", flush=True)  # fmt: skip


def report_medians(runs: dict[str, list]) -> None:
    print("\n== medians over the rounds ==")
    for name, results in runs.items():
        if not results:
            continue
        print(f"{name}:")
        for request in results[0][0]:
            grew = statistics.median(hostile[request][0] for hostile, _ in results)
            statuses = sorted({hostile[request][1] for hostile, _ in results})
            print(f"  {request:<48} {statuses}  peak RSS +{grew:.0f} MB")
        for key in ("p50_ms", "p95_ms", "max_ms", "peak_rss_growth_mb", "heavy_requests"):
            print(f"  {key}: {statistics.median(live[key] for _, live in results):.1f}")


if __name__ == "__main__":
    main()
