import io

import numpy as np
from PIL import Image

from ml_core.plots import class_distribution, dataset_plots, pixel_intensity, training_curves

NAMES = ["cat", "dog", "frog"]


def is_png(data: bytes) -> bool:
    return Image.open(io.BytesIO(data)).format == "PNG"


def test_class_distribution_interpretation_counts_from_the_data():
    plot = class_distribution(np.array([0, 0, 0, 1, 2, 2]), NAMES)
    assert is_png(plot.png)
    assert plot.interpretation.startswith("6 images in 3 classes. The largest class, cat, has 3")
    assert "smallest, dog, 1: a ratio of 3.00, so the classes are imbalanced" in plot.interpretation


def test_pixel_intensity_names_darkest_and_brightest_class():
    images = np.zeros((3, 4, 4, 3), dtype=np.uint8)
    images[1] = 255
    images[2] = 51
    plot = pixel_intensity(images, np.array([0, 1, 2]), NAMES)
    assert "darkest class on average is cat (0.000)" in plot.interpretation
    assert "brightest dog (1.000)" in plot.interpretation


def test_dataset_plots_are_the_three_stories(mini_dataset):
    images, labels = mini_dataset.train.images[:200], mini_dataset.train.labels[:200]
    plots = dataset_plots(images, labels, mini_dataset.class_names)
    assert [plot.name for plot in plots] == [
        "class_distribution",
        "sample_images",
        "pixel_intensity",
    ]
    assert all(is_png(plot.png) for plot in plots)
    assert "200 images in 10 classes" in plots[0].interpretation


def test_training_curves_report_the_best_epoch():
    history = [
        {"epoch": 1, "loss": 2.0, "val_loss": 2.1, "accuracy": 0.3, "val_accuracy": 0.25},
        {"epoch": 2, "loss": 1.5, "val_loss": 1.6, "accuracy": 0.6, "val_accuracy": 0.45},
        {"epoch": 3, "loss": 1.0, "val_loss": 1.7, "accuracy": 0.7, "val_accuracy": 0.4},
    ]
    plot = training_curves(history)
    assert is_png(plot.png)
    assert "peaked at 0.450 in epoch 2" in plot.interpretation
    assert "a gap of 0.300 (the model overfits)" in plot.interpretation
