"""insert_predictions: the batch workers' lean INSERT, on SQLite and PostgreSQL."""

import pytest

from jobs.models import Job
from predictions.models import BatchItem, NewPrediction, Prediction, insert_predictions
from training.models import ModelVersion

pytestmark = pytest.mark.django_db


@pytest.fixture
def version() -> ModelVersion:
    return ModelVersion.objects.create(
        number=1, artifact_path="v1", class_names=["cat", "dog"], dataset_fingerprint="f"
    )


def new_prediction(version, **fields) -> NewPrediction:
    return NewPrediction(
        **{
            "image": "uploads/ab/ab.png",
            "image_sha256": "ab",
            "original_name": "kitten.png",
            "top_label": "cat",
            "confidence": 0.75,
            "probabilities": {"cat": 0.75, "dog": 0.25},
            "model_version_id": version.pk,
            "source": Prediction.Source.BATCH,
            **fields,
        }
    )


def batch_items(count: int) -> list[BatchItem]:
    job = Job.objects.create(kind=Job.Kind.BATCH_INFERENCE, total=count)
    return BatchItem.objects.bulk_create(
        BatchItem(job=job, position=position, image="uploads/ab/ab.png",
                  image_sha256="ab", pixels=bytes(3072))
        for position in range(count)
    )  # fmt: skip


def test_rows_read_back_as_the_orm_would_have_written_them(version):
    item = batch_items(1)[0]
    insert_predictions([new_prediction(version, batch_item_id=item.pk)])
    stored = Prediction.objects.get()
    assert stored.probabilities == {"cat": 0.75, "dog": 0.25}
    assert (stored.top_label, stored.confidence, stored.source) == ("cat", 0.75, "batch")
    assert stored.batch_item == item and stored.model_version == version
    assert stored.image.name == "uploads/ab/ab.png" and stored.created_at is not None
    assert stored.request_id is None


def test_a_second_insert_for_the_same_batch_item_adds_nothing(version):
    items = batch_items(3)
    insert_predictions([new_prediction(version, batch_item_id=item.pk) for item in items[:2]])
    insert_predictions(
        [new_prediction(version, batch_item_id=item.pk, top_label="dog") for item in items]
    )
    assert Prediction.objects.count() == 3
    assert Prediction.objects.get(batch_item=items[0]).top_label == "cat"  # the first one kept
    assert Prediction.objects.get(batch_item=items[2]).top_label == "dog"


def test_a_second_insert_for_the_same_request_id_adds_nothing(version):
    insert_predictions([new_prediction(version, request_id="task-1", source="api")])
    insert_predictions([new_prediction(version, request_id="task-1", source="api")])
    assert Prediction.objects.filter(request_id="task-1").count() == 1


def test_nothing_to_insert_is_not_an_error(version):
    insert_predictions([])
    assert Prediction.objects.count() == 0
