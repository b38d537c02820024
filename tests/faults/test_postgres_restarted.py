"""PostgreSQL restarted (every connection cut) during a batch job."""

import pytest
import requests

from harness.helpers import wait_until
from ml_core.preprocessing import encode_png
from tests.faults.conftest import assert_every_image_has_exactly_one_prediction, submit_batch

pytestmark = pytest.mark.faults
IMAGES = 400


def test_batch_job_finishes_and_the_next_requests_succeed(deployment, mini_dataset):
    deployment.start_web()
    deployment.start_worker("inference")
    deployment.start_beat()
    for index in range(2):  # the web and the worker now hold persistent connections
        response = requests.post(
            f"{deployment.base_url}/api/v1/predict/",
            files={"image": ("a.png", encode_png(mini_dataset.test.images[index]))},
            timeout=60,
        )
        assert response.status_code == 200, response.text
    job_id = submit_batch(deployment, mini_dataset.train.images[:IMAGES])
    wait_until(lambda: deployment.job(job_id)["processed"] >= 8, 60, 0.01, "the job to start")
    deployment.postgres.restart()
    assert deployment.job(job_id)["processed"] < IMAGES, "finished before the restart"

    statuses = [
        requests.post(
            f"{deployment.base_url}/api/v1/predict/",
            files={"image": ("b.png", encode_png(mini_dataset.test.images[index]))},
            timeout=60,
        ).status_code
        for index in range(5)
    ]
    assert statuses == [200] * 5
    deployment.wait_until_finished(job_id, timeout=120)
    assert_every_image_has_exactly_one_prediction(deployment, job_id)
