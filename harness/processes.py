"""Starting and stopping the processes of a stack, each in a process group of its own."""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path

from harness.helpers import ROOT

PR_SET_PDEATHSIG = 1
STOP_TIMEOUT_SECONDS = 30


def stop_when_parent_dies() -> None:
    """Runs in the child before exec: a killed run leaves no stray servers or workers
    (consuming the tests' queues, holding ports)."""
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def spawn(
    command: Sequence[str],
    log_path: Path,
    environment: Mapping[str, str] | None = None,
    cwd: Path = ROOT,
) -> subprocess.Popen:
    """Start `command` with `environment` over this process's, its output appended to
    `log_path`, in a process group of its own (a signal to the group reaches its pool
    processes too) that is sent SIGTERM when this process dies."""
    with log_path.open("ab") as log:  # the child keeps its own descriptor
        return subprocess.Popen(
            list(command),
            cwd=cwd,
            env={**os.environ, **(environment or {})},
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=stop_when_parent_dies,
        )


def terminate(*processes: subprocess.Popen | None, sig: int = signal.SIGTERM) -> None:
    """Send `sig` to the process groups of all `processes` at once, then wait for each;
    a group still there after 30 s gets SIGKILL."""
    running = [process for process in processes if process and process.poll() is None]
    for process in running:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, sig)
    for process in running:
        try:
            process.wait(timeout=STOP_TIMEOUT_SECONDS)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=STOP_TIMEOUT_SECONDS)


def log_tail(log_path: Path, characters: int = 3000) -> str:
    return log_path.read_text(errors="replace")[-characters:]
