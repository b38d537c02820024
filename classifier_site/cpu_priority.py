"""Lowering a Celery worker's CPU priority (WORKER_NICENESS), so that the workers that
run jobs yield the cores to the web and to the worker of single predictions, and
still take every core when those are idle.

Two knobs, because Linux's autogroup scheduling (on by default in Debian's and most
distributions' kernels, for processes outside a cgroup of their own) first shares
the CPU equally between sessions and applies nice values only within a session:
`make run` (honcho), the test harness and every terminal start each process in a
session of its own, where the niceness of a worker's processes alone changes
nothing (bench/job_sharing.py). So the session's autogroup is lowered too, when the
session holds nothing but this worker and the processes that started it (never a
terminal's other programs). Containers live in cgroups, where autogroups play no
part: there the container runtime's CPU weights do the same between containers
(docker-compose.yml's cpu_shares, Kubernetes CPU requests).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

logger = logging.getLogger(__name__)

PROC = Path("/proc")
AUTOGROUP = PROC / "self" / "autogroup"


def lower_cpu_priority(niceness: int) -> None:
    """Raise this process's nice value to `niceness` (its pool processes, forked
    later, inherit it), and its session's autogroup's when the session is its own."""
    if niceness <= 0:
        return
    os.setpriority(os.PRIO_PROCESS, 0, max(niceness, os.getpriority(os.PRIO_PROCESS, 0)))
    lowered = "this worker's processes"
    if AUTOGROUP.exists() and session_is_this_worker_alone():
        try:
            AUTOGROUP.write_text(str(niceness))
            lowered += " and its session's autogroup"
        except OSError as exc:  # a read-only /proc: the process niceness still holds
            logger.warning("could not lower the autogroup's priority: %s", exc)
    logger.info("CPU priority lowered to nice %d: %s", niceness, lowered)


def session_is_this_worker_alone() -> bool:
    """Whether every process of this session is this process or one of its ancestors
    (the shell or honcho line that started it)."""
    session = os.getsid(0)
    members = set()
    for entry in PROC.iterdir():
        if entry.name.isdigit():
            try:
                if os.getsid(int(entry.name)) == session:
                    members.add(int(entry.name))
            except OSError:  # gone meanwhile
                continue
    return members <= ancestors_and_self()


def ancestors_and_self() -> set[int]:
    found, pid = set(), os.getpid()
    while pid > 0 and pid not in found:
        found.add(pid)
        try:
            stat = (PROC / str(pid) / "stat").read_text()
        except OSError:
            break
        pid = int(stat.rsplit(")", 1)[1].split()[1])  # the field after the state: ppid
    return found
