"""manage.py submit_folder: a server folder becomes one batch job, appended a part at
a time and then started. Real Redis and a real `celery worker`."""

import io
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from harness.helpers import wait_until
from jobs.models import Job, JobChunk
from ml_core.preprocessing import encode_png
from predictions.models import BatchPart, Prediction
from tests.workers import register_version


def write_folder(root, mini_dataset, count: int):
    """`count` images over two sub-folders, a text file and a hidden file."""
    for index in range(count):
        folder = root / ("cats" if index % 2 else "dogs")
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{index:02}.png").write_bytes(encode_png(mini_dataset.test.images[index]))
    (root / "README.txt").write_text("not an image")
    (root / ".DS_Store").write_bytes(b"\0")
    return root


@pytest.mark.django_db(transaction=True)
@pytest.mark.jobs
@pytest.mark.usefixtures("worker_storage")
def test_every_image_under_the_folder_becomes_one_job_predicted_once(
    start_worker, trained_artifacts, mini_dataset, tmp_path, django_user_model
):
    start_worker("submit-folder")
    register_version(trained_artifacts, 1)
    owner = django_user_model.objects.create_user("alice")
    folder = write_folder(tmp_path / "photos", mini_dataset, 10)
    out, err = io.StringIO(), io.StringIO()

    call_command("submit_folder", str(folder), user="alice", part_size=4, stdout=out, stderr=err)

    job_id = int(out.getvalue().strip().splitlines()[-1])
    job = Job.objects.get(pk=job_id)
    assert (job.submitted_by, job.total) == (owner, 10)
    assert "README.txt" in err.getvalue() and ".DS_Store" not in err.getvalue()
    assert BatchPart.objects.filter(job=job).count() >= 3  # 3 parts (the bad one file by file)
    wait_until(lambda: Job.objects.get(pk=job_id).is_finished, timeout=60)
    assert Job.objects.get(pk=job_id).status == "succeeded"
    names = sorted(
        Prediction.objects.filter(batch_item__job=job).values_list("original_name", flat=True)
    )
    assert names == sorted(
        f"{'cats' if index % 2 else 'dogs'}/{index:02}.png" for index in range(10)
    )


@pytest.mark.django_db
def test_no_production_model_or_too_many_files_leave_no_job(
    tmp_path, mini_dataset, settings, trained_artifacts, isolated_storage
):
    folder = write_folder(tmp_path / "photos", mini_dataset, 3)
    with pytest.raises(CommandError, match="no model version is in production"):
        call_command("submit_folder", str(folder), stdout=io.StringIO())
    register_version(trained_artifacts, 1)
    settings.BATCH_JOB_MAX_IMAGES = 3  # 3 images and a text file
    with pytest.raises(CommandError, match="BATCH_JOB_MAX_IMAGES"):
        call_command("submit_folder", str(folder), stdout=io.StringIO())
    with pytest.raises(CommandError, match="not a folder"):
        call_command("submit_folder", str(folder / "README.txt"), stdout=io.StringIO())
    assert not Job.objects.exists()


@pytest.mark.django_db
def test_the_operator_may_submit_a_folder_at_high_priority(
    tmp_path, mini_dataset, trained_artifacts, isolated_storage
):
    """The command runs as the server's operator: no staff check. The job's chunk rows
    exist once it is started (jobs.scheduling dispatches them)."""
    register_version(trained_artifacts, 1)
    folder = write_folder(tmp_path / "photos", mini_dataset, 3)
    out = io.StringIO()
    call_command("submit_folder", str(folder), priority="high", stdout=out, stderr=io.StringIO())
    job = Job.objects.get(pk=int(out.getvalue().strip().splitlines()[-1]))
    assert (job.status, job.priority, job.total) == ("queued", "high", 3)
    assert list(JobChunk.objects.filter(job=job).values_list("start", "stop")) == [(0, 3)]
    with pytest.raises(CommandError, match="invalid choice"):
        call_command("submit_folder", str(folder), "--priority", "urgent", stdout=io.StringIO())


def test_a_folder_started_while_redis_is_down_is_queued_and_left_to_the_sweep(
    tmp_path, mini_dataset
):
    """Starting the draft commits its chunk rows before any is sent: with no broker
    the job is started all the same (its dispatched chunk is sent again by the sweep
    after BATCH_CHUNK_LOST_AFTER_SECONDS), never a started job with nothing to run.
    A separate process, its Redis a port nothing listens on."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        dead_port = probe.getsockname()[1]
    environment = {
        **os.environ,
        "DATABASE_URL": "",
        "SQLITE_PATH": str(tmp_path / "db.sqlite3"),
        "MEDIA_ROOT": str(tmp_path / "media"),
        "REDIS_URL": f"redis://127.0.0.1:{dead_port}/0",
    }
    manage = [sys.executable, str(Path(__file__).resolve().parents[2] / "manage.py")]

    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [*manage, *args], env=environment, capture_output=True, text=True, timeout=180
        )

    assert run("migrate", "-v0").returncode == 0
    production = (
        "from training.models import ModelVersion; ModelVersion.objects.create(number=1, "
        "artifact_path='v1', class_names=['a'], dataset_fingerprint='f', status='production')"
    )
    assert run("shell", "-c", production).returncode == 0
    folder = write_folder(tmp_path / "photos", mini_dataset, 3)
    submitted = run("submit_folder", str(folder), "--priority", "low")
    assert submitted.returncode == 0, submitted.stderr
    assert "started; its chunks not sent (no broker" in submitted.stderr
    state = run(
        "shell", "-c",
        "from jobs.models import Job, JobChunk; job = Job.objects.get(); "
        "print(job.status, job.priority, job.total, "
        "list(JobChunk.objects.values_list('start', 'stop', 'state')))",
    )  # fmt: skip
    assert state.stdout.strip().splitlines()[-1] == "queued low 3 [(0, 3, 'dispatched')]", (
        state.stderr
    )
