"""predictions.corrections: a prediction's image becomes a training image, under the
same label rules as every other way in (a new class must be asked for)."""

import hashlib

import pytest
from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage

from ml_core.preprocessing import encode_png
from predictions.corrections import add_to_training_set
from predictions.models import Prediction
from training.models import ModelVersion, TrainingImage

pytestmark = pytest.mark.django_db


@pytest.fixture
def wrong_prediction(curated_small, mini_dataset) -> Prediction:
    version = ModelVersion.objects.create(number=1, artifact_path="v1", dataset_fingerprint="0")
    content = encode_png(mini_dataset.test.images[600])  # not in curated_small
    sha256 = hashlib.sha256(content).hexdigest()
    return Prediction.objects.create(
        image=default_storage.save(f"predictions/{sha256}.png", ContentFile(content)),
        image_sha256=sha256, top_label="cat", confidence=0.6, probabilities={"cat": 0.6},
        model_version=version, source="api",
    )  # fmt: skip


def test_an_unknown_class_is_refused_unless_new_classes_are_allowed(wrong_prediction):
    predictions = Prediction.objects.filter(pk=wrong_prediction.pk)
    with pytest.raises(ValidationError, match="unknown class 'zebra'"):
        add_to_training_set(predictions, "zebra", "train", allow_new=False)
    assert not TrainingImage.objects.filter(source="prediction").exists()
    summary, _ = add_to_training_set(predictions, "zebra", "train", allow_new=True)
    assert summary.created_total == 1
    assert TrainingImage.objects.get(source="prediction").label == "zebra"


@pytest.mark.parametrize("label", ["cat\n", "cat/dog", ""])
def test_invalid_labels_are_refused_even_as_a_new_class(wrong_prediction, label):
    predictions = Prediction.objects.filter(pk=wrong_prediction.pk)
    with pytest.raises(ValidationError, match="is not a valid label"):
        add_to_training_set(predictions, label, "train", allow_new=True)
    assert not TrainingImage.objects.filter(source="prediction").exists()
