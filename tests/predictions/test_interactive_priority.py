"""Single predictions never queue behind batch chunks: with the workers `make run`
starts (harness.workers.SERVICE_WORKERS), a prediction asked while a job has dozens
of chunks queued is answered while only a few of them complete.

Counted in chunks rather than milliseconds, so a busy machine does not decide it: a
worker taking both queues (the topology before issue 15: `inference,batch`, prefetch
32 per process) has already reserved the chunks queued before the prediction, and
its pool runs them first, so dozens complete before the answer."""

import os

from harness.helpers import wait_until
from harness.workers import SERVICE_WORKERS, WorkerRole
from jobs.models import Job
from ml_core.preprocessing import encode_png
from predictions import batch
from predictions.single import predict_image
from tests.workers import JOB_TEST, register_version

pytestmark = JOB_TEST

CHUNK = 64
CHUNKS = 100
QUEUED_AT_LEAST = 40  # chunks left when a prediction is asked
# FIFO: a prediction waits for the chunks reserved before it (up to 64, and at least
# the QUEUED_AT_LEAST left); with its own worker, for none of them.
COMPLETED_AT_MOST = 8
# PRIORITY_TOPOLOGY=shared: the topology before issue 15, to see this test fail.
SHARED = (WorkerRole("inference", "inference,batch", 2, 32, {"INFERENCE_THREADS": "1"}),)


def topology() -> tuple[WorkerRole, ...]:
    if os.environ.get("PRIORITY_TOPOLOGY") == "shared":
        return SHARED
    return tuple(role for role in SERVICE_WORKERS if "training" not in role.queues)


def start(start_worker, roles) -> None:
    for role in roles:
        start_worker(role.name, role.queues, role.prefetch, role.concurrency, **role.environment)


def processed(job: Job) -> int:
    return Job.objects.get(pk=job.pk).processed


def test_a_prediction_is_answered_before_the_chunks_queued_ahead_of_it(
    start_worker, trained_artifacts, mini_dataset, settings
):
    settings.BATCH_JOB_CHUNK_SIZE = CHUNK
    register_version(trained_artifacts, 1)
    pngs = [encode_png(pixels) for pixels in mini_dataset.test.images[:CHUNK]]
    takes_chunks = [role for role in topology() if "batch" in role.queues.split(",")]
    start(start_worker, [role for role in topology() if role not in takes_chunks])
    if len(takes_chunks) < len(topology()):
        predict_image(pngs[0])  # the prediction worker has loaded the model
    # Every chunk is queued before a worker takes one: all are ahead of the predictions.
    images = [batch.UploadedImage(f"{i}.png", pngs[i % CHUNK]) for i in range(CHUNK * CHUNKS)]
    job = batch.submit_batch_job(images)
    start(start_worker, takes_chunks)
    wait_until(lambda: processed(job) > 0, timeout=120, message="the first chunks to complete")

    completed_meanwhile = []
    while (left := CHUNKS - processed(job) // CHUNK) >= QUEUED_AT_LEAST:
        before = processed(job)
        predict_image(pngs[1])
        completed_meanwhile.append((processed(job) - before) // CHUNK)
        if min(completed_meanwhile) <= COMPLETED_AT_MOST:
            break
    assert completed_meanwhile, f"the job ran out of chunks ({left} left) before a prediction"
    assert min(completed_meanwhile) <= COMPLETED_AT_MOST, (
        f"{completed_meanwhile} chunks completed while single predictions waited "
        f"(at least {QUEUED_AT_LEAST} were queued each time)"
    )
    wait_until(lambda: Job.objects.get(pk=job.pk).is_finished, timeout=300)
