"""Redis (without persistence: every queued task is lost) restarted during a batch job,
and down while a batch is submitted."""

import pytest
import requests

from harness.helpers import wait_until
from ml_core.preprocessing import encode_png
from tests.faults.conftest import (
    assert_every_image_has_exactly_one_prediction,
    post_batch,
    submit_batch,
)

pytestmark = pytest.mark.faults
IMAGES = 400


def predict(deployment, pixels) -> requests.Response:
    return requests.post(
        f"{deployment.base_url}/api/v1/predict/",
        files={"image": ("a.png", encode_png(pixels), "image/png")},
        timeout=60,
    )


def test_batch_job_recovers_its_lost_tasks_and_predictions_answer_503_meanwhile(
    deployment, mini_dataset
):
    deployment.start_web()
    worker = deployment.start_worker("inference")
    deployment.start_beat()
    job_id = submit_batch(deployment, mini_dataset.train.images[:IMAGES])
    wait_until(lambda: deployment.job(job_id)["processed"] >= 8, 60, 0.01, "the job to start")
    deployment.redis.kill()
    assert deployment.job(job_id)["processed"] < IMAGES, "finished before the kill"

    during = predict(deployment, mini_dataset.test.images[0])
    assert during.status_code == 503, during.text
    assert during.json()["detail"] == (
        "the task queue (Redis) is unavailable; try again in a few seconds"
    )
    deployment.redis.start()
    assert worker.process.poll() is None, "the worker survived the outage"

    deployment.wait_until_finished(job_id, timeout=120)
    assert_every_image_has_exactly_one_prediction(deployment, job_id)
    wait_until(
        lambda: predict(deployment, mini_dataset.test.images[1]).status_code == 200,
        30,
        0.5,
        "predictions to work again",
    )


def test_a_batch_submitted_while_redis_is_down_is_a_503_and_leaves_nothing(
    deployment, mini_dataset
):
    """The submit commits its first chunk (4 images) before queueing it fails: the
    job, its items and its files are removed again."""
    if deployment.web is None or deployment.web.process.poll() is not None:
        deployment.start_web()
    media = deployment.folder / "media"
    files_before = {path for path in media.rglob("*") if path.is_file()}
    jobs_before = deployment.postgres.value("SELECT count(*) FROM training_job")
    deployment.redis.kill()
    try:
        response = post_batch(deployment, mini_dataset.test.images[100:110])
    finally:
        deployment.redis.start()
    assert response.status_code == 503, response.text
    assert response.json()["detail"] == (
        "the task queue (Redis) is unavailable; try again in a few seconds"
    )
    assert deployment.postgres.value("SELECT count(*) FROM training_job") == jobs_before
    assert {path for path in media.rglob("*") if path.is_file()} == files_before
