"""Interactive work beside batch jobs (issue 15): single predictions and a small job's
turnaround while big jobs run, and a batch job's speed, per worker topology.

Usage:
    python bench/job_sharing.py [--topology NAME ...] [--big 3000 30000] [--repeats 2]
                                [--requests 200] [--write-docs]

A private stack (harness.deployment: its own Redis and PostgreSQL, gunicorn with the
project's gunicorn.conf.py, an untrained model) is started once per topology, with
the workers that topology names (`service` is what `make run` starts today,
harness.workers.SERVICE_WORKERS; `shared` is the one worker for `inference,batch`
that ran before issue 15). Every request goes through HTTP, anonymously; batch jobs
upload a zip of the CIFAR-10 mini archive's test images, repeated. Per topology:

1. single predictions, one after another (POST /api/v1/predict/): p50, p95 and max
   with nothing else running (`--requests` of them), and while a job of each `--big`
   size runs (from the start of its upload to its last stored row; up to
   `--requests` per job, `--repeats` jobs pooled);
2. the turnaround (submit to its last row) of a 10-image job alone, and submitted
   as soon as the submit of a `--big` job returned (medians of `--repeats`; the big
   job is cancelled once the small one finished);
3. a job of the first `--big` size alone, end to end (upload to last row) as a
   share of ml_core's raw forward rate measured just before it over as many
   images (bench/jobs_throughput.py's method; medians of `--repeats`), in a process
   at the batch workers' CPU priority; and the same for the jobs of step 1, with
   predictions asked beside them.

The machine's cores are shared (by the load generator, the web and the workers, and
perhaps others): compare the ratios within a run. `--write-docs` replaces the issue
15 section of docs/benchmarks.md with the table.
"""

from __future__ import annotations

import argparse
import io
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "classifier_site.settings")

import requests  # noqa: E402

from harness.deployment import Deployment, artifacts_for_untrained_model  # noqa: E402
from harness.postgres import PrivatePostgres  # noqa: E402
from harness.redis_server import PrivateRedis  # noqa: E402
from harness.web import WebServer  # noqa: E402
from harness.workers import BACKGROUND_NICENESS, SERVICE_WORKERS, WorkerRole  # noqa: E402

MINI_ARCHIVE = ROOT / "data" / "cifar-10-mini" / "cifar-10-python.tar.gz"
CLASS_NAMES = ["airplane", "automobile", "bird", "cat", "deer",
               "dog", "frog", "horse", "ship", "truck"]  # fmt: skip
SMALL_JOB = 10
JOB_TIMEOUT_SECONDS = 1800
ONE_THREAD = {"INFERENCE_THREADS": "1"}
TOPOLOGIES: dict[str, tuple[WorkerRole, ...]] = {
    # Before issue 15 (the Procfile's): one worker, 2 processes, for both queues.
    "shared": (
        WorkerRole("inference", "inference,batch", 2, 32, ONE_THREAD),
        WorkerRole("training", "training", 1, 1),
    ),
    # A worker of its own for single predictions, the job workers at the same priority.
    "split": (
        WorkerRole("inference", "inference", 1, 32, ONE_THREAD),
        WorkerRole("batch", "batch", 2, 1, ONE_THREAD),
        WorkerRole("training", "training", 1, 1),
    ),
    # The same with the job workers at the lowest CPU priority.
    "split-nice19": (
        WorkerRole("inference", "inference", 1, 32, ONE_THREAD),
        WorkerRole("batch", "batch", 2, 1, {**ONE_THREAD, "WORKER_NICENESS": "19"}),
        WorkerRole("training", "training", 1, 1, {"WORKER_NICENESS": "19"}),
    ),
    "service": SERVICE_WORKERS,  # what `make run` starts (WORKER_NICENESS=10 for jobs)
}
DOCS = ROOT / "docs" / "benchmarks.md"
DOCS_HEADING = "## Interactive work beside batch jobs (issue 15)"


# --- the images ------------------------------------------------------------------


def mini_pngs() -> list[bytes]:
    from ml_core.datasets import load_cifar
    from ml_core.preprocessing import encode_png

    return [encode_png(image) for image in load_cifar(MINI_ARCHIVE).test.images]


