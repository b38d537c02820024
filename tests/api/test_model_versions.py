import threading
import urllib.error
import urllib.request
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.contrib.auth.models import Permission, User
from rest_framework.authtoken.models import Token

from training.models import ModelVersion, Promotion

pytestmark = pytest.mark.django_db


def version(number: int, status: str = "candidate") -> ModelVersion:
    return ModelVersion.objects.create(
        number=number, artifact_path=f"v{number}", status=status, class_names=["a", "b"],
        metrics={"accuracy": number / 10}, dataset_fingerprint="0",
    )  # fmt: skip


def test_list_and_detail_show_metrics(api):
    version(1, "production"), version(2)
    listing = api.get("/api/v1/model-versions/").json()
    assert [row["number"] for row in listing["results"]] == [2, 1]
    detail = api.get("/api/v1/model-versions/1/").json()
    assert detail["status"] == "production" and detail["accuracy"] == 0.1


def test_promote_needs_an_authenticated_user(api):
    version(1)
    response = api.post("/api/v1/model-versions/1/promote/")
    assert response.status_code == 401
    assert "credentials were not provided" in response.json()["detail"]


def test_promote_needs_the_change_permission(viewer):
    version(1)
    response = viewer.post("/api/v1/model-versions/1/promote/")
    assert response.status_code == 403
    assert ModelVersion.production() is None


def test_operator_promotes_and_rolls_back(operator):
    version(1), version(2)
    assert operator.post("/api/v1/model-versions/1/promote/").json()["status"] == "production"
    assert operator.post("/api/v1/model-versions/2/promote/").json()["status"] == "production"
    rolled = operator.post("/api/v1/model-versions/rollback/")
    assert rolled.status_code == 200 and rolled.json()["number"] == 1
    assert ModelVersion.production().number == 1


def test_rollback_with_nothing_to_go_back_to_is_409(operator):
    version(1, "production")
    response = operator.post("/api/v1/model-versions/rollback/")
    assert response.status_code == 409
    assert response.json() == {"detail": "there is no earlier production version to roll back to"}


def test_unknown_version_is_a_json_404(api):
    response = api.get("/api/v1/model-versions/99/")
    assert response.status_code == 404
    assert response.json()["detail"]


def test_wrong_method_is_a_json_405(operator):
    version(1)
    response = operator.put("/api/v1/model-versions/1/", {"status": "production"})
    assert response.status_code == 405
    assert response.json() == {"detail": 'Method "PUT" not allowed.'}


# Concurrency, over HTTP against a live server: each request runs in its own thread
# with its own database connection, as under gunicorn.
THREADS = 16
ROUNDS = 3


@pytest.fixture
def operator_token(transactional_db) -> str:
    user = User.objects.create_user("concurrent-operator")
    user.user_permissions.add(Permission.objects.get(codename="change_modelversion"))
    return Token.objects.create(user=user).key


def post(url: str, token: str) -> int:
    request = urllib.request.Request(
        url, method="POST", headers={"Authorization": f"Token {token}"}
    )
    try:
        with urllib.request.urlopen(request, timeout=120) as response:
            return response.status
    except urllib.error.HTTPError as answer:
        return answer.code


def post_all_at_once(urls: list[str], token: str) -> list[int]:
    """POST every URL from THREADS threads, each batch of THREADS released together."""
    start = threading.Barrier(THREADS)

    def send(url: str) -> int:
        start.wait(timeout=60)
        return post(url, token)

    with ThreadPoolExecutor(THREADS) as pool:
        return list(pool.map(send, urls))


def assert_consistent_promotion_log() -> None:
    """Each live promotion replaced the version the one before it put in production."""
    live = list(Promotion.objects.filter(reverted=False).order_by("id"))
    previous = None
    for promotion in live:
        assert promotion.previous_version_id == previous, [
            (row.version_id, row.previous_version_id) for row in live
        ]
        previous = promotion.version_id
    assert ModelVersion.production().pk == previous


@pytest.mark.django_db(transaction=True)
def test_concurrent_promotes_leave_one_production_version_and_a_consistent_log(
    live_server, operator_token
):
    version(1), version(2)
    urls = [f"{live_server.url}/api/v1/model-versions/{number}/promote/" for number in (1, 2)]
    for _ in range(ROUNDS):
        statuses = post_all_at_once(urls * THREADS, operator_token)
        assert Counter(statuses) == {200: 2 * THREADS}
        assert ModelVersion.objects.filter(status="production").count() == 1
        assert_consistent_promotion_log()


@pytest.mark.django_db(transaction=True)
def test_concurrent_rollbacks_each_undo_one_promotion(live_server, operator_token):
    versions = [version(number) for number in range(1, 6)]
    versions[0].promote()
    url = f"{live_server.url}/api/v1/model-versions/rollback/"
    for _ in range(ROUNDS):
        for each in versions[1:]:
            each.promote()
        statuses = post_all_at_once([url] * THREADS, operator_token)
        # Four promotions had a predecessor to go back to: four rollbacks, then a 409
        # (not a 409 for a request that waited while another rolled back).
        assert Counter(statuses) == {200: 4, 409: THREADS - 4}
        assert ModelVersion.production().number == 1
        assert_consistent_promotion_log()
    assert not Promotion.objects.filter(version__number__gt=1, reverted=False).exists()
