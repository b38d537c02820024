import os
import time

import pytest

from classifier_site.container_probe import check
from harness.helpers import free_port

CELERY_WORKER = ["/opt/venv/bin/python", "/opt/venv/bin/celery", "-A", "classifier_site", "worker"]


@pytest.mark.django_db
def test_web_is_healthy_when_its_liveness_endpoint_answers(live_server, monkeypatch):
    monkeypatch.setenv("WEB_BIND", f"0.0.0.0:{live_server.url.rsplit(':', 1)[1]}")
    assert check(["gunicorn", "classifier_site.wsgi:application"]) is None


def test_web_is_unhealthy_when_nothing_answers(monkeypatch):
    monkeypatch.setenv("WEB_BIND", f"0.0.0.0:{free_port()}")
    assert "Connection refused" in check(["gunicorn", "classifier_site.wsgi:application"])


def test_beat_is_healthy_while_it_keeps_writing_its_schedule(tmp_path):
    schedule = tmp_path / "celerybeat-schedule"
    command = ["celery", "-A", "classifier_site", "beat", "--schedule", str(schedule)]
    assert "no schedule file" in check(command)
    schedule.write_bytes(b"")
    assert check(command) is None
    assert check([*command[:-2], f"--schedule={schedule}"]) is None
    stale = time.time() - 1200
    os.utime(schedule, (stale, stale))
    assert "not written for 1200 s" in check(command)


def test_anything_else_is_unhealthy():
    assert "nothing to check" in check(["sleep", "infinity"])


@pytest.mark.django_db(transaction=True)
@pytest.mark.jobs
@pytest.mark.usefixtures("worker_storage")
def test_a_worker_is_healthy_when_it_answers_a_ping_by_its_own_name(start_worker):
    start_worker("inference")
    assert check([*CELERY_WORKER, "--queues", "inference", "--hostname", "inference@%h"]) is None
    assert "did not answer" in check([*CELERY_WORKER, "-n", "elsewhere@%h"])
