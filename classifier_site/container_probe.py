"""The container image's health check, for every role it runs:
`python -m classifier_site.container_probe` exits 0 when healthy, 1 with the reason.
(The HTTP health endpoints it calls are classifier_site/health.py.)

What runs as the container's main process (PID 1) decides what is checked:
- gunicorn: the liveness endpoint answers 200 (readiness would mark every web
  container unhealthy whenever no model or worker exists yet);
- a Celery worker: it answers a ping addressed to its own node name;
- Celery beat: its schedule file was written recently (beat writes it at least
  every few minutes while it runs its 30-second sweep).
"""

from __future__ import annotations

import os
import socket
import sys
import time
import urllib.request
from pathlib import Path

CHECK_TIMEOUT_SECONDS = 5.0
BEAT_SCHEDULE_MAX_AGE_SECONDS = 600  # beat syncs its schedule every 3 minutes


def main_process_command() -> list[str]:
    raw = Path("/proc/1/cmdline").read_bytes()
    return [part.decode() for part in raw.split(b"\0") if part]


def check(command: list[str]) -> str | None:
    """The problem with the process that `command` started, or None when healthy."""
    text = " ".join(command)
    if "gunicorn" in text:
        return check_web(os.environ.get("WEB_BIND", "127.0.0.1:8000"))
    if "celery" in text and "worker" in command:
        return check_worker(option(command, "--hostname", "-n") or "celery@%h")
    if "celery" in text and "beat" in command:
        return check_beat(Path(option(command, "--schedule", "-s") or "celerybeat-schedule"))
    return f"nothing to check for {text!r}"


def option(command: list[str], *names: str) -> str | None:
    for index, part in enumerate(command):
        for name in names:
            if part == name and index + 1 < len(command):
                return command[index + 1]
            if part.startswith(f"{name}="):
                return part.split("=", 1)[1]
    return None


def check_web(bind: str) -> str | None:
    port = bind.rsplit(":", 1)[-1]
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/api/v1/health/live/",
        # A name that ALLOWED_HOSTS accepts, and the scheme a TLS-terminating proxy sets.
        headers={"Host": allowed_host(), "X-Forwarded-Proto": "https"},
    )
    try:
        with urllib.request.urlopen(request, timeout=CHECK_TIMEOUT_SECONDS) as response:
            status = response.status
    except OSError as exc:  # URLError and HTTPError are OSErrors
        return f"web: {exc}"
    return None if status == 200 else f"web: liveness answered {status}"


def allowed_host() -> str:
    for host in os.environ.get("DJANGO_ALLOWED_HOSTS", "localhost").split(","):
        host = host.strip()
        if host and host != "*":
            return host.lstrip(".")  # ".example.com" allows example.com itself
    return "localhost"


def check_worker(node_name_pattern: str) -> str | None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "classifier_site.settings")
    # Imported here, once the settings are named: loading the Celery app loads
    # Django's settings, which a web or beat container's probe never needs.
    from celery.utils.nodenames import host_format

    from classifier_site.celery import app

    node_name = host_format(node_name_pattern, host=socket.gethostname())
    replies = app.control.ping(destination=[node_name], timeout=CHECK_TIMEOUT_SECONDS)
    if any(node_name in reply for reply in replies or []):  # ping asks for replies: never None
        return None
    return f"worker {node_name} did not answer a ping within {CHECK_TIMEOUT_SECONDS:g} s"


def check_beat(schedule: Path) -> str | None:
    candidates = [schedule, *schedule.parent.glob(f"{schedule.name}.*")]  # dbm may add suffixes
    written = [path.stat().st_mtime for path in candidates if path.exists()]
    if not written:
        return f"beat: no schedule file at {schedule}"
    age = time.time() - max(written)
    if age > BEAT_SCHEDULE_MAX_AGE_SECONDS:
        return f"beat: schedule file not written for {age:.0f} s"
    return None


def main() -> int:
    problem = check(main_process_command())
    if problem:
        print(problem, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
