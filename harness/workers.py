"""Celery processes: workers (prefork pool) and beat, as the Procfile starts them."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from harness.processes import spawn, terminate

READY_TIMEOUT_SECONDS = 90


@dataclass(frozen=True)
class WorkerRole:
    """One kind of Celery worker of the service: its queues, pool processes, prefetch
    and the environment it runs with."""

    name: str
    queues: str
    concurrency: int
    prefetch: int
    environment: Mapping[str, str] = field(default_factory=dict)


# Niceness of the workers that run jobs (WORKER_NICENESS): interactive work and the
# web take the CPU first; bench/job_sharing.py measured the choice.
BACKGROUND_NICENESS = "19"

# The workers `make run` starts (the Procfile's; tests/test_run_service.py holds the
# two together): single predictions have a worker of their own, so they never wait
# behind batch chunks, and the job workers yield the CPU to it.
SERVICE_WORKERS = (
    WorkerRole("inference", "inference", 1, 32, {"INFERENCE_THREADS": "1", "WORKER_NICENESS": "0"}),
    WorkerRole("batch", "batch", 2, 1,
               {"INFERENCE_THREADS": "1", "WORKER_NICENESS": BACKGROUND_NICENESS}),
    WorkerRole("training", "training", 1, 1, {"WORKER_NICENESS": BACKGROUND_NICENESS}),
)  # fmt: skip


def celery_command(*arguments: str) -> list[str]:
    return [sys.executable, "-m", "celery", "-A", "classifier_site", *arguments]


class Worker:
    """One `celery worker` (prefork pool) in a process group of its own, its output in
    `log_path`. Started ready: its log says " ready." (which needs loglevel INFO), unless
    `wait=False`. `command_prefix` runs it through another program (`ip netns exec NS`)."""

    def __init__(
        self,
        name: str,
        environment: Mapping[str, str],
        log_path: Path,
        *,
        queues: str = "inference,batch",
        prefetch: int = 32,
        concurrency: int = 1,
        hostname: str | None = None,
        loglevel: str = "INFO",
        command_prefix: Sequence[str] = (),
        wait: bool = True,
    ) -> None:
        self.name = hostname or f"{name}@{socket.gethostname()}"
        self.log_path = log_path
        command = celery_command(
            "worker", "--queues", queues, "--concurrency", str(concurrency),
            "--pool", "prefork", "--prefetch-multiplier", str(prefetch),
            "--hostname", self.name, "--without-gossip", "--without-mingle",
            "--loglevel", loglevel,
        )  # fmt: skip
        self.process = spawn([*command_prefix, *command], log_path, environment)
        if wait:
            self.wait_until_ready()

    def wait_until_ready(self, timeout: float = READY_TIMEOUT_SECONDS) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if " ready." in self.output():
                return
            if self.process.poll() is not None:
                break
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"worker {self.name} did not start:\n{self.output()}")

    def kill(self) -> None:
        """SIGKILL the worker and its pool processes, as a crash or OOM kill would."""
        with contextlib.suppress(ProcessLookupError):  # killed already
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=30)

    def stop(self) -> None:
        terminate(self.process)

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")


def start_beat(environment: Mapping[str, str], folder: Path) -> subprocess.Popen:
    """celery beat, its schedule and log (beat.log) in `folder`."""
    command = celery_command("beat", "--schedule", str(folder / "beat-schedule"),
                             "--loglevel", "INFO")  # fmt: skip
    return spawn(command, folder / "beat.log", environment)
