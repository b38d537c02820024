"""`make run` (scripts/run_service.py) refuses a public address with development
settings before it starts anything, saying what to set; the workers its Procfile
starts are the ones the harness starts."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from honcho.environ import parse_procfile

from harness.workers import BACKGROUND_NICENESS, SERVICE_WORKERS

ROOT = Path(__file__).resolve().parent.parent


def without_django_settings() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "WEB_"))}


def run_service(bind: str, **environment: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "scripts/run_service.py", "--bind", bind],
        cwd=ROOT,
        env={**without_django_settings(), **environment},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_a_public_bind_with_debug_on_is_refused_before_anything_starts():
    result = run_service("0.0.0.0:8000", DJANGO_DEBUG="true")
    assert result.returncode != 0
    assert "Refusing to listen on 0.0.0.0:8000" in result.stderr
    assert "Set DJANGO_DEBUG=false and DJANGO_ALLOWED_HOSTS=" in result.stderr
    assert "Starting" not in result.stdout and "admin" not in result.stdout


def test_without_allowed_hosts_a_public_bind_is_refused_too():
    result = run_service("0.0.0.0:8000", DJANGO_DEBUG="false")
    assert result.returncode != 0
    assert "Set DJANGO_ALLOWED_HOSTS=" in result.stderr


def test_make_run_with_a_public_host_is_refused_with_the_same_message():
    """The README's former suggestion, through the real Makefile (which turns debug on).
    -o: take the installed environment and the migrations as done."""
    make = ["make", "--no-print-directory", "-o", ".venv/.installed", "-o", "migrate"]
    result = subprocess.run(
        [*make, "run", "HOST=0.0.0.0", "PORT=8080"],
        cwd=ROOT,
        env=without_django_settings(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode != 0
    assert "Refusing to listen on 0.0.0.0:8080" in result.stderr
    assert "make run HOST=0.0.0.0 DJANGO_DEBUG=false DJANGO_ALLOWED_HOSTS=" in result.stderr


def procfile_command(name: str) -> str:
    """A Procfile entry with every ${VAR:-default} at its default."""
    command = parse_procfile((ROOT / "Procfile").read_text()).processes[name]
    return re.sub(r"\$\{\w+:-([^}]*)\}", r"\1", command)


@pytest.mark.parametrize("role", SERVICE_WORKERS, ids=lambda role: role.name)
def test_the_harness_starts_the_workers_make_run_starts(role):
    """Benchmarks and tests measure the topology `make run` runs (harness.workers)."""
    command = procfile_command(role.name)
    flags = f"--queues {role.queues} --concurrency {role.concurrency} "
    flags += f"--prefetch-multiplier {role.prefetch}"
    assert flags in command
    for variable, value in role.environment.items():
        assert f"{variable}={value} " in command
    assert "WORKER_NICENESS=" in command  # set for every worker, never inherited


def test_only_the_job_workers_yield_the_cpu():
    assert "WORKER_NICENESS=0 " in procfile_command("inference")
    for name in ("batch", "training"):
        assert f"WORKER_NICENESS={BACKGROUND_NICENESS} " in procfile_command(name)
