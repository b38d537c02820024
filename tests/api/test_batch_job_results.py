"""GET /api/v1/batch-jobs/{id}/results/ as CSV and JSON (rows written directly)."""

import pytest

from predictions.models import BatchItem, Prediction
from training.models import Job, ModelVersion


@pytest.fixture
def finished_job(db):
    version = ModelVersion.objects.create(
        number=2, artifact_path="x", class_names=["cat", "dog"], dataset_fingerprint="0"
    )
    job = Job.objects.create(
        kind=Job.Kind.BATCH_INFERENCE, status=Job.Status.SUCCEEDED, total=2, model_version=version
    )
    for position, (name, label, confidence) in enumerate(
        [("a.png", "cat", 0.75), ('b, "odd".png', "dog", 0.5)]
    ):
        item = BatchItem.objects.create(
            job=job, position=position, image=f"uploads/{position}.png", image_sha256="0",
            original_name=name, pixels=bytes(3072),
        )  # fmt: skip
        Prediction.objects.create(
            image=item.image.name, image_sha256="0", original_name=name, top_label=label,
            confidence=confidence, probabilities={label: confidence}, model_version=version,
            source="batch", batch_item=item,
        )  # fmt: skip
    return job


def test_csv_lists_every_image_in_order_with_quoting(client, finished_job):
    response = client.get(f"/api/v1/batch-jobs/{finished_job.pk}/results/?as=csv")
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert f'filename="batch-job-{finished_job.pk}.csv"' in response["Content-Disposition"]
    assert response.content.decode().splitlines() == [
        "position,original_name,label,confidence,model_version",
        "0,a.png,cat,0.75,2",
        '1,"b, ""odd"".png",dog,0.5,2',
    ]


def test_json_has_status_and_probabilities(client, finished_job):
    body = client.get(f"/api/v1/batch-jobs/{finished_job.pk}/results/").json()
    assert body["status"] == "succeeded"
    assert body["results"][1] == {
        "position": 1, "original_name": 'b, "odd".png', "label": "dog", "confidence": 0.5,
        "model_version": 2, "probabilities": {"dog": 0.5},
        "image_url": "http://testserver/media/uploads/1.png",
    }  # fmt: skip


def test_unknown_or_non_batch_job_is_404(client, finished_job):
    training = Job.objects.create(kind=Job.Kind.TRAINING)
    assert client.get(f"/api/v1/batch-jobs/{training.pk}/results/").status_code == 404
    assert client.get("/api/v1/batch-jobs/999999/results/").status_code == 404
