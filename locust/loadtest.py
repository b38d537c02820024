"""Load test: start the stack, run headless Locust scenarios, publish a summary.

    python locust/loadtest.py                      # every scenario x 1, 2, 3 inference processes
    python locust/loadtest.py --scenarios predict-50 --workers 2 --run-time 30
    python locust/loadtest.py --write-docs         # what `make loadtest` runs

For each scenario and inference-process count it starts, on this machine: a private
redis-server, a fresh copy of a prepared SQLite database (migrated, the mini archive
imported, a production model, one API token per simulated user), gunicorn with the
settings of `make run` (gunicorn.conf.py), and one inference worker with
that many pool processes, as the Procfile does. After a warm-up (every pool process
loads TensorFlow and the model) Locust runs headless and writes its CSVs to
locust/results/<scenario>-w<N>_*.csv. The summary table (requests/s, p50, p95, p99
and failure rate per endpoint) goes to locust/results/summary.md and, with
--write-docs, into docs/load-tests.md between the loadtest markers.

The model has random weights unless --model-dir names a trained version's folder:
the architecture, hence the cost of a prediction, is the same.
"""

from __future__ import annotations

import argparse
import csv
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import redis

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from harness.django_env import set_up_django  # noqa: E402
from harness.helpers import wait_until  # noqa: E402
from harness.measure import cpu_seconds  # noqa: E402
from harness.processes import log_tail, spawn, terminate  # noqa: E402
from harness.redis_server import PrivateRedis  # noqa: E402
from harness.web import WebServer  # noqa: E402
from harness.workers import Worker  # noqa: E402

RESULTS = ROOT / "locust" / "results"
VENV_BIN = Path(sys.executable).parent
DOCS_PAGE = ROOT / "docs" / "load-tests.md"
DOCS_BEGIN = "<!-- loadtest-results:begin -->"
DOCS_END = "<!-- loadtest-results:end -->"
MIXED = ["ApiClient", "DashboardViewer", "BatchSubmitter", "Curator"]
WARM_UP_SECONDS = 300
TARGET: dict[str, Any] = {"scenario": "predict-50", "p95_ms": 150, "requests_per_second": 300}


@dataclass(frozen=True)
class Scenario:
    users: int
    spawn_rate: float
    user_classes: list[str]
    description: str
    run_time: int | None = None  # seconds; None: --run-time


SCENARIOS = {
    "predict-50": Scenario(
        50, 50, ["ApiClientNoThinkTime"], "50 API clients predicting single images back to back"
    ),
    "mixed-50": Scenario(50, 10, MIXED, "50 users: API clients, dashboards, batch jobs, curators"),
    "mixed-200": Scenario(200, 20, MIXED, "200 users of the same mix"),
    "burst": Scenario(
        200, 200, ["ApiClientNoThinkTime"], "200 API clients arriving within 1 s", run_time=30
    ),
}


def prepare_template(scratch: Path, users: int, model_dir: Path | None) -> Path:
    """Migrate, import the mini archive, register a model and make one token per user."""
    set_up_django(SQLITE_PATH=str(scratch / "template.sqlite3"))
    from django.contrib.auth.models import Permission, User
    from django.core.management import call_command
    from django.db import connection
    from rest_framework.authtoken.models import Token

    call_command("migrate", verbosity=0)
    call_command("import_cifar", os.environ["LOCUST_CIFAR_ARCHIVE"], verbosity=0)
    register_model(model_dir)
    permission = Permission.objects.get(codename="add_trainingimage")
    tokens = []
    for index in range(users):
        user = User.objects.create_user(f"load-{index:03d}")
        user.user_permissions.add(permission)
        tokens.append(Token.objects.create(user=user).key)
    (scratch / "tokens.txt").write_text("\n".join(tokens) + "\n")
    with connection.cursor() as cursor:
        cursor.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    connection.close()
    return scratch / "template.sqlite3"


def register_model(model_dir: Path | None) -> None:
    from django.conf import settings

    from ml_core.artifacts import load_metadata, save_untrained_model
    from training.models import ModelVersion

    if model_dir:
        target = Path(settings.MODELS_DIR) / model_dir.name
        shutil.copytree(model_dir, target)
        class_names = load_metadata(target)["class_names"]
    else:
        class_names = [
            "airplane", "automobile", "bird", "cat", "deer",
            "dog", "frog", "horse", "ship", "truck",
        ]  # fmt: skip
        target = save_untrained_model(
            Path(settings.MODELS_DIR) / "loadtest-random-weights",
            class_names,
            dataset_fingerprint="loadtest",
        )
    ModelVersion.objects.create(
        number=1, artifact_path=target.name, status=ModelVersion.Status.PRODUCTION,
        class_names=class_names, dataset_fingerprint="loadtest",
    )  # fmt: skip


