import pytest

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
