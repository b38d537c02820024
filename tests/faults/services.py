"""Private Redis, PostgreSQL, web server and workers for the fault tests.

Every service here runs on a free port of its own, in a temporary folder, so a
test can kill or restart it without touching the shared Redis and PostgreSQL (or
another test run). Workers are tests.workers.Worker processes pointed at them.
"""

from __future__ import annotations

import contextlib
import glob
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psycopg
import redis
import requests

from tests.workers import ROOT, Worker, _stop_when_parent_dies, wait_for

START_TIMEOUT_SECONDS = 60


def free_port(preferred: range) -> int:
    """The first port of `preferred` nobody listens on, else any free port."""
    for port in [*preferred, 0]:
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
            return probe.getsockname()[1]
    raise RuntimeError("no free port")


def _spawn(command: list[str], log_path: Path, environment: dict | None = None, **options):
    log = log_path.open("ab")
    return subprocess.Popen(
        command,
        stdout=log,
        stderr=subprocess.STDOUT,
        env={**os.environ, **(environment or {})},
        start_new_session=True,
        preexec_fn=_stop_when_parent_dies,
        **options,
    )


def _terminate(process: subprocess.Popen | None, sig: int = signal.SIGTERM) -> None:
    if process is None or process.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, sig)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=30)


class PrivateRedis:
    """redis-server without persistence: a restart loses every queued task, the
    harshest case (the stale-job sweep must re-queue what was lost)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.port = free_port(range(6380, 6390))
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen | None = None
        self.start()

    def start(self) -> None:
        command = ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1",
                   "--save", "", "--appendonly", "no", "--dir", str(self.folder)]  # fmt: skip
        self.process = _spawn(command, self.folder / "redis.log")
        client = redis.Redis.from_url(self.url)
        wait_for(lambda: _pings(client), START_TIMEOUT_SECONDS, 0.05, "redis to start")

    def kill(self) -> None:
        _terminate(self.process, signal.SIGKILL)

    def stop(self) -> None:
        _terminate(self.process)


def _pings(client: redis.Redis) -> bool:
    try:
        return bool(client.ping())
    except redis.RedisError:
        return False


def _postgres_bin(name: str) -> str:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    path = found[-1] if found else shutil.which(name)
    if not path:
        raise RuntimeError(f"PostgreSQL's {name} was not found (apt-get install postgresql)")
    return path


class PrivatePostgres:
    """A throw-away cluster (initdb + pg_ctl in a temporary folder). PostgreSQL
    refuses to run as root, so as root it runs as the `postgres` user."""

    def __init__(self) -> None:
        self.folder = Path(tempfile.mkdtemp(prefix="fault-postgres-"))
        self.data = self.folder / "data"
        self.port = free_port(range(5450, 5460))
        self.as_user = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        if self.as_user:
            shutil.chown(self.folder, "postgres", "postgres")
        self._run(_postgres_bin("initdb"), "-D", str(self.data), "-U", "postgres",
                  "--auth", "trust", "--no-sync")  # fmt: skip
        self.start()
        self.url = self.url_for("postgres")  # the database query() uses

    def url_for(self, database: str) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/{database}"

    def has_database(self, name: str) -> bool:
        with psycopg.connect(self.url_for("postgres"), autocommit=True) as connection:
            found = connection.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name])
            return found.fetchone() is not None

    def create_database(self, name: str, template: str = "template1") -> None:
        with psycopg.connect(self.url_for("postgres"), autocommit=True) as connection:
            connection.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')

    def _run(self, *command: str) -> None:
        subprocess.run([*self.as_user, *command], check=True, capture_output=True, timeout=120)

    def _pg_ctl(self, action: str, *extra: str) -> None:
        options = f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._run(_postgres_bin("pg_ctl"), action, "-D", str(self.data), "-w",
                  "-l", str(self.folder / "postgres.log"), "-o", options, *extra)  # fmt: skip

    def start(self) -> None:
        self._pg_ctl("start")

    def restart(self) -> None:
        """Fast shutdown (every connection is cut) and start again."""
        self._pg_ctl("restart", "-m", "fast")

    def destroy(self) -> None:
        with contextlib.suppress(subprocess.CalledProcessError):
            self._pg_ctl("stop", "-m", "immediate")
        shutil.rmtree(self.folder, ignore_errors=True)

    def query(self, sql: str, *parameters) -> list[tuple]:
        with psycopg.connect(self.url, autocommit=True) as connection:
            cursor = connection.execute(sql, parameters)
            return cursor.fetchall() if cursor.description else []

    def value(self, sql: str, *parameters):
        return self.query(sql, *parameters)[0][0]


MIGRATED_TEMPLATE = "migrated"


class Deployment:
    """The service on private Redis and PostgreSQL: migrated, with a production
    model; its web server and workers are started by the tests that need them.

    Given `services` (a PrivateRedis and a PrivatePostgres shared by several
    deployments, one after another), it takes a fresh database copied from a
    migrated template and an emptied Redis; otherwise it starts its own."""

    def __init__(
        self,
        folder: Path,
        trained_artifacts: dict,
        services: tuple[PrivateRedis, PrivatePostgres] | None = None,
        **settings: str,
    ) -> None:
        self.folder = folder
        self.owns_services = services is None
        self.redis, self.postgres = services or (PrivateRedis(folder), PrivatePostgres())
        redis.Redis.from_url(self.redis.url).flushall()  # our private instance only
        self.environment = {
            "DATABASE_URL": "",
            "REDIS_URL": self.redis.url,
            "MEDIA_ROOT": str(folder / "media"),
            "MODELS_DIR": str(folder / "models"),
            "DJANGO_DEBUG": "false",
            "JOB_STALE_AFTER_SECONDS": "3",
            "JOB_RECOVERY_INTERVAL_SECONDS": "1",
            "JOB_PROGRESS_INTERVAL_SECONDS": "0.2",
            "PRODUCTION_RECHECK_SECONDS": "0.5",
            "PREDICTION_TIMEOUT_SECONDS": "20",
            "API_RATE_ANONYMOUS": "100000/m",
            "API_RATE_USER": "100000/m",
            "API_RATE_READ": "100000/m",
            "REDIS_KEY_PREFIX": "",
            **settings,
        }
        self.workers: list[Worker] = []
        self.web: subprocess.Popen | None = None
        self.beat: subprocess.Popen | None = None
        self.web_port = free_port(range(8300, 8400))
        if not self.postgres.has_database(MIGRATED_TEMPLATE):
            self.postgres.create_database(MIGRATED_TEMPLATE)
            self.environment["DATABASE_URL"] = self.postgres.url_for(MIGRATED_TEMPLATE)
            self.manage("migrate", "--no-input")
        database = f"deployment_{os.getpid()}_{time.monotonic_ns()}"
        self.postgres.create_database(database, template=MIGRATED_TEMPLATE)
        self.postgres.url = self.environment["DATABASE_URL"] = self.postgres.url_for(database)
        shutil.copytree(
            Path(trained_artifacts["models_dir"]) / trained_artifacts["artifact_path"],
            folder / "models" / trained_artifacts["artifact_path"],
        )
        self.postgres.query(
            "INSERT INTO training_modelversion (number, artifact_path, status, class_names,"
            " metrics, validation_metrics, training_parameters, training_history,"
            " dataset_fingerprint, created_at, promoted_at)"
            " VALUES (1, %s, 'production', %s, %s, '{}', '{}', '[]', 'fixture', now(), now())"
            " RETURNING id",
            trained_artifacts["artifact_path"],
            json.dumps(trained_artifacts["class_names"]),
            json.dumps({"accuracy": 0.1}),
        )

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.web_port}"

    def manage(self, *arguments: str) -> str:
        result = subprocess.run(
            [sys.executable, "manage.py", *arguments],
            cwd=ROOT,
            env={**os.environ, **self.environment},
            capture_output=True,
            text=True,
            timeout=300,
        )
        if result.returncode:
            raise RuntimeError(f"manage.py {' '.join(arguments)} failed:\n{result.stderr}")
        return result.stdout

    def start_worker(
        self, name: str, queues: str = "inference,batch", prefetch: int = 32
    ) -> Worker:
        worker = Worker(name, queues, prefetch, self.environment, self.folder)
        self.workers.append(worker)
        return worker

    def start_beat(self) -> None:
        schedule = str(self.folder / "beat-schedule")
        command = [sys.executable, "-m", "celery", "-A", "classifier_site", "beat",
                   "--schedule", schedule, "--loglevel", "INFO"]  # fmt: skip
        self.beat = _spawn(command, self.folder / "beat.log", self.environment, cwd=ROOT)

    def start_web(
        self, keep_alive_seconds: int = 2, worker_class: str = "gthread", workers: int = 2
    ) -> None:
        """gunicorn; `worker_class="gevent"` as in production (gunicorn.conf.py)."""
        command = [sys.executable, "-m", "gunicorn", "classifier_site.wsgi:application",
                   "--bind", f"127.0.0.1:{self.web_port}", "--worker-class", worker_class,
                   "--workers", str(workers), "--threads", "4", "--graceful-timeout", "30",
                   "--keep-alive", str(keep_alive_seconds), "--no-control-socket"]  # fmt: skip
        self.web = _spawn(command, self.folder / "web.log", self.environment, cwd=ROOT)
        wait_for(self._web_answers, START_TIMEOUT_SECONDS, 0.1, "the web server to start")

    def _web_answers(self) -> bool:
        try:
            return requests.get(f"{self.base_url}/api/v1/health/live/", timeout=10).ok
        except requests.RequestException:  # refused, or workers still booting
            return False

    def stop_web(self) -> None:
        _terminate(self.web)

    def stop(self) -> None:
        """Kill everything at once: a throw-away deployment needs no clean shutdown."""
        for worker in self.workers:
            worker.kill()
            worker.log.close()
        _terminate(self.beat, signal.SIGKILL)
        _terminate(self.web, signal.SIGKILL)
        if self.owns_services:
            self.redis.stop()
            self.postgres.destroy()

    def log(self, name: str) -> str:
        return (self.folder / name).read_text(errors="replace")

    # --- what the tests assert -------------------------------------------------------

    def job(self, job_id: int) -> dict:
        row = self.postgres.query(
            "SELECT status, processed, total, attempts, message, error FROM training_job"
            " WHERE id = %s",
            job_id,
        )[0]
        return dict(zip(["status", "processed", "total", "attempts", "message", "error"], row,
                        strict=True))  # fmt: skip

    def wait_until_finished(self, job_id: int, timeout: float) -> dict:
        wait_for(
            lambda: self.job(job_id)["status"] in {"succeeded", "failed", "cancelled"},
            timeout,
            0.2,
            f"job {job_id} to finish",
        )
        return self.job(job_id)

    def predictions_per_item(self, job_id: int) -> dict[int, int]:
        """How many predictions each item of a batch job has (exactly 1 when done)."""
        return dict(
            self.postgres.query(
                "SELECT item.position, count(prediction.id) FROM predictions_batchitem item"
                " LEFT JOIN predictions_prediction prediction"
                " ON prediction.batch_item_id = item.id"
                " WHERE item.job_id = %s GROUP BY item.position",
                job_id,
            )
        )


def artifacts_for_untrained_model(models_dir: Path, class_names: list[str]) -> dict:
    """A model with random weights, saved as a version artefact (for the soak run,
    where serving speed matters and accuracy does not)."""
    from ml_core.artifacts import build_metadata, save_artifacts
    from ml_core.model import build_model
    from ml_core.preprocessing import INPUT_SHAPE, PREPROCESSING_VERSION

    save_artifacts(
        build_model(INPUT_SHAPE, len(class_names)),
        models_dir / "untrained",
        build_metadata(
            class_names=class_names,
            input_shape=INPUT_SHAPE,
            preprocessing_version=PREPROCESSING_VERSION,
            metrics={"accuracy": 0.0},
            dataset_fingerprint="untrained",
            training_parameters={},
        ),
    )
    return {"artifact_path": "untrained", "class_names": class_names, "models_dir": models_dir}
