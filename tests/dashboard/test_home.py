import pytest

from classifier_site import disk_usage
from predictions.models import Prediction
from training.models import ModelVersion

pytestmark = pytest.mark.django_db


def test_without_a_model_the_page_says_so_and_how_to_get_one(client):
    response = client.get("/")
    assert response.status_code == 200
    assert b"No model is trained yet" in response.content
    assert b"import_cifar" in response.content


def test_with_images_but_no_model_it_suggests_training(client, curated_small):
    content = client.get("/").content
    assert b"No model is trained yet" in content
    assert b"train_model --promote" in content
    assert b"200 in the train split, 80 in the test split" in content


def test_production_version_and_its_accuracy_are_shown(client):
    ModelVersion.objects.create(
        number=3, artifact_path="x", status="production", metrics={"accuracy": 0.5312},
        dataset_fingerprint="0" * 64,
    )  # fmt: skip
    content = client.get("/").content.decode()
    assert "No model is trained yet" not in content
    assert '<dd id="production-version">version 3</dd>' in content
    assert '<dd id="production-accuracy">0.531</dd>' in content


def test_the_service_panel_lists_every_readiness_check_its_script_refreshes(client):
    content = client.get("/").content.decode()
    assert 'src="/static/dashboard/status.js"' in content
    for check in ["database", "redis", "inference_workers", "training_workers", "production_model"]:
        assert f'data-check="{check}"' in content


def test_admin_link_only_for_staff(client, sign_in):
    assert b'href="/admin/"' not in client.get("/").content
    sign_in(staff=True)
    assert b'href="/admin/"' in client.get("/").content


def test_prediction_counts_are_of_the_visitors_own(client, sign_in):
    version = ModelVersion.objects.create(number=1, artifact_path="x", dataset_fingerprint="0")
    for owner in [None, None, None]:
        Prediction.objects.create(
            image="predictions/x.png", image_sha256="0", top_label="cat", confidence=0.5,
            probabilities={}, model_version=version, source="api", owner=owner,
        )  # fmt: skip
    content = client.get("/").content.decode()
    assert "Predictions stored" not in content and "Predictions are private" in content
    user = sign_in()
    Prediction.objects.filter(pk=Prediction.objects.first().pk).update(owner=user)
    assert "Your predictions: 1 " in client.get("/").content.decode()
    client.logout()
    sign_in("view_prediction", username="auditor")
    assert "Predictions stored: 3 " in client.get("/").content.decode()


def test_disk_use_is_the_scheduled_measurement_never_a_walk_per_view(client, settings, sign_in):
    assert 'id="disk-use"' not in client.get("/").content.decode()  # for staff only
    sign_in(staff=True)
    content = client.get("/").content.decode()
    assert "Media and models: not measured yet" in content
    (settings.MEDIA_ROOT / "uploads").mkdir(parents=True)
    (settings.MEDIA_ROOT / "uploads" / "a.png").write_bytes(b"x" * 2048)
    (settings.MODELS_DIR / "v1").mkdir(parents=True)
    (settings.MODELS_DIR / "v1" / "model.keras").write_bytes(b"x" * 3 * 1024 * 1024)
    disk_usage.record()  # what the scheduled purge does
    (settings.MEDIA_ROOT / "uploads" / "b.png").write_bytes(b"x" * 2048)
    content = client.get("/").content.decode()
    assert "Media (uploads, training images, plots): 2.0\xa0KB in 1 files" in content
    assert "Models: 3.0\xa0MB in 1 files" in content
    assert "free on its disk" in content and "by the scheduled purge" in content
