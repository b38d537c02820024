"""Redis restarted without persistence while a training job waits in the queue and two
batch jobs run: every queued task and dispatched chunk is gone, and every job still
completes exactly once (the sweep sends queued jobs and lost chunks again)."""

import pytest
import requests

from harness.helpers import wait_until
from tests.faults.conftest import assert_every_image_has_exactly_one_prediction, submit_batch
from tests.faults.test_training_worker_killed import write_class_folders

pytestmark = pytest.mark.faults
# A training job sends no heartbeat while its worker imports TensorFlow and loads the
# images: on a busy machine that takes longer than the 3 s the batch tests use.
DEPLOYMENT_SETTINGS = {"JOB_STALE_AFTER_SECONDS": "30"}
UNAVAILABLE = "the task queue (Redis) is unavailable; try again in a few seconds"


def training_jobs(deployment) -> int:
    return deployment.postgres.value("SELECT count(*) FROM training_job WHERE kind = 'training'")


def post_training(deployment, token: str) -> requests.Response:
    return requests.post(
        f"{deployment.base_url}/api/v1/training-jobs/",
        json={"epochs": 1, "batch_size": 16},
        headers={"Authorization": f"Token {token}"},
        timeout=60,
    )


def test_a_queued_training_job_and_two_batch_jobs_each_complete_exactly_once(
    deployment, small_dataset, mini_dataset, tmp_path
):
    names = small_dataset.class_names
    for split, arrays in (("train", small_dataset.train), ("test", small_dataset.test)):
        folders = write_class_folders(tmp_path / split, arrays, names)
        deployment.manage("import_images", str(folders), "--split", split)
    token = deployment.manage("issue_token", "trainer", "--create").strip()
    deployment.postgres.query("UPDATE auth_user SET is_superuser = true WHERE username = 'trainer'")
    deployment.start_web()
    deployment.start_beat()
    deployment.start_worker("inference")  # also runs the beat-scheduled recovery sweep

    first = submit_batch(deployment, mini_dataset.train.images[:400])
    wait_until(lambda: deployment.job(first)["processed"] >= 8, 60, 0.01, "the first job to run")
    response = post_training(deployment, token)  # no training worker yet: it waits
    assert response.status_code == 202, response.text
    training = response.json()["id"]
    second = submit_batch(deployment, mini_dataset.test.images[:200])
    assert deployment.job(first)["processed"] < 400, "finished before the restart"

    deployment.redis.kill()
    # Meanwhile a retrain is refused with a 503, and leaves no queued job behind.
    before = training_jobs(deployment)
    refused = post_training(deployment, token)
    deployment.redis.start()  # empty: the training task and the chunks in flight are gone
    assert refused.status_code == 503, refused.text
    assert refused.json()["detail"] == UNAVAILABLE
    assert training_jobs(deployment) == before
    deployment.start_worker("training", queues="training", prefetch=1)

    for job_id in (first, second):
        deployment.wait_until_finished(job_id, timeout=180)
        assert_every_image_has_exactly_one_prediction(deployment, job_id)
    job = deployment.wait_until_finished(training, timeout=600)
    assert job["status"] == "succeeded", job
    assert job["attempts"] == 1, "sent again, run once"
    versions = deployment.postgres.value(
        "SELECT count(*) FROM training_modelversion WHERE job_id = %s", training
    )
    assert versions == 1
