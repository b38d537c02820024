"""A worker SIGKILLed in the middle of a batch job: nothing lost, nothing duplicated."""

from harness.helpers import wait_until
from jobs.models import Job, JobChunk
from jobs.tasks import recover_stale_jobs
from ml_core.preprocessing import encode_png
from predictions import batch
from predictions.models import BatchItem, Prediction
from tests.workers import JOB_TEST, register_version

pytestmark = JOB_TEST
IMAGES = 400


def test_killed_worker_mid_job_then_restarted_completes_with_exactly_n_predictions(
    start_worker, trained_artifacts, mini_dataset, settings
):
    settings.BATCH_JOB_CHUNK_SIZE = 4  # 100 chunk tasks: the kill lands mid-job
    settings.JOB_STALE_AFTER_SECONDS = 3
    settings.BATCH_CHUNK_LOST_AFTER_SECONDS = 3  # those it had reserved, unclaimed
    register_version(trained_artifacts, 1)
    first = start_worker("doomed")
    job = batch.submit_batch_job(
        [
            batch.UploadedImage(f"{index}.png", encode_png(pixels))
            for index, pixels in enumerate(mini_dataset.train.images[:IMAGES])
        ]
    )
    wait_until(lambda: Job.objects.get(pk=job.pk).processed >= 8, timeout=60, interval=0.005)
    first.kill()
    job.refresh_from_db()
    assert job.status == "running"
    assert 0 < job.processed < IMAGES, "the job finished before the kill; make it longer"

    start_worker("replacement")
    # The chunk the dead worker had claimed has a stale heartbeat, those it had
    # reserved stay unacknowledged in Redis: the sweep (run by celery beat every
    # 30 s) dispatches them again.
    wait_until(
        lambda: "chunk resent" in recover_stale_jobs(),
        timeout=30,
        interval=0.5,
        message="the sweep to notice the lost worker",
    )
    wait_until(lambda: Job.objects.get(pk=job.pk).is_finished, timeout=90, interval=0.1)
    job.refresh_from_db()
    assert job.status == "succeeded", job.error
    assert job.processed == IMAGES
    assert Prediction.objects.filter(batch_item__job=job).count() == IMAGES
    assert not BatchItem.objects.filter(job=job, prediction__isnull=True).exists()
    assert job.attempts == 1  # the job was never stale: its chunks were
    assert max(JobChunk.objects.filter(job=job).values_list("attempts", flat=True)) <= 2