def zip_of(pngs: list[bytes], count: int) -> bytes:
    """`count` images (the given ones, repeated) in one zip, stored uncompressed."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
        for index in range(count):
            archive.writestr(f"{index}.png", pngs[index % len(pngs)])
    return buffer.getvalue()


# --- talking to the stack ----------------------------------------------------------


@dataclass
class Submitted:
    job_id: int
    key: str
    started: float  # time.time() when its upload began


class StackClient:
    def __init__(self, deployment: Deployment, web: WebServer) -> None:
        self.deployment, self.url = deployment, web.url
        self.session = requests.Session()
        self.failures = 0

    def predict_ms(self, png: bytes) -> float:
        """Milliseconds until the answer; a failure (no answer within the stack's
        PREDICTION_TIMEOUT_SECONDS) counts with the time it took, and is counted."""
        started = time.perf_counter()
        try:
            response = self.session.post(f"{self.url}/api/v1/predict/", timeout=120,
                                         files={"image": ("a.png", png, "image/png")})  # fmt: skip
            response.raise_for_status()
        except requests.RequestException as exc:
            self.failures += 1
            print(f"  prediction failed: {exc}", flush=True)
        return (time.perf_counter() - started) * 1000

    def submit(self, archive: bytes) -> Submitted:
        started = time.time()
        files = {"archive": ("job.zip", archive, "application/zip")}
        response = requests.post(f"{self.url}/api/v1/batch-jobs/", files=files,
                                 timeout=JOB_TIMEOUT_SECONDS)  # fmt: skip
        if response.status_code != 202:
            raise RuntimeError(f"submit: {response.status_code} {response.text[:300]}")
        body = response.json()
        return Submitted(body["id"], body["access_key"], started)

    def cancel(self, job: Submitted) -> None:
        requests.post(f"{self.url}/api/v1/batch-jobs/{job.job_id}/cancel/",
                      headers={"X-Job-Key": job.key}, timeout=60)  # fmt: skip

    def finished_at(self, job_id: int) -> float | None:
        """The job's end (its last chunk stamps it), or None while it runs."""
        status, finished = self.deployment.postgres.query(
            "SELECT status, extract(epoch FROM finished_at) FROM training_job WHERE id = %s",
            job_id,
        )[0]
        if status in {"succeeded", "failed", "cancelled"}:
            return float(finished)
        return None

    def wait(self, job: Submitted) -> float:
        """Seconds from the start of the job's upload to its end."""
        deadline = time.monotonic() + JOB_TIMEOUT_SECONDS
        while (finished := self.finished_at(job.job_id)) is None:
            if time.monotonic() > deadline:
                raise TimeoutError(f"job {job.job_id} did not finish")
            time.sleep(0.1)
        return finished - job.started


# --- the measurements --------------------------------------------------------------


@dataclass
class Row:
    latencies: dict[str, list[float]] = field(default_factory=dict)  # "idle", "3000", ...
    turnaround: dict[str, list[float]] = field(default_factory=dict)  # "alone", "3000", ...
    rate_shares: list[float] = field(default_factory=list)
    rate_shares_busy: list[float] = field(default_factory=list)  # with predictions beside
    failures: int = 0  # single predictions that failed


def during_job(stack: StackClient, archive: bytes, pngs: list[bytes], requests_: int) -> tuple:
    """Sequential single predictions from the start of a job's upload to its end: all
    of them, those asked once the upload had returned (the web stores the images while
    it runs: work no worker topology moves), and the job's seconds."""
    submitted: list[Submitted] = []
    upload = threading.Thread(target=lambda: submitted.append(stack.submit(archive)))
    upload.start()
    latencies: list[float] = []
    after_upload: list[float] = []
    while len(latencies) < requests_:
        uploaded = bool(submitted)
        latencies.append(stack.predict_ms(pngs[len(latencies) % len(pngs)]))
        if uploaded:
            after_upload.append(latencies[-1])
        if submitted and stack.finished_at(submitted[0].job_id) is not None:
            break
    upload.join()
    seconds = stack.wait(submitted[0])
    return latencies, after_upload, seconds


def measure(
    stack: StackClient, arguments, pngs: list[bytes], forward: RawForward, row: Row
) -> None:

    archives = {size: zip_of(pngs, size) for size in arguments.big}
    small = zip_of(pngs[100:], SMALL_JOB)
    for png in pngs[:20]:  # every process loads TensorFlow and the model first
        stack.predict_ms(png)
    stack.wait(stack.submit(archives[arguments.big[0]]))

    row.latencies["idle"] = [stack.predict_ms(pngs[i % len(pngs)])
                             for i in range(arguments.requests)]  # fmt: skip
    first = arguments.big[0]
    for _ in range(arguments.repeats):
        row.turnaround.setdefault("alone", []).append(stack.wait(stack.submit(small)))
        raw = forward.rate(first)
        row.rate_shares.append(first / stack.wait(stack.submit(archives[first])) / raw)
        for size in arguments.big:
            latencies, after_upload, seconds = during_job(
                stack, archives[size], pngs, arguments.requests
            )
            row.latencies.setdefault(str(size), []).extend(latencies)
            row.latencies.setdefault(f"{size} uploaded", []).extend(after_upload)
            if size == first:
                row.rate_shares_busy.append(size / seconds / raw)
            big = stack.submit(archives[size])
            row.turnaround.setdefault(str(size), []).append(stack.wait(stack.submit(small)))
            stack.cancel(big)
            stack.wait(big)
        row.failures = stack.failures
        print(f"  repeat done: {summary_line(row, arguments.big)}", flush=True)


