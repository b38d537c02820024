import pytest
from django.core.files.base import ContentFile

from training.models import Visualization

pytestmark = pytest.mark.django_db


def plot(name: str, title: str) -> None:
    Visualization.objects.create(
        name=name, title=title, image=ContentFile(b"png", name=f"{name}.png"),
        interpretation=f"what {name} shows",
    )  # fmt: skip


def test_dataset_stories_in_order_then_training_curves_newest_first(client, sign_in):
    sign_in("view_trainingimage")  # the sample images are training images
    for name in ["pixel_intensity", "class_distribution", "sample_images"]:
        plot(name, name.replace("_", " ").title())
    for number in [2, 10, 1]:
        plot(f"training_curves_v{number}", f"Training curves of version {number}")
    plot("confusion_matrix_v10", "Confusion matrix of version 10")
    content = client.get("/visualizations/").content.decode()
    positions = [
        content.index(f"{title}</h3>")
        for title in [
            "Class Distribution",
            "Sample Images",
            "Pixel Intensity",
            "Training curves of version 10",
            "Training curves of version 2",
            "Training curves of version 1",
        ]
    ]
    assert positions == sorted(positions)
    assert "what pixel_intensity shows" in content
    assert "Confusion matrix of version 10" not in content  # on the version's own page
    assert 'src="/media/class_distribution.png?expires=' in content  # signed


def test_the_sample_images_plot_only_for_those_who_may_see_training_images(client, sign_in):
    for name in ["class_distribution", "sample_images"]:
        plot(name, name.replace("_", " ").title())
    content = client.get("/visualizations/").content.decode()
    assert "Class Distribution</h3>" in content and "Sample Images" not in content
    sign_in("view_trainingimage")
    assert "Sample Images</h3>" in client.get("/visualizations/").content.decode()


def test_without_plots_it_says_when_they_appear(client):
    content = client.get("/visualizations/").content.decode()
    assert 'id="no-dataset-plots"' in content and 'id="no-training-curves"' in content
