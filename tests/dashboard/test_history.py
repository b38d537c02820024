import pytest

from predictions.models import Prediction
from training.models import ModelVersion

pytestmark = pytest.mark.django_db


def test_filters_offer_each_class_source_and_version_once(client):
    version = ModelVersion.objects.create(
        number=4, artifact_path="v4", status="production", dataset_fingerprint="0",
        class_names=["cat", "dog"],
    )  # fmt: skip
    for label in ["cat", "cat", "zebra"]:
        Prediction.objects.create(
            image="predictions/x.png", image_sha256="0", top_label=label, confidence=0.5,
            probabilities={}, model_version=version, source="api",
        )  # fmt: skip
    content = client.get("/history/").content.decode()
    for label in ["cat", "dog", "zebra"]:
        assert content.count(f'<option value="{label}">{label}</option>') == 1
    assert '<option value="batch">Batch job</option>' in content
    assert '<option value="4">4</option>' in content


def test_reading_needs_a_login_when_the_api_says_so(client, sign_in, settings):
    settings.API_ANONYMOUS_READ = False
    assert client.get("/history/").status_code == 302
    sign_in()
    assert client.get("/history/").status_code == 200