def write_cpu_use(path: Path, used: dict[str, float], run_time: int) -> None:
    """CPU seconds per component during the Locust run (read with the stats CSV)."""
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["component", "cpu_seconds", "cores_busy"])
        for name, seconds in used.items():
            writer.writerow([name, f"{seconds:.2f}", f"{seconds / run_time:.2f}"])


def http_status(url: str) -> int | None:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code
    except OSError:
        return None


def warm_up(base_url: str, token: str, archive: str, requests: int) -> None:
    """Enough concurrent predictions that every pool process has loaded the model."""
    from urllib3 import PoolManager, encode_multipart_formdata

    from ml_core.datasets import load_cifar
    from ml_core.preprocessing import encode_png

    pixels = load_cifar(archive).test.images[:requests]
    pool = PoolManager(maxsize=16)

    def predict(image) -> int:
        body, content_type = encode_multipart_formdata(
            [("image", ("warm-up.png", encode_png(image), "image/png"))]
        )
        headers = {"Content-Type": content_type, "Authorization": f"Token {token}"}
        return pool.request(
            "POST", f"{base_url}/api/v1/predict/", body=body, headers=headers
        ).status

    # A busy machine can take longer than the web's wait (PREDICTION_TIMEOUT_SECONDS)
    # to load TensorFlow in every pool process: rounds until one fully succeeds.
    deadline = time.monotonic() + WARM_UP_SECONDS
    while True:
        with ThreadPoolExecutor(max_workers=16) as threads:
            statuses = list(threads.map(predict, pixels))
        if set(statuses) == {200}:
            return
        if time.monotonic() > deadline:
            raise SystemExit(f"warm-up predictions still fail: {sorted(set(statuses))}")


def run_scenario(
    name: str, workers: int, arguments, scratch: Path, template: Path, private_redis
) -> Path:
    scenario = SCENARIOS[name]
    label = f"{name}-w{workers}"
    logs = RESULTS / "logs" / label
    shutil.rmtree(logs, ignore_errors=True)  # a fresh stack, fresh logs
    logs.mkdir(parents=True)
    database = scratch / "run.sqlite3"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{database}{suffix}").unlink(missing_ok=True)
    shutil.copyfile(template, database)
    environment = {**os.environ, "SQLITE_PATH": str(database), "INFERENCE_THREADS": "1"}
    base_url = f"http://127.0.0.1:{arguments.port}"
    redis.Redis.from_url(environment["REDIS_URL"]).flushall()  # the run's private Redis
    web = inference = None
    profilers: list[subprocess.Popen] = []
    try:
        # No " ready." line at WARNING: the readiness endpoint's worker census says it.
        inference = Worker(
            "inference", environment, logs / "inference.log", queues="inference,batch",
            prefetch=int(environment.get("INFERENCE_MAX_BATCH_SIZE", "32")),
            concurrency=workers, hostname=f"inference-{label}@%h", loglevel="WARNING",
            wait=False,
        )  # fmt: skip
        web = WebServer(environment, logs / "web.log", port=arguments.port)
        ready = f"{base_url}/api/v1/health/ready/"

        def stack_ready() -> bool:
            for name, process in (("web", web.process), ("inference", inference.process)):
                if process.poll() is not None:
                    log = log_tail(logs / f"{name}.log")
                    raise SystemExit(f"{name} stopped (exit {process.returncode}):\n{log}")
            return http_status(ready) == 200

        wait_until(stack_ready, 120, 0.5, f"{ready} to answer 200")
        token = (scratch / "tokens.txt").read_text().split()[0]
        warm_up(base_url, token, environment["LOCUST_CIFAR_ARCHIVE"], 16 * workers)
        run_time = scenario.run_time or arguments.run_time
        prefix = RESULTS / label
        command = [
            str(VENV_BIN / "locust"), "-f", str(ROOT / "locust" / "locustfile.py"), "--headless",
            "--host", base_url, "--users", str(scenario.users),
            "--spawn-rate", str(scenario.spawn_rate), "--run-time", f"{run_time}s",
            "--csv", str(prefix), "--only-summary", "--stop-timeout", "10",
            "--processes", str(arguments.locust_processes), *scenario.user_classes,
        ]  # fmt: skip
        print(
            f"== {label}: {scenario.description}, {workers} inference process(es), {run_time} s",
            flush=True,
        )
        measured = {"web": web.process, "inference": inference.process,
                    "redis": private_redis.process}  # fmt: skip
        if arguments.profile:
            for name in ("web", "inference"):
                profile = [
                    str(VENV_BIN / "py-spy"), "record", "--pid", str(measured[name].pid),
                    "--subprocesses", "--rate", "50", "--format", "raw",
                    "--duration", str(run_time), "--output", str(logs / f"profile-{name}.txt"),
                ]  # fmt: skip
                profilers.append(spawn(profile, logs / f"py-spy-{name}.log", environment))
        before = {name: cpu_seconds(process.pid) for name, process in measured.items()}
        with (logs / "locust.log").open("w") as log:
            locust = subprocess.Popen(
                command, cwd=ROOT, env=environment, stdout=log, stderr=subprocess.STDOUT
            )
            locust_cpu = 0.0
            while locust.poll() is None:  # its children exit before it does
                locust_cpu = max(locust_cpu, cpu_seconds(locust.pid))
                time.sleep(0.5)
        used = {name: cpu_seconds(process.pid) - before[name] for name, process in measured.items()}
        used["locust"] = locust_cpu
        write_cpu_use(Path(f"{prefix}_cpu.csv"), used, run_time)
        return Path(f"{prefix}_stats.csv")
    finally:
        for process in profilers:  # py-spy writes its profile when interrupted
            if process.poll() is None:
                process.send_signal(signal.SIGINT)
                process.wait(timeout=120)
        terminate(*(started.process for started in (web, inference) if started))


