"""store_chunk: two workers storing a job's last chunks at once still finish the job.

Runs on SQLite and, in `make test`'s second pass, on PostgreSQL, where the race it
guards against lives: under READ COMMITTED each transaction counts only the
predictions committed before its count, so without the job-row lock two concurrent
last chunks each saw the other's rows as missing and the job stayed running forever.
"""

import contextlib
import threading

import pytest
from django.db import connection

from jobs.models import Job
from ml_core.predictor import ImagePrediction
from predictions import batch
from predictions.models import BatchItem, Prediction
from training.models import ModelVersion

pytestmark = pytest.mark.django_db(transaction=True)

CHUNK = 4


@pytest.fixture
def running_job() -> Job:
    version = ModelVersion.objects.create(
        number=1, artifact_path="v1", class_names=["cat", "dog"], dataset_fingerprint="f"
    )
    job = Job.objects.create(
        kind=Job.Kind.BATCH_INFERENCE, status=Job.Status.RUNNING, total=2 * CHUNK,
        model_version=version,
    )  # fmt: skip
    BatchItem.objects.bulk_create(
        BatchItem(job=job, position=position, image="uploads/ab/ab.png",
                  image_sha256="ab", pixels=bytes(3072))
        for position in range(2 * CHUNK)
    )  # fmt: skip
    return job


def cat(confidence: float = 0.75) -> ImagePrediction:
    return ImagePrediction(
        top=[("cat", confidence), ("dog", 1 - confidence)],
        probabilities={"cat": confidence, "dog": 1 - confidence},
    )


def test_one_chunk_stores_its_rows_and_progress(running_job):
    items = batch.pending_items(running_job, 0, CHUNK)
    batch.store_chunk(running_job, items, [cat()] * CHUNK)
    job = Job.objects.get(pk=running_job.pk)
    assert (job.status, job.processed, job.progress) == (Job.Status.RUNNING, CHUNK, 0.5)
    assert Prediction.objects.filter(batch_item__job=job).count() == CHUNK


def test_the_last_two_chunks_stored_at_once_finish_the_job(running_job, monkeypatch):
    # Each chunk waits after its insert until the other has inserted too (or 3 s have
    # passed): without a lock both counts run before either commits.
    both_inserted = threading.Barrier(2, timeout=3)
    save_predictions = batch.save_predictions

    def save_then_wait(job, items, predictions):
        save_predictions(job, items, predictions)
        # A broken barrier: the other chunk waits for this one's commit (the lock).
        with contextlib.suppress(threading.BrokenBarrierError):
            both_inserted.wait()

    monkeypatch.setattr(batch, "save_predictions", save_then_wait)
    errors = []

    def store(start: int) -> None:
        try:
            job = Job.objects.get(pk=running_job.pk)
            items = batch.pending_items(job, start, start + CHUNK)
            batch.store_chunk(job, items, [cat()] * CHUNK)
        except Exception as exc:  # surfaced below, in the test's own thread
            errors.append(exc)
        finally:
            connection.close()

    workers = [threading.Thread(target=store, args=(start,)) for start in (0, CHUNK)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=60)
    assert not errors
    job = Job.objects.get(pk=running_job.pk)
    assert Prediction.objects.filter(batch_item__job=job).count() == 2 * CHUNK
    assert (job.status, job.processed, job.progress) == (Job.Status.SUCCEEDED, 2 * CHUNK, 1.0)
