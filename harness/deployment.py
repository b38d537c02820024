"""The whole service on a private Redis and PostgreSQL: migrated, with a production
model; the web server, workers and beat are started by whoever needs them.

This module knows the product's tables (a model version is registered, and jobs and
predictions are read, with SQL): it is the one place to change when they move."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import redis

from harness.helpers import ROOT, free_port, wait_until
from harness.postgres import PrivatePostgres
from harness.processes import terminate
from harness.redis_server import PrivateRedis
from harness.web import WebServer
from harness.workers import SERVICE_WORKERS, Worker, WorkerRole, start_beat

MIGRATED_TEMPLATE = "migrated"


class Deployment:
    """Given `services` (a PrivateRedis and a PrivatePostgres shared by several
    deployments, one after another), it takes a fresh database copied from a
    migrated template and an emptied Redis; otherwise it starts its own.
    `trained_artifacts`: {"models_dir", "artifact_path", "class_names"} of the model
    registered as production. `settings` override the environment below."""

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
            # Redis restarted empty: lost chunk and job tasks are sent again soon.
            "BATCH_CHUNK_LOST_AFTER_SECONDS": "5",
            "JOB_RESEND_AFTER_SECONDS": "5",
            "JOB_PROGRESS_INTERVAL_SECONDS": "0.2",
            "PRODUCTION_RECHECK_SECONDS": "0.5",
            "PREDICTION_TIMEOUT_SECONDS": "20",
            "API_RATE_ANONYMOUS": "100000/m",
            "API_RATE_USER": "100000/m",
            "API_RATE_READ": "100000/m",
            "REDIS_KEY_PREFIX": "",
            "WEB_ACCESS_LOG": "false",
            **settings,
        }
        self.workers: list[Worker] = []
        self.web: WebServer | None = None
        self.beat: subprocess.Popen | None = None
        self.web_port = free_port(range(8300, 8400))  # kept across restarts of the web
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
        self,
        name: str,
        queues: str = "inference,batch",
        prefetch: int = 32,
        concurrency: int = 1,
        **environment: str,
    ) -> Worker:
        log_path = self.folder / f"{name}-{time.monotonic_ns()}.log"
        worker = Worker(
            name,
            {**self.environment, **environment},
            log_path,
            queues=queues,
            prefetch=prefetch,
            concurrency=concurrency,
        )
        self.workers.append(worker)
        return worker

    def start_service_workers(self, roles: tuple[WorkerRole, ...] = SERVICE_WORKERS) -> None:
        """The workers `make run` starts (or another topology, for a comparison)."""
        for role in roles:
            self.start_worker(role.name, role.queues, role.prefetch, role.concurrency,
                              **role.environment)  # fmt: skip

    def start_beat(self) -> None:
        self.beat = start_beat(self.environment, self.folder)

    def start_web(
        self, keep_alive_seconds: int = 2, worker_class: str = "gthread", workers: int = 2
    ) -> None:
        """gunicorn; `worker_class="gevent"` as in production (gunicorn.conf.py)."""
        self.web = WebServer(
            self.environment,
            self.folder / "web.log",
            port=self.web_port,
            worker_class=worker_class,
            workers=workers,
            threads=4,
            keep_alive_seconds=keep_alive_seconds,
            graceful_timeout_seconds=30,
        )

    def stop_web(self) -> None:
        if self.web:
            self.web.stop()

    def stop(self) -> None:
        """Kill everything at once: a throw-away deployment needs no clean shutdown."""
        for worker in self.workers:
            worker.kill()
        terminate(self.beat, sig=signal.SIGKILL)
        if self.web:
            self.web.kill()
        if self.owns_services:
            self.redis.stop()
            self.postgres.destroy()

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
        wait_until(
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
    """A model with random weights, saved as a version artefact (for runs where
    serving speed matters and accuracy does not)."""
    from ml_core.artifacts import save_untrained_model

    directory = save_untrained_model(
        models_dir / "untrained", class_names, dataset_fingerprint="untrained"
    )
    return {"artifact_path": directory.name, "class_names": class_names, "models_dir": models_dir}
