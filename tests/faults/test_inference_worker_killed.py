"""SIGKILL one of two inference workers in the middle of a batch job."""

import pytest

from harness.helpers import wait_until
from tests.faults.conftest import assert_every_image_has_exactly_one_prediction, submit_batch

pytestmark = pytest.mark.faults
IMAGES = 400


def test_batch_job_finishes_with_one_prediction_per_image(deployment, mini_dataset):
    deployment.start_web()
    doomed = deployment.start_worker("doomed")
    deployment.start_worker("survivor")
    deployment.start_beat()
    job_id = submit_batch(deployment, mini_dataset.train.images[:IMAGES])
    wait_until(lambda: deployment.job(job_id)["processed"] >= 8, 60, 0.01, "the job to start")
    doomed.kill()
    assert deployment.job(job_id)["processed"] < IMAGES, "finished before the kill"

    job = deployment.wait_until_finished(job_id, timeout=120)
    assert_every_image_has_exactly_one_prediction(deployment, job_id)
    assert job["attempts"] >= 1