@dataclass
class Row:
    scenario: str
    workers: int
    endpoint: str
    requests: int
    failures: int
    per_second: float
    p50: float
    p95: float
    p99: float

    @property
    def failure_rate(self) -> float:
        return self.failures / self.requests if self.requests else 0.0


def read_stats(path: Path, scenario: str, workers: int) -> list[Row]:
    rows = []
    with path.open() as handle:
        for record in csv.DictReader(handle):
            endpoint = (
                record["Name"] if record["Type"] == "" else f"{record['Type']} {record['Name']}"
            )
            rows.append(
                Row(
                    scenario=scenario,
                    workers=workers,
                    endpoint=endpoint.strip(),
                    requests=int(record["Request Count"]),
                    failures=int(record["Failure Count"]),
                    per_second=float(record["Requests/s"]),
                    p50=float(record["50%"]),
                    p95=float(record["95%"]),
                    p99=float(record["99%"]),
                )
            )
    return rows


def target_verdict(rows: list[Row]) -> list[str]:
    lines = []
    for row in rows:
        if row.scenario != TARGET["scenario"] or row.endpoint != "Aggregated":
            continue
        checks = {
            "zero failures": row.failures == 0,
            f"p95 <= {TARGET['p95_ms']} ms": row.p95 <= TARGET["p95_ms"],
            f">= {TARGET['requests_per_second']} req/s": (
                row.per_second >= TARGET["requests_per_second"]
            ),
        }
        verdict = "met" if all(checks.values()) else "MISSED"
        detail = ", ".join(f"{name}: {'yes' if ok else 'no'}" for name, ok in checks.items())
        lines.append(
            f"- {row.scenario} with {row.workers} inference process(es): target {verdict} "
            f"({row.per_second:.0f} req/s, p95 {row.p95:.0f} ms, {row.failures} failures; {detail})"
        )
    return lines


def cpu_per_request(stats: Path, requests: int) -> dict[str, float]:
    """CPU milliseconds per request of each component, and their total."""
    path = Path(str(stats).replace("_stats.csv", "_cpu.csv"))
    with path.open() as handle:
        used = {row["component"]: float(row["cpu_seconds"]) for row in csv.DictReader(handle)}
    per_request = {name: 1000 * seconds / max(requests, 1) for name, seconds in used.items()}
    per_request["total"] = sum(per_request.values())
    return per_request


def summary(rows: list[Row], cpu: dict[str, dict[str, float]], arguments, started) -> str:
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
    ).stdout.strip()
    cpu_model = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    header = [
        f"Measured {started:%Y-%m-%d %H:%M} UTC at commit {commit} on {os.cpu_count()} cores "
        f"({cpu_model}), load generator on the same machine, by:",
        "",
        "```sh",
        f"{Path(sys.executable).name} locust/loadtest.py " + " ".join(arguments.command_line),
        "```",
        "",
        "| scenario | inference processes | endpoint | requests | req/s | p50 ms | p95 ms "
        "| p99 ms | failures |",
        "| --- | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    body = [
        f"| {row.scenario} | {row.workers} | {row.endpoint} | {row.requests} | "
        f"{row.per_second:.1f} | {row.p50:.0f} | {row.p95:.0f} | {row.p99:.0f} | "
        f"{row.failure_rate:.2%} |"
        for row in rows
    ]
    components = ["web", "inference", "redis", "locust", "total"]
    cpu_table = [
        "",
        "CPU milliseconds per request, by component (user + system time of its processes "
        "during the run, divided by the requests made; 2 cores give 2,000 ms per second):",
        "",
        "| run | " + " | ".join(components) + " |",
        "| --- |" + " ---: |" * len(components),
        *(
            f"| {run} | " + " | ".join(f"{used[name]:.2f}" for name in components) + " |"
            for run, used in cpu.items()
        ),
    ]
    verdict = target_verdict(rows)
    footer = (
        [
            "",
            "Target (50 users predicting, no think time: zero failures, p95 <= 150 ms, "
            ">= 300 req/s):",
            *verdict,
        ]
        if verdict
        else []
    )
    return "\n".join(header + body + cpu_table + footer) + "\n"


