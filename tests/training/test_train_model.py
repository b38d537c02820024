from io import StringIO

import numpy as np
import pytest
from django.core.management import CommandError, call_command

from ml_core.artifacts import load_metadata
from ml_core.predictor import Predictor
from training.models import ModelVersion, ModelVersionTrainingImage, TrainingImage


def train(*args) -> str:
    output = StringIO()
    call_command("train_model", "--epochs", "1", *args, stdout=output, stderr=StringIO())
    return output.getvalue()


@pytest.mark.django_db
def test_one_epoch_creates_a_candidate_version_with_test_metrics(curated_small):
    output = train()
    version = ModelVersion.objects.get()
    assert "Created model version 1 (candidate)" in output
    assert "Test split (80 images): accuracy" in output
    assert version.number == 1 and version.status == "candidate"
    assert version.metrics["count"] == 80
    assert 0 <= version.metrics["accuracy"] <= 1
    assert len(version.metrics["confusion_matrix"]) == 10
    assert version.class_names == curated_small_class_names()
    assert version.training_parameters["epochs"] == 1
    assert version.training_parameters["train_count"] == 180
    assert version.training_parameters["validation_count"] == 20
    trained_on = recorded(version, "train")
    assert trained_on.count() == 200
    assert not trained_on.filter(training_image__split="test").exists()
    tested_on = recorded(version, "test")
    assert tested_on.count() == 80
    assert not tested_on.filter(training_image__split="train").exists()


def recorded(version: ModelVersion, split: str):
    """The version's own record of the images it was trained or tested on."""
    return ModelVersionTrainingImage.objects.filter(model_version=version, split=split)


def curated_small_class_names():
    return sorted(set(TrainingImage.objects.values_list("label", flat=True)))


@pytest.mark.django_db
def test_artefacts_load_in_the_predictor_and_match_the_stored_metrics(curated_small):
    train()
    version = ModelVersion.objects.get()
    metadata = load_metadata(version.artifact_directory)
    assert metadata["metrics"]["accuracy"] == version.metrics["accuracy"]
    assert metadata["dataset_fingerprint"] == version.dataset_fingerprint
    predictor = Predictor(version.artifact_directory)
    probabilities = predictor.predict_pixels(np.zeros((2, 32, 32, 3), dtype=np.uint8))
    assert probabilities.shape == (2, 10)
    # The calibration fitted on the validation images is stored and served.
    temperature = metadata["calibration"]["temperature"]
    assert metadata["calibration"]["fitted_on"] == "validation"
    assert predictor.temperature == temperature == version.metrics["temperature"]
    assert 0 <= version.metrics["ece"] <= 1 and 0 <= version.metrics["ece_uncalibrated"] <= 1


@pytest.mark.django_db
def test_excluded_images_are_not_trained_on(curated_small):
    excluded = TrainingImage.objects.filter(split="train", label="cat")[:5]
    TrainingImage.objects.filter(id__in=[row.id for row in excluded]).update(status="excluded")
    train()
    version = ModelVersion.objects.get()
    assert recorded(version, "train").count() == 195
    assert not recorded(version, "train").filter(training_image__status="excluded").exists()


@pytest.mark.django_db
def test_subset_option_trains_on_a_stratified_sample(curated_small):
    train("--max-train-images", "100")
    version = ModelVersion.objects.get()
    assert recorded(version, "train").count() == 100
    per_class = {
        label: recorded(version, "train").filter(label=label).count()
        for label in version.class_names
    }
    assert set(per_class.values()) == {10}


@pytest.mark.django_db
def test_promote_moves_production_to_the_new_version(curated_small):
    train("--promote")
    train("--promote", "--seed", "2")
    first, second = ModelVersion.objects.order_by("number")
    assert (first.number, first.status) == (1, "retired")
    assert (second.number, second.status) == (2, "production")
    assert ModelVersion.production() == second


@pytest.mark.django_db
def test_training_with_no_images_explains_what_is_missing():
    with pytest.raises(CommandError, match="at least 2 classes"):
        train()
    assert ModelVersion.objects.count() == 0


@pytest.mark.django_db
def test_invalid_parameters_are_refused(curated_small):
    with pytest.raises(CommandError, match="batch_size must be between 1 and 4096"):
        train("--batch-size", "0")
    with pytest.raises(CommandError, match="label_smoothing must be in"):
        train("--label-smoothing", "0.9")


@pytest.mark.django_db
def test_recipe_knobs_are_options(curated_small):
    output = train(
        *("--max-train-images", "100", "--no-flip", "--cutout-size", "0"),
        *("--weight-decay", "0", "--optimizer", "sgd"),
    )
    parameters = ModelVersion.objects.get().training_parameters
    assert (parameters["flip"], parameters["cutout_size"]) == (False, 0)
    assert (parameters["weight_decay"], parameters["optimizer"]) == (0, "sgd")
    assert "ECE" in output and "temperature" in output
