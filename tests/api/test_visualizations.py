import re
from pathlib import Path

import pytest
from django.contrib.auth.models import Permission, User
from rest_framework.test import APIClient

from tests.api.conftest import client_for
from training.models import ModelVersion, TrainingImage, Visualization
from training.visualizations import generate_dataset_plots, generate_training_plot

pytestmark = pytest.mark.django_db

HISTORY = [
    {"epoch": 1, "loss": 2.0, "val_loss": 2.1, "accuracy": 0.3, "val_accuracy": 0.25},
    {"epoch": 2, "loss": 1.5, "val_loss": 1.6, "accuracy": 0.6, "val_accuracy": 0.45},
]


@pytest.fixture
def api(db):
    """A reader who may see training images, so every plot is listed (the sample
    images plot shows training images: see the last test for the others)."""
    user = User.objects.create_user("reader")
    user.user_permissions.add(Permission.objects.get(codename="view_trainingimage"))
    return client_for(user)


def stored_file(settings, url: str) -> Path:
    return Path(settings.MEDIA_ROOT) / url.split("/media/", 1)[1].split("?", 1)[0]


def version_with_history(number: int) -> ModelVersion:
    return ModelVersion.objects.create(
        number=number, artifact_path=f"v{number}", class_names=["a", "b"],
        metrics={"accuracy": 0.5}, dataset_fingerprint="0", training_history=HISTORY,
    )  # fmt: skip


def test_dataset_plots_are_listed_with_urls_and_interpretations(api, curated_small, settings):
    generate_dataset_plots()
    body = api.get("/api/v1/visualizations/").json()
    assert [row["name"] for row in body] == [
        "class_distribution",
        "pixel_intensity",
        "sample_images",
    ]
    distribution = body[0]
    assert set(distribution) == {
        "name", "title", "url", "interpretation", "model_version", "created_at",
    }  # fmt: skip
    signed = r"/media/plots/class_distribution-[0-9a-f]{16}\.png\?expires=\d+&signature="
    assert re.search(signed, distribution["url"])
    assert distribution["interpretation"].startswith("200 images in 10 classes.")
    assert distribution["model_version"] is None
    assert stored_file(settings, distribution["url"]).stat().st_size > 1000


def test_redrawing_replaces_the_row_and_its_file(api, curated_small, settings):
    generate_dataset_plots()
    before = api.get("/api/v1/visualizations/class_distribution/").json()
    TrainingImage.objects.filter(split="train", label="cat").update(status="excluded")
    generate_dataset_plots()
    after = api.get("/api/v1/visualizations/class_distribution/").json()
    assert after["interpretation"].startswith("180 images in 9 classes.")
    assert after["url"] != before["url"], "new content, new URL: no stale browser cache"
    assert stored_file(settings, after["url"]).is_file()
    assert not stored_file(settings, before["url"]).exists(), "the old file is removed"
    assert len(api.get("/api/v1/visualizations/").json()) == 3


def test_redrawing_the_same_content_keeps_one_file(curated_small, settings):
    generate_dataset_plots()
    generate_dataset_plots()
    assert Visualization.objects.count() == 3
    assert len(list((Path(settings.MEDIA_ROOT) / "plots").iterdir())) == 3


def test_no_training_images_no_plots(api):
    assert generate_dataset_plots() == []
    assert api.get("/api/v1/visualizations/").json() == []


def test_filter_by_model_version_lists_only_that_versions_plots(api, curated_small):
    generate_dataset_plots()
    for number in (1, 2):
        generate_training_plot(version_with_history(number))
    only_two = api.get("/api/v1/visualizations/?model_version=2").json()
    assert [(row["name"], row["model_version"]) for row in only_two] == [("training_curves_v2", 2)]
    assert only_two[0]["title"] == "Training curves of version 2"
    assert "peaked at 0.450 in epoch 2" in only_two[0]["interpretation"]
    assert len(api.get("/api/v1/visualizations/").json()) == 5, "unfiltered: every plot"
    assert api.get("/api/v1/visualizations/?model_version=9").json() == []


@pytest.mark.parametrize("value", ["two", "1.5"])
def test_a_model_version_that_is_not_a_number_is_a_400(api, value):
    response = api.get(f"/api/v1/visualizations/?model_version={value}")
    assert response.status_code == 400
    assert response.json()["errors"]["model_version"] == ["Enter a whole number."]


def test_the_sample_images_plot_is_listed_only_to_those_who_may_see_training_images(
    curated_small,
):
    generate_dataset_plots()
    anonymous = APIClient()
    names = [row["name"] for row in anonymous.get("/api/v1/visualizations/").json()]
    assert names == ["class_distribution", "pixel_intensity"]
    assert anonymous.get("/api/v1/visualizations/sample_images/").status_code == 404
