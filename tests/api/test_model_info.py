import pytest

from training.models import ModelVersion

pytestmark = pytest.mark.django_db


def test_without_production_the_info_says_so(api):
    body = api.get("/api/v1/model/").json()
    assert body["production"] is None
    assert body["input_shape"] == [32, 32, 3]
    assert body["service_uptime_seconds"] >= 0
    assert body["model_serving_seconds"] is None


def test_production_version_metrics_classes_and_serving_time(api):
    version = ModelVersion.objects.create(
        number=3, artifact_path="v3", class_names=["cat", "dog"], metrics={"accuracy": 0.6},
        dataset_fingerprint="0",
    )  # fmt: skip
    version.promote()
    body = api.get("/api/v1/model/").json()
    assert body["production"]["number"] == 3
    assert body["production"]["class_names"] == ["cat", "dog"]
    assert body["production"]["accuracy"] == 0.6
    assert 0 <= body["model_serving_seconds"] < 60
