"""Submitting a batch job: chunks are queued while later ones are still being
stored, and a submit that fails part-way leaves nothing behind, even after
workers predicted its first chunks. Real Redis and a real `celery worker`."""

from pathlib import Path

import pytest

from classifier_site import media_store
from harness.helpers import wait_until
from jobs.models import Job
from predictions import batch
from predictions.models import BatchItem, Prediction
from tests.predictions.conftest import uploads
from tests.workers import JOB_TEST, queue_length, register_version

pytestmark = JOB_TEST
CHUNK = 8


def predictions_stored() -> int:
    return Prediction.objects.filter(batch_item__isnull=False).count()


def pause_storing_at(monkeypatch, position: int, then) -> None:
    """Run `then` just before the image at `position` is stored."""
    calls = []
    store = media_store.store_image_file

    def store_image_file(folder: str, content: bytes, image_format: str, scope: str):
        if len(calls) == position:
            then()
        calls.append(folder)
        return store(folder, content, image_format, scope)

    monkeypatch.setattr(batch, "store_image_file", store_image_file)


def test_workers_predict_the_first_chunk_before_the_last_one_is_stored(
    inference_worker, trained_artifacts, mini_dataset, settings, monkeypatch
):
    settings.BATCH_JOB_CHUNK_SIZE = CHUNK
    register_version(trained_artifacts, 1)
    # Had the submit queued nothing before storing everything, this would time out.
    pause_storing_at(monkeypatch, 3 * CHUNK, lambda: wait_until(
        lambda: predictions_stored() >= CHUNK, timeout=60, message="the first chunk's predictions"
    ))  # fmt: skip
    job = batch.submit_batch_job(uploads(mini_dataset, 4 * CHUNK))
    wait_until(lambda: Job.objects.get(pk=job.pk).is_finished, timeout=60)
    job.refresh_from_db()
    assert job.status == "succeeded", job.error
    assert Prediction.objects.filter(batch_item__job=job).count() == 4 * CHUNK


def media_files() -> set[Path]:
    root = Path(media_store.default_storage.location)
    return {path for path in root.rglob("*") if path.is_file()}


def test_a_storage_failure_after_chunks_were_predicted_leaves_no_job_rows_or_files(
    inference_worker, trained_artifacts, mini_dataset, settings, monkeypatch
):
    settings.BATCH_JOB_CHUNK_SIZE = CHUNK
    register_version(trained_artifacts, 1)
    before = media_files()

    def disk_fills_once_predictions_exist():
        wait_until(lambda: predictions_stored() >= 2 * CHUNK, timeout=60, message="predictions")
        raise media_store.StorageFull("the server cannot store uploads right now (test)")

    pause_storing_at(monkeypatch, 5 * CHUNK + 3, disk_fills_once_predictions_exist)
    with pytest.raises(media_store.StorageFull):
        batch.submit_batch_job(uploads(mini_dataset, 8 * CHUNK))
    wait_until(lambda: queue_length("batch") == 0, timeout=30, message="queued chunks to drain")
    assert Job.objects.count() == 0
    assert BatchItem.objects.count() == 0
    assert Prediction.objects.count() == 0
    assert media_files() == before, "every file the failed submit wrote is deleted"
