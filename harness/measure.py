"""CPU time and memory of process trees (a gunicorn master and its workers, a Celery
worker and its pool processes), with psutil."""

from __future__ import annotations

import threading
import time

import psutil


def _tree(pid: int, children: bool) -> list[psutil.Process]:
    root = psutil.Process(pid)
    return [root, *root.children(recursive=True)] if children else [root]


def cpu_seconds(pid: int, children: bool = True) -> float:
    """User and system CPU time of a process and (with `children`) all its living
    descendants; 0 when the process is gone."""
    try:
        processes = _tree(pid, children)
    except psutil.NoSuchProcess:
        return 0.0
    total = 0.0
    for process in processes:
        try:
            times = process.cpu_times()
        except psutil.NoSuchProcess:
            continue
        total += times.user + times.system
    return total


def resident_memory(pid: int) -> int:
    """Resident set size (bytes) of a process and its living descendants."""
    total = 0
    for process in _tree(pid, children=True):
        try:
            total += process.memory_info().rss
        except psutil.NoSuchProcess:
            continue
    return total


class PeakRss:
    """The highest resident set size of a process while the block runs, sampled every
    10 ms: `with PeakRss(process) as rss: ...; rss.peak`."""

    def __init__(self, process: psutil.Process) -> None:
        self.process, self.peak, self._running = process, 0, True
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while self._running:
            self.peak = max(self.peak, self.process.memory_info().rss)
            time.sleep(0.01)

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._running = False
        self._thread.join()
        self.peak = max(self.peak, self.process.memory_info().rss)
