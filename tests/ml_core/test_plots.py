import io

import numpy as np
import pytest
from PIL import Image
from sklearn.metrics import roc_auc_score

from ml_core.evaluation import evaluate
from ml_core.plots import (
    class_distribution,
    confusion_matrix_heatmap,
    dataset_plots,
    evaluation_plots,
    per_class_metrics,
    pixel_intensity,
    roc_curves,
    sample_images,
    training_curves,
)

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


def one_hot(predicted: list[int], classes: int = 3) -> np.ndarray:
    """Probabilities that put 0.8 on the predicted class and share the rest."""
    probabilities = np.full((len(predicted), classes), 0.2 / (classes - 1))
    probabilities[np.arange(len(predicted)), predicted] = 0.8
    return probabilities


def test_confusion_matrix_names_the_most_frequent_confusion():
    y_true = [0, 0, 0, 0, 1, 1, 1, 1, 2, 2]
    predicted = [0, 1, 1, 1, 1, 1, 1, 0, 2, 2]
    plot = confusion_matrix_heatmap(evaluate(y_true, one_hot(predicted), NAMES))
    assert plot.name == "confusion_matrix" and is_png(plot.png)
    assert plot.interpretation.startswith(
        "10 test images, 6 of them (60.0%) on the diagonal, i.e. classified correctly."
    )
    assert "most frequent confusion is cat taken for dog: 3 of 4 cat images (75.0%)" in (
        plot.interpretation
    )
    assert "least often is cat (25.0% of its images), the most often frog (100.0%)" in (
        plot.interpretation
    )


def test_confusion_matrix_sentence_follows_the_data():
    y_true = [0, 0, 1, 1, 2, 2]
    perfect = confusion_matrix_heatmap(evaluate(y_true, one_hot(y_true), NAMES))
    assert "6 of them (100.0%)" in perfect.interpretation
    assert "No image was misclassified." in perfect.interpretation
    frogs_as_cats = confusion_matrix_heatmap(evaluate(y_true, one_hot([0, 0, 1, 1, 0, 2]), NAMES))
    assert "frog taken for cat: 1 of 2 frog images (50.0%)" in frogs_as_cats.interpretation


def test_roc_curves_report_the_area_under_each_curve():
    y_true = np.array([0, 0, 1, 1, 2, 2])
    probabilities = np.array(
        [
            [0.9, 0.05, 0.05],
            [0.6, 0.3, 0.1],
            [0.1, 0.8, 0.1],
            [0.7, 0.2, 0.1],  # a dog that looks most like a cat
            [0.1, 0.2, 0.7],
            [0.2, 0.2, 0.6],
        ]
    )
    plot = roc_curves(y_true, probabilities, NAMES)
    assert plot.name == "roc_curves" and is_png(plot.png)
    aucs = {
        name: roc_auc_score(y_true == index, probabilities[:, index])
        for index, name in enumerate(NAMES)
    }
    assert (aucs["cat"], aucs["dog"], aucs["frog"]) == pytest.approx((0.875, 0.75, 1.0))
    assert f"the mean area under the curve is {np.mean(list(aucs.values())):.3f}" in (
        plot.interpretation
    )
    assert (
        "The easiest class to tell apart from the rest is frog (AUC 1.000), "
        "the hardest dog (AUC 0.750)."
    ) in plot.interpretation
    assert "over 6 test images" in plot.interpretation


def test_roc_curves_skip_a_class_without_test_images():
    y_true = np.array([0, 0, 1, 1])
    plot = roc_curves(y_true, one_hot([0, 1, 1, 1]), NAMES)
    assert "ROC curves of 2 classes over 4 test images" in plot.interpretation
    assert "No curve for frog" in plot.interpretation


def test_per_class_metrics_report_macro_scores_and_the_widest_gap():
    y_true = [0, 0, 0, 0, 1, 1, 1, 1, 2, 2]
    predicted = [0, 1, 1, 1, 1, 1, 1, 0, 2, 2]
    metrics = evaluate(y_true, one_hot(predicted), NAMES)
    plot = per_class_metrics(metrics)
    assert plot.name == "per_class_metrics" and is_png(plot.png)
    assert (
        f"precision {metrics['precision_macro']:.3f}, recall {metrics['recall_macro']:.3f}, "
        f"F1 {metrics['f1_macro']:.3f}"
    ) in plot.interpretation
    assert "The best F1 is frog's (1.000), the worst cat's (0.333)" in plot.interpretation
    # dog: 6 predicted, 3 of them right (precision 0.5); 3 of 4 found (recall 0.75).
    # cat: precision 0.5, recall 0.25; the widest gap is cat's, it is missed.
    assert "widest gap is cat's: precision 0.500 against recall 0.250" in plot.interpretation
    assert "misses many of its images" in plot.interpretation


def test_per_class_metrics_explain_a_class_predicted_too_often():
    y_true = [0, 0, 1, 1, 2, 2]
    metrics = evaluate(y_true, one_hot([0, 0, 1, 1, 0, 0]), NAMES)
    plot = per_class_metrics(metrics)
    assert "widest gap is frog's" not in plot.interpretation
    assert "cat's: precision 0.500 against recall 1.000" in plot.interpretation
    assert "says it too often" in plot.interpretation


def test_evaluation_plots_are_the_three_version_plots():
    y_true = np.array([0, 1, 2, 0, 1, 2])
    plots = evaluation_plots(y_true, one_hot([0, 1, 2, 1, 1, 2]), NAMES)
    assert [plot.name for plot in plots] == ["confusion_matrix", "roc_curves", "per_class_metrics"]
    assert all(is_png(plot.png) for plot in plots)


def test_sample_images_counts_the_images_it_shows():
    images = np.zeros((11, 32, 32, 3), dtype=np.uint8)
    labels = np.array([0] * 6 + [1] * 5)  # no frog at all
    plot = sample_images(images, labels, NAMES, per_class=4)
    assert is_png(plot.png)
    assert plot.interpretation.startswith("8 example images, up to 4 per class")
    floats = sample_images(images.astype(np.float32), labels, NAMES, per_class=2)
    assert floats.interpretation.startswith("4 example images, up to 2 per class")
