from tests.workers import JOB_TEST, register_version

pytestmark = JOB_TEST


def test_liveness_needs_nothing(api):
    assert api.get("/api/v1/health/live/").json() == {"status": "alive"}


def test_not_ready_without_a_worker_or_a_model_and_says_why(api, celery_redis):
    response = api.get("/api/v1/health/ready/")
    assert response.status_code == 503
    assert response.json() == {
        "ready": False,
        "problems": ["no inference worker answered", "no model version is in production"],
    }


def test_ready_with_database_redis_worker_and_production_model(
    api, start_worker, trained_artifacts
):
    start_worker("health")
    register_version(trained_artifacts, 1)
    response = api.get("/api/v1/health/ready/")
    assert response.status_code == 200, response.json()
    assert response.json() == {"ready": True, "problems": []}