# The raw forward pass runs at the batch workers' CPU priority, in a session of its
# own as they do: on a machine shared with other work, niced workers get less CPU,
# and the share of the raw rate should measure the job's overheads, not that.
FORWARD_PROGRAM = """
import sys, time
import numpy as np
from classifier_site.cpu_priority import lower_cpu_priority
lower_cpu_priority(int(sys.argv[2]))
from ml_core.predictor import Predictor
predictor, batch = Predictor(sys.argv[1]), 64
for line in sys.stdin:
    images = np.random.default_rng(0).integers(0, 256, (int(line), 32, 32, 3), np.uint8)
    predictor.predict_pixels(images[:batch])
    started = time.perf_counter()
    for start in range(0, len(images), batch):
        predictor.predict_pixels(images[start : start + batch])
    print(len(images) / (time.perf_counter() - started), flush=True)
"""


class RawForward:
    """ml_core's batched forward pass (batch 64) in a process of its own."""

    def __init__(self, model: Path, niceness: int) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-c", FORWARD_PROGRAM, str(model), str(niceness)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=ROOT,
            start_new_session=True,
        )  # fmt: skip
        assert self.process.stdin is not None  # PIPE
        assert self.process.stdout is not None
        self.requests, self.answers = self.process.stdin, self.process.stdout

    def rate(self, images: int) -> float:
        self.requests.write(f"{images}\n")
        self.requests.flush()
        return float(self.answers.readline())

    def stop(self) -> None:
        self.requests.close()
        self.process.wait(timeout=60)


# --- the table ---------------------------------------------------------------------


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[int(share * (len(ordered) - 1))]


def summary_line(row: Row, big: list[int]) -> str:
    parts = [f"idle p95 {percentile(row.latencies['idle'], 0.95):.0f} ms"]
    parts += [f"{size} p95 {percentile(row.latencies[str(size)], 0.95):.0f} ms"
              for size in big if str(size) in row.latencies]  # fmt: skip
    return ", ".join(parts)


def table(rows: dict[str, Row], big: list[int]) -> str:
    lines = []
    header = "| topology | single prediction p50 / p95 / max (ms): idle |"
    header += "".join(f" during {size:,} |" for size in big)
    header += " p95 during / idle |"
    header += " the same once the upload returned |"
    header += " 10-image job turnaround (s): alone |"
    header += "".join(f" behind {size:,} |" for size in big)
    header += f" {big[0]:,}-image job e2e / raw forward: alone | beside predictions |"
    lines.append(header)
    lines.append("|" + " --- |" * header.count(" |"))
    for name, row in rows.items():
        cells = [name + (f" ({row.failures} predictions failed)" if row.failures else ""),
                 spread(row.latencies["idle"])]  # fmt: skip
        cells += [spread(row.latencies[str(size)]) for size in big]
        idle = percentile(row.latencies["idle"], 0.95)
        ratios = [percentile(row.latencies[str(size)], 0.95) / idle for size in big]
        cells.append(" / ".join(f"{ratio:.1f}x" for ratio in ratios))
        cells.append(" / ".join(uploaded_ratio(row, size, idle) for size in big))
        cells.append(f"{statistics.median(row.turnaround['alone']):.1f}")
        cells += [f"{statistics.median(row.turnaround[str(size)]):.1f}" for size in big]
        cells.append(shares(row.rate_shares))
        cells.append(shares(row.rate_shares_busy))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def uploaded_ratio(row: Row, size: int, idle_p95: float) -> str:
    latencies = row.latencies.get(f"{size} uploaded") or []
    if not latencies:
        return "-"
    return f"{percentile(latencies, 0.95) / idle_p95:.1f}x (n={len(latencies)})"


def spread(latencies: list[float]) -> str:
    return (f"{statistics.median(latencies):.0f} / {percentile(latencies, 0.95):.0f} / "
            f"{max(latencies):.0f} (n={len(latencies)})")  # fmt: skip


def shares(values: list[float]) -> str:
    every = " ".join(f"{value:.0%}" for value in values)
    return f"{statistics.median(values):.0%} ({every})"


