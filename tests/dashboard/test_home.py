import pytest

from training.models import ModelVersion


@pytest.mark.django_db
def test_without_a_model_the_page_says_so_and_how_to_get_one(client):
    response = client.get("/")
    assert response.status_code == 200
    assert b"No model is trained yet" in response.content
    assert b"import_cifar" in response.content


@pytest.mark.django_db
def test_with_images_but_no_model_it_suggests_training(client, curated_small):
    content = client.get("/").content
    assert b"No model is trained yet" in content
    assert b"train_model --promote" in content
    assert b"200 in the train split, 80 in the test split" in content


@pytest.mark.django_db
def test_production_version_and_its_accuracy_are_shown(client):
    ModelVersion.objects.create(
        number=3, artifact_path="x", status="production", metrics={"accuracy": 0.5312},
        dataset_fingerprint="0" * 64,
    )  # fmt: skip
    content = client.get("/").content
    assert b"No model is trained yet" not in content
    assert b"version 3" in content and b"0.531" in content
