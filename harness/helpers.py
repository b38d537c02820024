"""Small helpers every stack needs."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

ROOT = Path(__file__).resolve().parent.parent  # the checkout

T = TypeVar("T")


def free_port(preferred: range = range(0)) -> int:
    """The first port of `preferred` nobody listens on, else any free port."""
    for port in [*preferred, 0]:
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
            return probe.getsockname()[1]
    raise RuntimeError("no free port")


def wait_until(
    predicate: Callable[[], T], timeout: float, interval: float = 0.05, message: str = "condition"
) -> T:
    """Call `predicate` every `interval` seconds until it returns a true value, which
    is returned; TimeoutError after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:g} s waiting for {message}")
        time.sleep(interval)
