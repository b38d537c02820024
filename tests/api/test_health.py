import time

from tests.workers import JOB_TEST, register_version

pytestmark = JOB_TEST


def test_liveness_needs_nothing(api):
    assert api.get("/api/v1/health/live/").json() == {"status": "alive"}


def test_not_ready_without_a_worker_or_a_model_and_says_why(api, celery_redis):
    response = api.get("/api/v1/health/ready/")
    assert response.status_code == 503
    body = response.json()
    assert body["ready"] is False
    assert body["problems"] == ["no inference worker answered", "no model version is in production"]
    assert body["checks"] == {
        "database": {"ok": True, "detail": "answered"},
        "redis": {"ok": True, "detail": "answered"},
        "inference_workers": {"ok": False, "detail": "no inference worker answered"},
        "training_workers": {"ok": False, "detail": "no training worker answered"},
        "production_model": {"ok": False, "detail": "none in production"},
    }


def test_ready_with_database_redis_worker_and_production_model(
    api, start_worker, trained_artifacts
):
    start_worker("health")
    register_version(trained_artifacts, 1)
    response = api.get("/api/v1/health/ready/")
    assert response.status_code == 200, response.json()
    body = response.json()
    assert (body["ready"], body["problems"]) == (True, [])
    assert body["checks"]["inference_workers"] == {
        "ok": True,
        "detail": "1 inference worker(s) answered",
    }
    # A training worker is reported, not required.
    assert body["checks"]["training_workers"]["ok"] is False
    assert body["checks"]["production_model"] == {"ok": True, "detail": "version 1"}


def test_the_worker_census_is_reused_for_the_cache_interval(api, start_worker, settings):
    """A census waits its whole 1 s timeout; within the interval the next readiness
    check answers from the cache, and with the interval at 0 it takes a census again."""
    start_worker("health-cache")
    settings.READINESS_WORKERS_CACHE_SECONDS = 60

    def timed_check() -> tuple[float, dict]:
        started = time.monotonic()
        body = api.get("/api/v1/health/ready/").json()
        return time.monotonic() - started, body["checks"]["inference_workers"]

    first, census = timed_check()
    again, cached = timed_check()
    assert census == cached and census["ok"]
    assert first >= 1.0 and again < 0.5, (first, again)
    settings.READINESS_WORKERS_CACHE_SECONDS = 0
    assert timed_check()[0] >= 1.0
