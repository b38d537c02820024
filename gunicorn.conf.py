"""gunicorn settings, from the environment: `gunicorn --config gunicorn.conf.py ...`.

One place for `make run`, the container image and the load tests; flags given on
the command line (such as --bind) still win. This file imports nothing from the
project: the gunicorn master must not load Django or Celery before the gevent
workers patch the standard library (Celery would then pick its thread-unsafe way
of waiting for results).
"""

import importlib.util
import os
from pathlib import Path

# gevent: a single prediction mostly waits for an inference worker, so one process
# serves hundreds at once, and Celery then waits for all their results with one
# Redis subscription per process (its gevent drainer). Processes add CPU parallelism.


def env_str(name: str, default: str) -> str:
    return os.environ.get(name, default)


def env_int(name: str, default: int) -> int:
    raw = os.environ.get(name, str(default))
    try:
        value = int(raw)
    except ValueError:
        raise SystemExit(f"{name}={raw!r} is not an integer") from None
    if value < 0:
        raise SystemExit(f"{name}={value} is below 0")
    return value


bind = [env_str("WEB_BIND", "127.0.0.1:8000")]
worker_class = env_str("WEB_WORKER_CLASS", "gevent")
workers = env_int("WEB_PROCESSES", 2)
worker_connections = env_int("WEB_CONNECTIONS", 200)
threads = env_int("WEB_THREADS", 8)  # only for WEB_WORKER_CLASS=gthread
# Longer than the longest wait for an inference worker (PREDICTION_TIMEOUT_SECONDS).
timeout = env_int("WEB_TIMEOUT_SECONDS", 60)
# Longer than clients pause between requests (as nginx's 75 s): a server closing an idle
# keep-alive connection races with the client's next request on it, which then fails.
keepalive = env_int("WEB_KEEPALIVE_SECONDS", 75)
accesslog = "-" if env_str("WEB_ACCESS_LOG", "true").lower() in {"1", "true", "yes", "on"} else None
control_socket_disable = True  # several servers may share a host; nothing uses it


def _load_exposure():
    """classifier_site/exposure.py by its path: importing the package would start Celery."""
    path = Path(__file__).resolve().parent / "classifier_site" / "exposure.py"
    spec = importlib.util.spec_from_file_location("classifier_site_exposure", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_exposure = _load_exposure()


def on_starting(server) -> None:
    """Before listening: refuse a bind other machines reach with development settings.
    server.cfg.bind is the final address, --bind on the command line included."""
    if message := _exposure.refusal(server.cfg.bind, os.environ):
        raise SystemExit(message)
