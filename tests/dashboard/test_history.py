import pytest

from predictions.models import Prediction
from training.models import ModelVersion

pytestmark = pytest.mark.django_db


def test_filters_offer_each_class_source_and_version_once(client, sign_in):
    user = sign_in()
    version = ModelVersion.objects.create(
        number=4, artifact_path="v4", status="production", dataset_fingerprint="0",
        class_names=["cat", "dog"],
    )  # fmt: skip
    for label, owner in [("cat", user), ("cat", user), ("zebra", user), ("okapi", None)]:
        Prediction.objects.create(
            image="predictions/x.png", image_sha256="0", top_label=label, confidence=0.5,
            probabilities={}, model_version=version, source="api", owner=owner,
        )  # fmt: skip
    content = client.get("/history/").content.decode()
    for label in ["cat", "dog", "zebra"]:
        assert content.count(f'<option value="{label}">{label}</option>') == 1
    assert "okapi" not in content  # another's prediction: not even its class
    assert '<option value="batch">Batch job</option>' in content
    assert '<option value="4">4</option>' in content


def test_anonymous_visitors_are_told_their_predictions_are_not_listed(client):
    content = client.get("/history/").content.decode()
    assert 'id="history-private"' in content and "Sign in</a> to keep a history" in content


def test_reading_needs_a_login_when_the_api_says_so(client, sign_in, settings):
    settings.API_ANONYMOUS_READ = False
    assert client.get("/history/").status_code == 302
    sign_in()
    assert client.get("/history/").status_code == 200
