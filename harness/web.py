"""The web server: gunicorn with the project's gunicorn.conf.py, as the Procfile, the
image and `make run` start it."""

from __future__ import annotations

import signal
import sys
from collections.abc import Mapping
from pathlib import Path

import requests

from harness.helpers import ROOT, free_port, wait_until
from harness.processes import log_tail, spawn, terminate

START_TIMEOUT_SECONDS = 120


def gunicorn_command(*options: str) -> list[str]:
    """gunicorn serving the project; `options` (such as --bind) win over gunicorn.conf.py
    (relative: the one of the checkout it runs in)."""
    return [sys.executable, "-m", "gunicorn", "classifier_site.wsgi:application",
            "--config", "gunicorn.conf.py", *options]  # fmt: skip


class WebServer:
    """gunicorn on 127.0.0.1:`port` (a free one by default), started and answering
    GET /api/v1/health/live/. Options left at None keep gunicorn.conf.py's value
    (which reads WEB_* from `environment`)."""

    def __init__(
        self,
        environment: Mapping[str, str],
        log_path: Path,
        *,
        port: int | None = None,
        checkout: Path = ROOT,
        worker_class: str | None = None,
        workers: int | None = None,
        threads: int | None = None,
        keep_alive_seconds: int | None = None,
        graceful_timeout_seconds: int | None = None,
    ) -> None:
        self.port = port or free_port(range(8300, 8400))
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = log_path
        chosen = {
            "--worker-class": worker_class,
            "--workers": workers,
            "--threads": threads,
            "--keep-alive": keep_alive_seconds,
            "--graceful-timeout": graceful_timeout_seconds,
        }
        options = ["--bind", f"127.0.0.1:{self.port}"]
        for flag, value in chosen.items():
            if value is not None:
                options += [flag, str(value)]
        self.process = spawn(gunicorn_command(*options), log_path, environment, cwd=checkout)
        try:
            wait_until(self.answers, START_TIMEOUT_SECONDS, 0.1, "the web server to start")
        except BaseException:
            self.stop()
            raise

    def answers(self) -> bool:
        if self.process.poll() is not None:
            raise RuntimeError(
                f"the web server stopped (exit {self.process.returncode}):\n"
                f"{log_tail(self.log_path)}"
            )
        try:
            return requests.get(f"{self.url}/api/v1/health/live/", timeout=10).ok
        except requests.RequestException:  # refused, or workers still booting
            return False

    def reload(self) -> None:
        """SIGHUP: gunicorn replaces its workers gracefully."""
        self.process.send_signal(signal.SIGHUP)

    def stop(self) -> None:
        terminate(self.process)

    def kill(self) -> None:
        terminate(self.process, sig=signal.SIGKILL)
