import os
import subprocess
import sys
from pathlib import Path

import pytest

from training.models import ModelVersion

pytestmark = pytest.mark.django_db
ROOT = Path(__file__).resolve().parent.parent.parent


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
    from jobs.models import Job
    from predictions.batch import access_key_hash

    settings.API_RATE_READ = "2/m"
    job = Job.objects.create(kind=Job.Kind.BATCH_INFERENCE, access_key_hash=access_key_hash("k"))
    api.credentials(HTTP_X_JOB_KEY="k")  # an anonymous job, followed with its key
    assert {api.get(f"/api/v1/batch-jobs/{job.pk}/").status_code for _ in range(6)} == {200}


PROXY = "10.0.0.2"  # REMOTE_ADDR of every request that came through the proxy


def post_through_proxy(api, forwarded_for: str | None):
    headers = {"REMOTE_ADDR": PROXY}
    if forwarded_for is not None:
        headers["HTTP_X_FORWARDED_FOR"] = forwarded_for
    return api.post("/api/v1/batch-jobs/", {}, **headers).status_code


@pytest.fixture
def behind_one_proxy(settings):
    settings.API_RATE_ANONYMOUS = "1/m"
    settings.API_TRUSTED_PROXY_COUNT = 1


@pytest.mark.usefixtures("behind_one_proxy")
def test_two_clients_behind_one_proxy_have_buckets_of_their_own(api):
    assert [post_through_proxy(api, "203.0.113.7") for _ in range(2)] == [400, 429]
    assert post_through_proxy(api, "203.0.113.8") == 400


@pytest.mark.usefixtures("behind_one_proxy")
def test_fake_entries_a_client_prepends_change_nothing(api):
    """The proxy appends the address it saw; whatever stands left of it is the client's."""
    assert post_through_proxy(api, "203.0.113.7") == 400
    for spoofed in ("198.51.100.1", "203.0.113.8", "garbage", "203.0.113.8, 198.51.100.9"):
        assert post_through_proxy(api, f"{spoofed}, 203.0.113.7") == 429, spoofed
    # Nor did any of that spend another client's bucket.
    assert post_through_proxy(api, "203.0.113.8") == 400


def test_behind_two_proxies_the_client_is_the_second_entry_from_the_right(api, settings):
    settings.API_RATE_ANONYMOUS = "1/m"
    settings.API_TRUSTED_PROXY_COUNT = 2  # a load balancer, then nginx
    assert post_through_proxy(api, "203.0.113.7, 192.0.2.10") == 400
    assert post_through_proxy(api, "198.51.100.1, 203.0.113.7, 192.0.2.11") == 429
    assert post_through_proxy(api, "203.0.113.8, 192.0.2.10") == 400


@pytest.mark.usefixtures("behind_one_proxy")
def test_a_missing_header_falls_back_to_the_direct_peer(api):
    assert post_through_proxy(api, None) == 400
    assert post_through_proxy(api, "") == 429  # the proxy's own bucket again
    assert post_through_proxy(api, " , ") == 429  # no address in the entry counted


def test_a_header_shorter_than_the_proxy_chain_falls_back_to_the_direct_peer(api, settings):
    """A request that skipped a proxy: nothing in its header is vouched for."""
    settings.API_RATE_ANONYMOUS = "1/m"
    settings.API_TRUSTED_PROXY_COUNT = 2
    assert post_through_proxy(api, "203.0.113.7") == 400
    assert post_through_proxy(api, "203.0.113.8") == 429  # both counted as PROXY


def test_the_header_is_ignored_unless_proxies_are_configured(api, settings):
    settings.API_RATE_ANONYMOUS = "1/m"
    assert post_through_proxy(api, "203.0.113.9") == 400
    assert post_through_proxy(api, "203.0.113.10") == 429


def test_the_replaced_address_header_setting_stops_start_up():
    """API_CLIENT_ADDRESS_HEADER trusted a header the client could set through the
    proxy; a deployment still setting it is told what replaced it."""
    result = subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=ROOT,
        env={**os.environ, "API_CLIENT_ADDRESS_HEADER": "X-Real-IP"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode != 0
    assert "API_CLIENT_ADDRESS_HEADER is no longer read" in result.stderr
    assert "set API_TRUSTED_PROXY_COUNT" in result.stderr
