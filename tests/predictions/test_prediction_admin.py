"""The correction loop in the admin: a prediction's image joins the training set."""

import hashlib

import pytest
from django.contrib.auth.models import Permission, User
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage

from ml_core.preprocessing import encode_png
from predictions.models import Prediction
from training.models import ModelVersion, TrainingImage

pytestmark = pytest.mark.django_db
CHANGELIST = "/admin/predictions/prediction/"


@pytest.fixture
def predictions(curated_small, mini_dataset):
    version = ModelVersion.objects.create(number=1, artifact_path="v1", dataset_fingerprint="0")
    rows = []
    for index in range(3):
        content = encode_png(mini_dataset.test.images[500 + index])  # not in curated_small
        sha256 = hashlib.sha256(content).hexdigest()
        name = default_storage.save(f"predictions/{sha256}.png", ContentFile(content))
        prediction = Prediction.objects.create(
            image=name, image_sha256=sha256, original_name=f"photo{index}.png",
            top_label="cat", confidence=0.6, probabilities={"cat": 0.6},
            model_version=version, source="api",
        )  # fmt: skip
        rows.append(prediction)
    return rows


@pytest.fixture
def curator(client, db):
    user = User.objects.create_user("curator", is_staff=True)
    user.user_permissions.add(
        *Permission.objects.filter(codename__in=["view_prediction", "add_trainingimage"])
    )
    client.force_login(user)


def add(client, selected, **extra):
    data = {"action": "add_to_training", "_selected_action": selected, "index": 0, **extra}
    return client.post(CHANGELIST, data, follow=True)


def test_list_and_page_show_the_image(client, curator, predictions):
    assert client.get(CHANGELIST).content.decode().count("image-rendering: pixelated") == 3
    page = client.get(f"{CHANGELIST}{predictions[0].pk}/change/").content.decode()
    assert f'<img src="/media/{predictions[0].image.name}?expires=' in page  # signed
    assert 'width="256"' in page
    assert f"{CHANGELIST}{predictions[0].pk}/add-to-training/" in page


def test_wrong_predictions_become_training_images_with_the_right_label(
    client, curator, predictions
):
    selected = [row.pk for row in predictions[:2]]
    form = add(client, selected)
    assert "2 predictions chosen" in form.content.decode()
    done = add(client, selected, label="dog", split="train", apply="Apply")
    assert "Added 2 image(s) to the train split as “dog”; 0 already" in done.content.decode()
    added = TrainingImage.objects.filter(source="prediction")
    assert set(added.values_list("sha256", "label", "split")) == {
        (row.image_sha256, "dog", "train") for row in predictions[:2]
    }
    stored = added.get(sha256=predictions[0].image_sha256)
    assert hashlib.sha256(stored.image.read()).hexdigest() == predictions[0].image_sha256
    assert stored.original_name == "photo0.png"


def test_adding_again_adds_nothing_and_names_the_existing_label(client, curator, predictions):
    add(client, [predictions[0].pk], label="dog", split="train", apply="Apply")
    again = add(client, [predictions[0].pk], label="frog", split="test", apply="Apply")
    content = again.content.decode()
    assert "Added 0 image(s)" in content and "1 already in the training set" in content
    assert "already have another label (dog)" in content
    assert TrainingImage.objects.filter(source="prediction").count() == 1


def test_an_unknown_label_needs_new_class(client, curator, predictions):
    refused = add(client, [predictions[0].pk], label="zebra", split="train", apply="Apply")
    assert "unknown class" in refused.content.decode()
    assert not TrainingImage.objects.filter(source="prediction").exists()


def test_a_new_class_when_asked_for(client, curator, predictions):
    add(client, [predictions[0].pk], label="zebra", split="train", new_class="on", apply="Apply")
    assert TrainingImage.objects.get(source="prediction").label == "zebra"


def test_from_one_predictions_page(client, curator, predictions):
    url = f"{CHANGELIST}{predictions[2].pk}/add-to-training/"
    form = client.get(url).content.decode()
    assert 'value="cat"' in form  # the predicted label as a starting point
    response = client.post(url, {"label": "bird", "split": "test", "apply": "Apply"})
    assert response["Location"] == f"{CHANGELIST}{predictions[2].pk}/change/"
    assert TrainingImage.objects.get(sha256=predictions[2].image_sha256).label == "bird"


def test_needs_the_permission_to_add_training_images(client, predictions):
    user = User.objects.create_user("viewer", is_staff=True)
    user.user_permissions.add(Permission.objects.get(codename="view_prediction"))
    client.force_login(user)
    assert "Add to training set" not in client.get(CHANGELIST).content.decode()
    url = f"{CHANGELIST}{predictions[0].pk}/add-to-training/"
    assert client.post(url, {"label": "dog", "split": "train"}).status_code == 403
    assert not TrainingImage.objects.filter(source="prediction").exists()
