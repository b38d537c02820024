"""Single predictions never queue behind batch chunks: with the workers `make run`
starts (harness.workers.SERVICE_WORKERS), a prediction asked while every batch
process is busy with a chunk is answered before any of those chunks completes.

Counted in chunks rather than milliseconds, so a busy machine does not decide it. A
worker that takes both queues (the topology before issue 15: `inference,batch`, 2
processes) hands the micro-batch of predictions to its pool, whose processes are all
busy with chunks: every answer comes after a chunk completed. Run with
PRIORITY_TOPOLOGY=shared to see this test fail on that topology."""

import os

from harness.helpers import wait_until
from harness.workers import SERVICE_WORKERS, WorkerRole
from jobs.models import Job
from ml_core.preprocessing import encode_png
from predictions import batch
from predictions.models import Prediction
from predictions.single import predict_image
from tests.workers import JOB_TEST, register_version

pytestmark = JOB_TEST

CHUNK = 512  # images: a chunk takes far longer than a prediction
CHUNKS = 12
PREDICTIONS = 7
# An answer may still coincide with a chunk's end now and then (a noisy machine
# slows the prediction); waiting for a pool process, none would come before one.
BEFORE_ANY_CHUNK_AT_LEAST = 4
SHARED = (WorkerRole("inference", "inference,batch", 2, 32, {"INFERENCE_THREADS": "1"}),)


def topology() -> tuple[WorkerRole, ...]:
    if os.environ.get("PRIORITY_TOPOLOGY") == "shared":
        return SHARED
    return tuple(role for role in SERVICE_WORKERS if "training" not in role.queues)


def start(start_worker, roles) -> None:
    """The roles' workers, at the default CPU priority: this shows the queueing alone
    (tests/classifier_site/test_cpu_priority.py the niceness), and niced workers on a
    machine busy with other work could starve for minutes."""
    for role in roles:
        environment = {**role.environment, "WORKER_NICENESS": "0"}
        start_worker(role.name, role.queues, role.prefetch, role.concurrency, **environment)


def predicted(job: Job) -> int:
    """Images of the job predicted so far (a chunk stores its rows in one transaction)."""
    return Prediction.objects.filter(batch_item__job=job).count()


def test_a_prediction_is_answered_before_the_chunks_in_progress_complete(
    start_worker, trained_artifacts, mini_dataset, settings
):
    settings.BATCH_JOB_CHUNK_SIZE = CHUNK
    register_version(trained_artifacts, 1)
    pngs = [encode_png(pixels) for pixels in mini_dataset.test.images[:CHUNK]]
    takes_chunks = [role for role in topology() if "batch" in role.queues.split(",")]
    start(start_worker, [role for role in topology() if role not in takes_chunks])
    if len(takes_chunks) < len(topology()):
        predict_image(pngs[0])  # the prediction worker has loaded the model
    # Every chunk is queued before a worker takes one, so all its processes stay busy.
    images = [batch.UploadedImage(f"{i}.png", pngs[i % CHUNK]) for i in range(CHUNK * CHUNKS)]
    job = batch.submit_batch_job(images)
    start(start_worker, takes_chunks)
    wait_until(lambda: predicted(job) > 0, timeout=120, message="the first chunk to complete")

    # Chunks completed while each prediction waited, while at least 3 are left.
    completed_meanwhile = []
    while len(completed_meanwhile) < PREDICTIONS and predicted(job) < CHUNK * (CHUNKS - 3):
        before = predicted(job)
        predict_image(pngs[1])
        completed_meanwhile.append((predicted(job) - before) / CHUNK)
    before_any = sum(1 for chunks in completed_meanwhile if chunks == 0)
    assert before_any >= BEFORE_ANY_CHUNK_AT_LEAST, (
        f"chunks completed while each prediction waited: {completed_meanwhile}"
    )
    wait_until(lambda: Job.objects.get(pk=job.pk).is_finished, timeout=300)
