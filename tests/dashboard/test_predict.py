import pytest

from training.models import ModelVersion

pytestmark = pytest.mark.django_db


def test_names_the_serving_version_and_its_classes(client):
    ModelVersion.objects.create(
        number=2, artifact_path="v2", status="production", dataset_fingerprint="0",
        class_names=["cat", "dog"],
    )  # fmt: skip
    content = client.get("/predict/").content.decode()
    assert "Model version 2 answers, with these classes: cat, dog." in content
    assert '<input type="file" id="predict-file" name="image" accept="image/*">' in content


def test_without_a_production_model_it_warns_before_anything_is_sent(client):
    assert b"No model is in production yet" in client.get("/predict/").content


def test_anonymous_visitors_sign_in_first_when_predicting_needs_a_login(client, settings):
    settings.API_ANONYMOUS_PREDICT = False
    assert client.get("/predict/")["Location"] == "/accounts/login/?next=/predict/"
