import pytest

from training.models import ModelVersion

pytestmark = pytest.mark.django_db


def test_anonymous_writes_beyond_the_rate_get_429_with_retry_after(api, settings):
    settings.API_RATE_ANONYMOUS = "3/m"
    statuses = [api.post("/api/v1/batch-jobs/", {}).status_code for _ in range(4)]
    assert statuses == [400, 400, 400, 429]
    response = api.post("/api/v1/batch-jobs/", {})
    assert response.status_code == 429
    assert 1 <= int(response["Retry-After"]) <= 60
    assert "Request was throttled" in response.json()["detail"]


def test_limits_count_per_user_not_per_address(operator, viewer, settings):
    settings.API_RATE_USER = "2/m"
    assert [viewer.post("/api/v1/batch-jobs/", {}).status_code for _ in range(3)] == [400, 400, 429]
    # Same address, another user: a counter of its own.
    assert operator.post("/api/v1/batch-jobs/", {}).status_code == 400
    ModelVersion.objects.create(number=1, artifact_path="v1", dataset_fingerprint="0")
    assert operator.post("/api/v1/model-versions/1/promote/").status_code == 200


def test_health_and_model_info_are_never_limited(api, settings):
    settings.API_RATE_READ = "2/m"
    for _ in range(5):
        assert api.get("/api/v1/health/live/").status_code == 200
        assert api.get("/api/v1/model/").status_code == 200
    assert [api.get("/api/v1/model-versions/").status_code for _ in range(3)] == [200, 200, 429]


def test_job_progress_polling_is_never_limited(api, settings):
    from predictions.batch import access_key_hash
    from training.models import Job

    settings.API_RATE_READ = "2/m"
    job = Job.objects.create(kind=Job.Kind.BATCH_INFERENCE, access_key_hash=access_key_hash("k"))
    api.credentials(HTTP_X_JOB_KEY="k")  # an anonymous job, followed with its key
    assert {api.get(f"/api/v1/batch-jobs/{job.pk}/").status_code for _ in range(6)} == {200}


def test_behind_a_proxy_each_client_address_has_its_own_bucket(api, settings):
    settings.API_RATE_ANONYMOUS = "1/m"
    settings.API_CLIENT_ADDRESS_HEADER = "X-Real-IP"
    first = [api.post("/api/v1/batch-jobs/", {}, HTTP_X_REAL_IP="203.0.113.7") for _ in range(2)]
    assert [response.status_code for response in first] == [400, 429]
    # Same proxy (REMOTE_ADDR), another client behind it.
    assert api.post("/api/v1/batch-jobs/", {}, HTTP_X_REAL_IP="203.0.113.8").status_code == 400


def test_the_address_header_is_ignored_unless_configured(api, settings):
    settings.API_RATE_ANONYMOUS = "1/m"
    assert api.post("/api/v1/batch-jobs/", {}, HTTP_X_REAL_IP="203.0.113.9").status_code == 400
    assert api.post("/api/v1/batch-jobs/", {}, HTTP_X_REAL_IP="203.0.113.10").status_code == 429
