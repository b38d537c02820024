"""Batch-inference jobs end to end: real Redis, real `celery worker` processes."""

import time

import numpy as np
import pytest

from harness.helpers import wait_until
from jobs import lifecycle
from jobs.models import Job, JobChunk
from ml_core.predictor import Predictor
from ml_core.preprocessing import encode_png
from predictions import batch
from predictions.models import BatchItem, Prediction
from predictions.tasks import predict_batch_chunk
from tests.predictions.conftest import uploads
from tests.workers import JOB_TEST, queue_length, register_version

pytestmark = JOB_TEST


def test_200_images_get_exactly_200_predictions_and_progress_never_goes_back(
    inference_worker, trained_artifacts, mini_dataset, settings
):
    settings.BATCH_JOB_CHUNK_SIZE = 16
    version = register_version(trained_artifacts, 1)
    job = batch.submit_batch_job(uploads(mini_dataset, 200))
    samples = []

    def finished():
        current = Job.objects.get(pk=job.pk)
        samples.append((current.progress, current.processed))
        return current.is_finished

    wait_until(finished, timeout=60, interval=0.01, message="the batch job to finish")
    job.refresh_from_db()
    assert job.status == "succeeded", job.error
    assert (job.processed, job.total, job.progress) == (200, 200, 1.0)
    assert samples == sorted(samples), "progress went backwards"
    assert len({sample for sample in samples if 0 < sample[1] < 200}) >= 1
    assert Prediction.objects.filter(batch_item__job=job).count() == 200
    assert not BatchItem.objects.filter(job=job, prediction__isnull=True).exists()
    assert set(Prediction.objects.values_list("model_version", flat=True)) == {version.pk}


def test_stored_predictions_match_the_model_and_export_as_csv_and_json(
    inference_worker, trained_artifacts, mini_dataset, settings
):
    register_version(trained_artifacts, 1)
    job = batch.submit_batch_job(uploads(mini_dataset, 40))
    wait_until(lambda: Job.objects.get(pk=job.pk).is_finished, timeout=60)
    predictor = Predictor(settings.MODELS_DIR / trained_artifacts["artifact_path"])
    expected = predictor.predict([encode_png(pixels) for pixels in mini_dataset.test.images[:40]])
    rows = batch.results(job)
    assert [row["label"] for row in rows] == [prediction.label for prediction in expected]
    assert np.allclose([row["confidence"] for row in rows], [p.confidence for p in expected])
    csv_lines = batch.results_csv(job).splitlines()
    assert csv_lines[0] == "position,original_name,label,confidence,model_version"
    assert len(csv_lines) == 41 and csv_lines[1].startswith("0,test-0.png,")


def test_redelivered_chunks_add_no_predictions(
    inference_worker, trained_artifacts, mini_dataset, settings
):
    settings.BATCH_JOB_CHUNK_SIZE = 10
    register_version(trained_artifacts, 1)
    job = batch.submit_batch_job(uploads(mini_dataset, 30))
    wait_until(lambda: Job.objects.get(pk=job.pk).is_finished, timeout=60)
    # Deliver every chunk again, as Redis would after a lost acknowledgement.
    again = [
        predict_batch_chunk.apply_async((job.pk, start, start + 10), ignore_result=False)
        for start in (0, 10, 20)
    ]
    for result in again:
        result.get(timeout=30)
    assert Prediction.objects.filter(batch_item__job=job).count() == 30


def test_cancelled_job_stops_between_chunks_and_keeps_what_it_made(
    inference_worker, trained_artifacts, mini_dataset, settings
):
    settings.BATCH_JOB_CHUNK_SIZE = 2
    register_version(trained_artifacts, 1)
    job = batch.submit_batch_job(uploads(mini_dataset, 400))
    wait_until(lambda: Job.objects.get(pk=job.pk).processed > 0, timeout=60)
    lifecycle.request_cancel(job)
    job.refresh_from_db()
    assert job.status == "cancelled"
    made = Prediction.objects.filter(batch_item__job=job).count()
    assert made < 400
    # Chunks already taken finish; no new chunk starts.
    wait_until(
        lambda: not inference_worker_busy(job),
        timeout=30,
        message="queued chunks to drain",
    )
    job.refresh_from_db()
    assert job.status == "cancelled"
    assert Prediction.objects.filter(batch_item__job=job).count() <= made + 2
    # The last chunk's task dispatches after storing; let it finish before the
    # teardown truncates the tables under it (on PostgreSQL: a deadlock).
    time.sleep(1)


def inference_worker_busy(job: Job) -> bool:
    claimed = JobChunk.objects.filter(job=job, state=JobChunk.State.CLAIMED).exists()
    return claimed or queue_length("batch") > 0


def test_job_without_a_production_model_is_refused(trained_artifacts, mini_dataset):
    with pytest.raises(batch.NoProductionModel):
        batch.submit_batch_job(uploads(mini_dataset, 2))
    assert Job.objects.count() == 0


def test_a_file_that_is_not_an_image_refuses_the_whole_batch(trained_artifacts, mini_dataset):
    register_version(trained_artifacts, 1)
    images = [*uploads(mini_dataset, 2), batch.UploadedImage("notes.png", b"plain text")]
    with pytest.raises(batch.InvalidBatch, match="notes.png: not an image format"):
        batch.submit_batch_job(images)
    assert Job.objects.count() == 0 and BatchItem.objects.count() == 0


def test_zip_of_images_in_any_layout_becomes_a_job(inference_worker, trained_artifacts, tmp_path):
    import zipfile

    register_version(trained_artifacts, 1)
    path = tmp_path / "photos.zip"
    with zipfile.ZipFile(path, "w") as archive:
        for index in range(5):
            archive.writestr(f"holiday/day{index % 2}/{index}.png", encode_png(
                np.full((32, 32, 3), index * 40, dtype=np.uint8)))  # fmt: skip
        archive.writestr(".hidden.png", b"skipped")
    job = batch.submit_batch_job(batch.images_from_zip(path))
    wait_until(lambda: Job.objects.get(pk=job.pk).is_finished, timeout=60)
    assert sorted(row["original_name"] for row in batch.results(job)) == [
        f"{index}.png" for index in range(5)
    ]


def test_corrupt_zip_is_an_invalid_batch(tmp_path):
    path = tmp_path / "broken.zip"
    path.write_bytes(b"PK\x03\x04 nope")
    with pytest.raises(batch.InvalidBatch, match="broken.zip: not a valid zip"):
        batch.images_from_zip(path)
