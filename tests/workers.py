"""Real Celery workers for the job tests (harness.workers.Worker): subprocesses on the
real Redis and the test database, never eager mode.

The test process and its workers share: the test database (a file for SQLite, the
test database on the same server for PostgreSQL), a media and a models folder,
and a Redis database of their own (TEST_REDIS_URL, default db 15), emptied first.
"""

from __future__ import annotations

import json
import os
import socket
import time
from pathlib import Path

import pytest
import redis
from django.db import connection

from classifier_site.celery import app
from harness.workers import Worker

# `pytestmark = JOB_TEST` in a module: committed data (workers are other processes),
# the jobs marker, and media and models where the workers look.
JOB_TEST = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.jobs,
    pytest.mark.usefixtures("worker_storage"),
]
TEST_REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


def database_environment() -> dict[str, str]:
    """Point a worker at the database the tests are using right now."""
    settings_dict = connection.settings_dict
    if connection.vendor == "sqlite":
        return {"SQLITE_PATH": str(settings_dict["NAME"])}
    user, password = settings_dict["USER"], settings_dict["PASSWORD"]
    credentials = f"{user}:{password}@" if password else f"{user}@"
    host, port = settings_dict["HOST"] or "127.0.0.1", settings_dict["PORT"] or 5432
    return {"DATABASE_URL": f"postgres://{credentials}{host}:{port}/{settings_dict['NAME']}"}


# Every key this test run puts in Redis starts with this, so concurrent runs on one
# Redis (two developers, or CI beside a developer) never take each other's tasks.
KEY_PREFIX = f"test-{socket.gethostname()}-{os.getpid()}-"


@pytest.fixture(scope="session", autouse=True)
def celery_redis():
    """The tests' own Redis keys, used by this process and its workers. Autouse: a
    task queued by any test (an import queues the plots) stays inside this run."""
    options = {"global_keyprefix": KEY_PREFIX}
    # The namespaced keys: plain `broker_url` would lose to the Django settings.
    app.conf.update(
        CELERY_BROKER_URL=TEST_REDIS_URL,
        CELERY_RESULT_BACKEND=TEST_REDIS_URL,
        CELERY_BROKER_TRANSPORT_OPTIONS={**app.conf.broker_transport_options, **options},
        CELERY_RESULT_BACKEND_TRANSPORT_OPTIONS=options,
    )
    yield TEST_REDIS_URL
    client = redis.Redis.from_url(TEST_REDIS_URL)
    for key in client.scan_iter(match=f"{KEY_PREFIX}*"):
        client.delete(key)


def queue_length(name: str) -> int:
    return redis.Redis.from_url(TEST_REDIS_URL).llen(f"{KEY_PREFIX}{name}")


def queued_tasks(name: str) -> list[str]:
    """Names of the tasks waiting in a queue of this test run, oldest first."""
    messages = redis.Redis.from_url(TEST_REDIS_URL).lrange(f"{KEY_PREFIX}{name}", 0, -1)
    return [json.loads(message)["headers"]["task"] for message in reversed(messages)]


def clear_queues(*names: str) -> None:
    redis.Redis.from_url(TEST_REDIS_URL).delete(*(f"{KEY_PREFIX}{name}" for name in names))


@pytest.fixture(scope="module")
def shared_storage(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("worker-storage")
    return {"media": root / "media", "models": root / "models", "logs": root}


@pytest.fixture
def worker_storage(settings, shared_storage):
    """Job tests keep media and models where their workers look for them."""
    settings.MEDIA_ROOT = shared_storage["media"]
    settings.MODELS_DIR = shared_storage["models"]


@pytest.fixture(scope="module")
def start_worker(django_db_setup, django_db_blocker, celery_redis, shared_storage):
    """Start workers on demand; all are stopped when the module's tests end."""
    started: list[Worker] = []
    with django_db_blocker.unblock():
        database = database_environment()

    def start(
        name: str = "inference",
        queues: str = "inference,batch",
        prefetch: int = 32,
        concurrency: int = 1,
        **extra,
    ):
        environment = {
            **database,
            "REDIS_URL": celery_redis,
            "REDIS_KEY_PREFIX": KEY_PREFIX,
            "MEDIA_ROOT": str(shared_storage["media"]),
            "MODELS_DIR": str(shared_storage["models"]),
            "JOB_STALE_AFTER_SECONDS": "3",
            "JOB_PROGRESS_INTERVAL_SECONDS": "0.2",
            "PRODUCTION_RECHECK_SECONDS": str(WORKER_PRODUCTION_RECHECK_SECONDS),
            **{key: str(value) for key, value in extra.items()},
        }
        log_path = shared_storage["logs"] / f"{name}-{time.monotonic_ns()}.log"
        worker = Worker(
            name, environment, log_path, queues=queues, prefetch=prefetch, concurrency=concurrency
        )
        started.append(worker)
        return worker

    yield start
    for worker in started:
        worker.stop()


@pytest.fixture(scope="module")
def trained_artifacts(shared_storage, small_dataset) -> dict:
    """A 1-epoch model saved once per module where workers find it."""
    return train_fixture_model(shared_storage["models"], small_dataset)


def train_fixture_model(models_dir: Path, small_dataset) -> dict:
    """Train one epoch on the small dataset and save it as an artefact in `models_dir`."""
    from ml_core.artifacts import build_metadata, save_artifacts
    from ml_core.preprocessing import INPUT_SHAPE, PREPROCESSING_VERSION
    from ml_core.training import TrainingConfig, train_model

    result = train_model(
        small_dataset.train.images.astype("float32") / 255,
        small_dataset.train.labels,
        small_dataset.class_names,
        TrainingConfig(epochs=1, batch_size=32),
    )
    directory = models_dir / f"fixture-{time.monotonic_ns()}"
    save_artifacts(
        result.model,
        directory,
        build_metadata(
            class_names=small_dataset.class_names,
            input_shape=INPUT_SHAPE,
            preprocessing_version=PREPROCESSING_VERSION,
            metrics={"accuracy": 0.1},
            dataset_fingerprint="fixture",
            training_parameters={},
        ),
    )
    return {"artifact_path": directory.name, "class_names": small_dataset.class_names}


WORKER_PRODUCTION_RECHECK_SECONDS = 0.5


def let_workers_forget_deleted_versions() -> None:
    """Workers re-read the production alias every 0.5 s; wait that long so none still
    holds a version row that the previous test's database flush removed (in real use
    versions are never deleted)."""
    time.sleep(WORKER_PRODUCTION_RECHECK_SECONDS + 0.1)


def register_version(trained_artifacts: dict, number: int, status: str = "production"):
    from training.models import ModelVersion

    let_workers_forget_deleted_versions()
    return ModelVersion.objects.create(
        number=number,
        artifact_path=trained_artifacts["artifact_path"],
        status=status,
        class_names=trained_artifacts["class_names"],
        metrics={"accuracy": 0.1},
        dataset_fingerprint="fixture",
    )