def write_docs(text: str) -> None:
    content = DOCS_PAGE.read_text()
    if DOCS_BEGIN not in content or DOCS_END not in content:
        raise SystemExit(f"{DOCS_PAGE} lacks the markers {DOCS_BEGIN} ... {DOCS_END}")
    before, rest = content.split(DOCS_BEGIN, 1)
    after = rest.split(DOCS_END, 1)[1]
    DOCS_PAGE.write_text(f"{before}{DOCS_BEGIN}\n{text}{DOCS_END}{after}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--scenarios",
        default=",".join(SCENARIOS),
        help=f"comma-separated, of: {', '.join(SCENARIOS)}",
    )
    parser.add_argument("--workers", default="1,2,3", help="inference process counts")
    parser.add_argument("--run-time", type=int, default=60, help="seconds per scenario")
    parser.add_argument("--port", type=int, default=8200, help="web server port")
    parser.add_argument(
        "--locust-processes",
        type=int,
        default=1,
        help="Locust load-generating processes (-1: one per core)",
    )
    parser.add_argument("--model-dir", type=Path, help="a trained version's artefact folder")
    parser.add_argument(
        "--archive", default=str(ROOT / "data" / "cifar-10-mini" / "cifar-10-python.tar.gz")
    )
    parser.add_argument(
        "--write-docs", action="store_true", help="publish the table in docs/load-tests.md"
    )
    parser.add_argument(
        "--profile",
        action="store_true",
        help="py-spy the web and inference processes (collapsed stacks in "
        "locust/results/logs/<scenario>/profile-*.txt)",
    )
    arguments = parser.parse_args()
    arguments.command_line = sys.argv[1:]
    scenarios = [name.strip() for name in arguments.scenarios.split(",") if name.strip()]
    unknown = set(scenarios) - set(SCENARIOS)
    if unknown:
        parser.error(f"unknown scenarios: {', '.join(sorted(unknown))}")
    worker_counts = [int(count) for count in arguments.workers.split(",")]

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # stop the stack on the way out
    started = datetime.now(UTC)
    RESULTS.mkdir(parents=True, exist_ok=True)
    with ExitStack() as stack:
        scratch = Path(tempfile.mkdtemp(prefix="loadtest-"))
        stack.callback(shutil.rmtree, scratch, ignore_errors=True)
        os.environ.update(
            DJANGO_SETTINGS_MODULE="classifier_site.settings",
            DJANGO_DEBUG="false",
            MEDIA_ROOT=str(scratch / "media"),
            MODELS_DIR=str(scratch / "models"),
            STATIC_ROOT=str(scratch / "static"),
            LOCUST_CIFAR_ARCHIVE=arguments.archive,
            LOCUST_TOKENS_FILE=str(scratch / "tokens.txt"),
            TF_CPP_MIN_LOG_LEVEL="2",
        )
        (scratch / "static").mkdir()
        private_redis = PrivateRedis(scratch)
        stack.callback(private_redis.stop)
        os.environ["REDIS_URL"] = private_redis.url
        users = max(SCENARIOS[name].users for name in scenarios)
        template = prepare_template(scratch, users, arguments.model_dir)
        rows: list[Row] = []
        cpu: dict[str, dict[str, float]] = {}
        for name in scenarios:
            for workers in worker_counts:
                stats = run_scenario(name, workers, arguments, scratch, template, private_redis)
                found = read_stats(stats, name, workers)
                rows += found
                total = next((row for row in found if row.endpoint == "Aggregated"), None)
                if total is None:
                    continue
                cpu[f"{name}-w{workers}"] = cpu_per_request(stats, total.requests)
                print(
                    f"   {total.per_second:.0f} req/s, p50 {total.p50:.0f} ms, "
                    f"p95 {total.p95:.0f} ms, p99 {total.p99:.0f} ms, "
                    f"{total.failure_rate:.2%} failed; CPU ms per request: "
                    + ", ".join(
                        f"{key} {value:.2f}" for key, value in cpu[f"{name}-w{workers}"].items()
                    ),
                    flush=True,
                )
    text = summary(rows, cpu, arguments, started)
    (RESULTS / "summary.md").write_text(text)
    print("\n" + text)
    if arguments.write_docs:
        write_docs(text)
        print("docs/load-tests.md updated between the loadtest markers.")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except TimeoutError as exc:
        sys.exit(str(exc))
