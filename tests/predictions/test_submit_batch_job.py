"""submit_batch_job: all-or-nothing validation, then chunks stored and queued one by one."""

import errno

import pytest

from ml_core.preprocessing import encode_png
from predictions import batch
from predictions.models import BatchItem
from tests.workers import JOB_TEST, clear_queues, queue_length, register_version
from training.models import Job

pytestmark = JOB_TEST


@pytest.fixture
def empty_queue(celery_redis):
    clear_queues("inference")
    yield
    clear_queues("inference")


def uploads(mini_dataset, count: int) -> list[batch.UploadedImage]:
    return [
        batch.UploadedImage(f"{index}.png", encode_png(pixels))
        for index, pixels in enumerate(mini_dataset.test.images[:count])
    ]


def test_each_chunk_is_queued_as_soon_as_it_is_stored(
    empty_queue, trained_artifacts, mini_dataset, settings
):
    settings.BATCH_JOB_CHUNK_SIZE = 4
    register_version(trained_artifacts, 1)
    job = batch.submit_batch_job(uploads(mini_dataset, 10))
    assert queue_length("inference") == 3  # positions 0-3, 4-7, 8-9
    assert BatchItem.objects.filter(job=job).count() == 10
    job.refresh_from_db()
    assert (job.status, job.total) == ("queued", 10)
    assert job.heartbeat_at is not None  # the upload's own heartbeat


def test_disk_full_part_way_fails_the_job_and_keeps_the_stored_chunks_queued(
    empty_queue, trained_artifacts, mini_dataset, settings, monkeypatch
):
    settings.BATCH_JOB_CHUNK_SIZE = 4
    register_version(trained_artifacts, 1)
    store = batch.store_image_file
    calls = []

    def store_until_the_disk_fills(*arguments):
        calls.append(arguments)
        if len(calls) > 6:
            raise OSError(errno.ENOSPC, "No space left on device")
        return store(*arguments)

    monkeypatch.setattr(batch, "store_image_file", store_until_the_disk_fills)
    with pytest.raises(batch.BatchStorageError, match="after 4 of 10") as raised:
        batch.submit_batch_job(uploads(mini_dataset, 10))
    job = Job.objects.get(pk=raised.value.job.pk)
    assert job.status == "failed"
    assert "storing images stopped after 4 of 10" in job.message
    assert "No space left on device" in job.error
    assert BatchItem.objects.filter(job=job).count() == 4
    assert queue_length("inference") == 1  # the stored chunk still gets its predictions
