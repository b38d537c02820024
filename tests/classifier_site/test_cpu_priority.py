"""WORKER_NICENESS: a job worker's processes, and its session's autogroup (which is
what counts between sessions under Linux's autogroup scheduling), run at the given
niceness; a session shared with other programs keeps its autogroup's."""

import subprocess
import sys
from pathlib import Path

import pytest

AUTOGROUP = Path("/proc/self/autogroup")
needs_autogroups = pytest.mark.skipif(
    not AUTOGROUP.exists(), reason="this kernel has no autogroup scheduling"
)


def niceness(pid: int) -> int:
    return int((Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split())[16])


def children(pid: int) -> list[int]:
    return [int(child) for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]


@pytest.mark.jobs
@pytest.mark.django_db(transaction=True)
@needs_autogroups
def test_a_job_worker_and_its_pool_run_at_its_niceness(start_worker):
    worker = start_worker("niced", queues="batch", prefetch=1, WORKER_NICENESS=10)
    pool = children(worker.process.pid)
    assert pool, "the worker has no pool process"
    assert {niceness(pid) for pid in [worker.process.pid, *pool]} == {10}
    assert "nice 10" in Path(f"/proc/{worker.process.pid}/autogroup").read_text()
    assert "CPU priority lowered to nice 10" in worker.output()


@pytest.mark.jobs
@pytest.mark.django_db(transaction=True)
def test_an_interactive_worker_keeps_the_default_priority(start_worker):
    worker = start_worker("interactive", queues="inference", WORKER_NICENESS=0)
    assert {niceness(pid) for pid in [worker.process.pid, *children(worker.process.pid)]} == {0}


def lowered_in_a_new_session(shell: str) -> str:
    """Run lower_cpu_priority(7) in a new session started by `shell`, which holds it
    alone or beside other programs; the autogroup's line and the log afterwards."""
    program = (
        "import logging, sys; from pathlib import Path; logging.basicConfig(level='INFO');"
        "from classifier_site.cpu_priority import lower_cpu_priority; lower_cpu_priority(7);"
        "print(Path('/proc/self/autogroup').read_text())"
    )
    command = shell.format(program=f'{sys.executable} -c "{program}"')
    result = subprocess.run(
        ["sh", "-c", command], capture_output=True, text=True, timeout=60,
        start_new_session=True, cwd=Path(__file__).resolve().parents[2],
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return result.stdout + result.stderr


@needs_autogroups
def test_the_autogroup_is_lowered_only_when_the_session_is_the_workers_alone():
    alone = lowered_in_a_new_session("{program}")
    assert "nice 7" in alone and "and its session's autogroup" in alone
    shared = lowered_in_a_new_session("sleep 30 & {program}; kill $!")
    assert "nice 0" in shared and "this worker's processes" in shared
    assert "and its session's autogroup" not in shared
