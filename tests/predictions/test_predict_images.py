"""Single predictions answered synchronously by an inference worker, micro-batched."""

import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from ml_core.preprocessing import encode_png
from predictions import enqueue
from predictions.models import Prediction
from predictions.single import PredictionUnavailable, predict_image
from tests.workers import JOB_TEST, let_workers_forget_deleted_versions, register_version

pytestmark = JOB_TEST


@pytest.fixture(scope="module")
def batching_worker(start_worker):
    return start_worker("batching", INFERENCE_MAX_BATCH_SIZE=32, INFERENCE_MAX_DELAY_SECONDS=0.05)


def images(mini_dataset, count: int) -> list[bytes]:
    return [encode_png(pixels) for pixels in mini_dataset.test.images[:count]]


def test_prediction_is_answered_and_stored_with_its_model_version(
    batching_worker, trained_artifacts, mini_dataset
):
    version = register_version(trained_artifacts, 4)
    result = predict_image(images(mini_dataset, 1)[0], "cat.png")
    assert result.model_version == 4
    assert result.label in trained_artifacts["class_names"]
    assert sum(result.probabilities.values()) == pytest.approx(1.0, abs=1e-5)
    stored = Prediction.objects.get(pk=result.prediction_id)
    assert stored.model_version == version
    assert stored.top_label == result.label
    assert stored.original_name == "cat.png"
    assert stored.image.name.startswith("predictions/")


def test_concurrent_requests_share_forward_passes(batching_worker, trained_artifacts, mini_dataset):
    register_version(trained_artifacts, 1)
    predict_image(images(mini_dataset, 1)[0])  # the model is loaded before timing matters
    with ThreadPoolExecutor(max_workers=16) as pool:
        results = list(pool.map(predict_image, images(mini_dataset, 64)))
    assert len({result.prediction_id for result in results}) == 64
    assert max(result.batch_size for result in results) > 1
    assert Prediction.objects.count() == 65


def test_without_micro_batching_every_request_runs_alone(
    start_worker, trained_artifacts, mini_dataset, batching_worker
):
    batching_worker.stop()
    start_worker("unbatched", INFERENCE_MAX_BATCH_SIZE=1, prefetch=1)
    register_version(trained_artifacts, 1)
    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(predict_image, images(mini_dataset, 16)))
    assert {result.batch_size for result in results} == {1}


def test_promotion_reaches_the_worker_within_seconds_and_no_request_fails(
    start_worker, trained_artifacts, mini_dataset
):
    first = register_version(trained_artifacts, 1)
    second = register_version(trained_artifacts, 2, status="candidate")
    assert predict_image(images(mini_dataset, 1)[0]).model_version == 1
    versions, stop = [], time.monotonic() + 6
    with ThreadPoolExecutor(max_workers=4) as pool:
        promoted_at = None
        while time.monotonic() < stop:
            batch = list(pool.map(predict_image, images(mini_dataset, 4)))
            versions.extend((time.monotonic(), result.model_version) for result in batch)
            if promoted_at is None and time.monotonic() > stop - 5:
                second.promote()
                promoted_at = time.monotonic()
    assert first.pk != second.pk
    switched = [at for at, number in versions if number == 2]
    assert switched, "the promotion never reached the worker"
    assert min(switched) - promoted_at < 3
    assert all(number == 2 for at, number in versions if at > promoted_at + 3)


def test_no_production_model_is_reported_not_hidden(start_worker, mini_dataset):
    let_workers_forget_deleted_versions()
    with pytest.raises(PredictionUnavailable, match="no model version is in production"):
        predict_image(images(mini_dataset, 1)[0])


def test_no_worker_answering_times_out_with_a_clear_error(
    mini_dataset, settings, celery_redis, monkeypatch
):
    settings.PREDICTION_TIMEOUT_SECONDS = 0.5
    send = enqueue.send
    monkeypatch.setattr(enqueue, "send", lambda *args, **kw: send(*args, queue="unserved", **kw))
    with pytest.raises(PredictionUnavailable, match="no inference worker answered within 0.5 s"):
        predict_image(images(mini_dataset, 1)[0])
