import pytest

from training.visualizations import generate_dataset_plots

pytestmark = pytest.mark.django_db


def test_dataset_plots_are_listed_with_urls_and_interpretations(api, curated_small, settings):
    generate_dataset_plots()
    body = api.get("/api/v1/visualizations/").json()
    assert [row["name"] for row in body] == [
        "class_distribution",
        "pixel_intensity",
        "sample_images",
    ]
    distribution = body[0]
    assert distribution["url"].endswith("/media/plots/class_distribution.png")
    assert distribution["interpretation"].startswith("200 images in 10 classes.")
    assert (settings.MEDIA_ROOT / "plots" / "class_distribution.png").stat().st_size > 1000


def test_regenerating_replaces_rather_than_adds(api, curated_small):
    generate_dataset_plots()
    generate_dataset_plots()
    assert len(api.get("/api/v1/visualizations/").json()) == 3


def test_no_training_images_no_plots(api):
    assert generate_dataset_plots() == []
    assert api.get("/api/v1/visualizations/").json() == []
