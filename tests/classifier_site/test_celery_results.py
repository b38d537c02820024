"""classifier_site.celery_results: a micro-batch's answers stored in one Redis round
trip through a private Celery API, pinned to the Celery release it was checked with."""

import re
import uuid
from pathlib import Path

import celery
import pytest
from celery.result import AsyncResult
from celery_batches import SimpleRequest

from classifier_site import celery_results
from classifier_site.celery import app

REQUIREMENTS = Path(__file__).resolve().parents[2] / "requirements.txt"


def pinned_celery() -> str:
    return re.search(r"^celery==(\S+)$", REQUIREMENTS.read_text(), re.MULTILINE).group(1)


def test_the_private_api_was_checked_with_the_celery_release_pinned():
    """Upgrading Celery fails here until the adapter is checked against the new
    release (its Backend._get_result_meta) and CHECKED_CELERY_VERSION follows."""
    assert pinned_celery() == celery.__version__ == celery_results.CHECKED_CELERY_VERSION


def request(task_id: str) -> SimpleRequest:
    return SimpleRequest(
        task_id, "predictions.tasks.predict_images", (), {}, {}, "worker@test", False,
        None, None, None,
    )  # fmt: skip


@pytest.fixture
def backend(celery_redis):
    return app.backend


def test_stored_answers_are_what_each_waiting_caller_reads(backend):
    ids = [uuid.uuid4().hex for _ in range(3)]
    waiting = [AsyncResult(task_id, app=app) for task_id in ids]
    answers = [{"failed": False, "position": position} for position in range(3)]
    celery_results.store_successes(backend, list(zip(map(request, ids), answers, strict=True)))
    assert [result.get(timeout=5) for result in waiting] == answers
    assert all(result.state == "SUCCESS" for result in waiting)


def test_a_micro_batch_costs_one_round_trip_to_redis(backend, monkeypatch):
    round_trips = []
    pipeline = backend.client.pipeline

    def counted_pipeline(*args, **kwargs):
        made = pipeline(*args, **kwargs)
        execute = made.execute
        made.execute = lambda *a, **kw: round_trips.append("pipeline") or execute(*a, **kw)
        return made

    command = backend.client.execute_command
    monkeypatch.setattr(backend.client, "pipeline", counted_pipeline)
    monkeypatch.setattr(
        backend.client,
        "execute_command",
        lambda *args, **kwargs: round_trips.append(args[0]) or command(*args, **kwargs),
    )
    answers = [(request(uuid.uuid4().hex), {"position": position}) for position in range(32)]
    celery_results.store_successes(backend, answers)
    assert round_trips == ["pipeline"]
