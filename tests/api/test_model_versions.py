import pytest

from training.models import ModelVersion

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
