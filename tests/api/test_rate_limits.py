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
    from training.models import Job

    settings.API_RATE_READ = "2/m"
    job = Job.objects.create(kind=Job.Kind.BATCH_INFERENCE)
    assert {api.get(f"/api/v1/batch-jobs/{job.pk}/").status_code for _ in range(6)} == {200}