def write_docs(text: str) -> None:
    """Replace the section (up to the next `## `) or append it."""
    content = DOCS.read_text()
    start = content.find(DOCS_HEADING)
    if start < 0:
        content = content.rstrip("\n") + "\n\n" + text + "\n"
    else:
        end = content.find("\n## ", start + len(DOCS_HEADING))
        content = content[:start] + text + ("\n" + content[end:] if end >= 0 else "\n")
    DOCS.write_text(content)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--topology", action="append", choices=sorted(TOPOLOGIES),
                        help="worker topology to measure (repeatable; default: shared, "
                             "split, service)")  # fmt: skip
    parser.add_argument("--big", type=int, nargs="+", default=[3000, 30000],
                        help="sizes of the big jobs")  # fmt: skip
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--requests", type=int, default=200,
                        help="single predictions idle, and at most per big job")  # fmt: skip
    parser.add_argument("--write-docs", action="store_true",
                        help=f"write the table into {DOCS.relative_to(ROOT)}")  # fmt: skip
    arguments = parser.parse_args()
    chosen = arguments.topology or ["shared", "split", "service"]
    load_before = os.getloadavg()[0]
    pngs = mini_pngs()
    folder = Path(tempfile.mkdtemp(prefix="job-sharing-"))
    artifacts = artifacts_for_untrained_model(folder / "fixture-models", CLASS_NAMES)
    model = Path(artifacts["models_dir"]) / artifacts["artifact_path"]
    services = (PrivateRedis(folder), PrivatePostgres())
    rows: dict[str, Row] = {}
    try:
        for name in chosen:
            print(f"== {name}: {describe(TOPOLOGIES[name])}", flush=True)
            (folder / name).mkdir()
            deployment = Deployment(folder / name, artifacts, services,
                                    **stack_settings(arguments.big))  # fmt: skip
            try:
                deployment.start_service_workers(TOPOLOGIES[name])
                # gunicorn as gunicorn.conf.py (and so `make run`) sets it up
                deployment.web = WebServer(deployment.environment, folder / name / "web.log",
                                           port=deployment.web_port)  # fmt: skip
                rows[name] = Row()
                forward = RawForward(model, batch_niceness(TOPOLOGIES[name]))
                try:
                    client = StackClient(deployment, deployment.web)
                    measure(client, arguments, pngs, forward, rows[name])
                finally:
                    forward.stop()
            finally:
                deployment.stop()
    finally:
        services[0].stop()
        services[1].destroy()
    command = " ".join([".venv/bin/python", "bench/job_sharing.py", *sys.argv[1:]])
    text = report(rows, arguments, command, load_before)
    print("\n" + text)
    if arguments.write_docs:
        write_docs(text)


def batch_niceness(roles: tuple[WorkerRole, ...]) -> int:
    (role,) = [role for role in roles if "batch" in role.queues.split(",")]
    return int(role.environment.get("WORKER_NICENESS", "0"))


def stack_settings(big: list[int]) -> dict[str, str]:
    """Room for the biggest job in one upload, and no rate limits or quotas in the way."""
    biggest = max(big)
    return {
        "API_MAX_FILES": str(biggest),
        "API_MAX_UPLOAD_BYTES": str(biggest * 4096 + 2**20),
        "API_MAX_ARCHIVE_BYTES": str(biggest * 4096 + 2**20),
        "PREDICTION_TIMEOUT_SECONDS": "30",
        "WEB_ACCESS_LOG": "false",
        # Every request is anonymous, from one address: no per-caller quota in the way.
        "QUOTA_ANONYMOUS_QUEUED_IMAGES": "0",
        "QUOTA_ANONYMOUS_ACTIVE_JOBS": "0",
    }


def describe(roles: tuple[WorkerRole, ...]) -> str:
    return "; ".join(
        f"{role.name}: --queues {role.queues} --concurrency {role.concurrency} "
        f"--prefetch-multiplier {role.prefetch}"
        + "".join(f" {key}={value}" for key, value in role.environment.items())
        for role in roles
    )


def report(rows: dict[str, Row], arguments, command: str, load_before: float) -> str:
    topologies = "\n".join(f"- `{name}`: {describe(TOPOLOGIES[name])}" for name in rows)
    return "\n".join([
        DOCS_HEADING, "",
        f"`{command}` (background niceness of `service`: {BACKGROUND_NICENESS}); "
        f"{os.cpu_count()} cores, load average before the run "
        f"{load_before:.1f}.", "",
        topologies, "",
        table(rows, arguments.big),
    ])  # fmt: skip


if __name__ == "__main__":
    main()
