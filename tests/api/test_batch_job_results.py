"""GET /api/v1/batch-jobs/{id}/results/ as CSV and JSON (rows written directly)."""

import csv
import io
import re

import pytest
from django.contrib.auth.models import User

from jobs.models import Job
from predictions.models import BatchItem, Prediction
from training.models import ModelVersion


@pytest.fixture
def submitter(client, db) -> User:
    """The jobs' submitter, signed in (test_batch_job_privacy.py: who else sees them)."""
    user = User.objects.create_user("submitter")
    client.force_login(user)
    return user


def make_job(names: list[str], submitter: User) -> Job:
    version, _ = ModelVersion.objects.get_or_create(
        number=2, defaults={"artifact_path": "x", "class_names": ["cat", "dog"],
                            "dataset_fingerprint": "0"},
    )  # fmt: skip
    job = Job.objects.create(
        kind=Job.Kind.BATCH_INFERENCE, status=Job.Status.SUCCEEDED, total=len(names),
        model_version=version, submitted_by=submitter,
    )  # fmt: skip
    for position, name in enumerate(names):
        item = BatchItem.objects.create(
            job=job, position=position, image=f"uploads/{position}.png", image_sha256="0",
            original_name=name, pixels=bytes(3072),
        )  # fmt: skip
        Prediction.objects.create(
            image=item.image.name, image_sha256="0", original_name=name, top_label="cat",
            confidence=0.5, probabilities={"cat": 0.5}, model_version=version,
            source="batch", batch_item=item, owner=submitter,
        )  # fmt: skip
    return job


@pytest.fixture
def finished_job(submitter):
    version = ModelVersion.objects.create(
        number=2, artifact_path="x", class_names=["cat", "dog"], dataset_fingerprint="0"
    )
    job = Job.objects.create(
        kind=Job.Kind.BATCH_INFERENCE, status=Job.Status.SUCCEEDED, total=2,
        model_version=version, submitted_by=submitter,
    )  # fmt: skip
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
            source="batch", batch_item=item, owner=submitter,
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


def test_csv_cells_a_spreadsheet_would_run_as_formulas_are_neutralised(client, submitter):
    """OWASP's CSV injection: a file name starting with =, +, -, @, tab or carriage
    return is prefixed with a single quote, which makes it plain text."""
    names = ["=SUM(1+1)*cmd.png", "+1.png", "-2+3.png", "@A1.png", "\tx.png", "\rx.png", "ok.png"]
    job = make_job(names, submitter)
    response = client.get(f"/api/v1/batch-jobs/{job.pk}/results/?as=csv")
    rows = list(csv.DictReader(io.StringIO(response.content.decode(), newline="")))
    assert [row["original_name"] for row in rows] == [f"'{name}" for name in names[:-1]] + [
        "ok.png"
    ]
    assert [row["confidence"] for row in rows] == ["0.5"] * len(names)  # numbers untouched


def test_json_has_status_and_probabilities(client, finished_job):
    body = client.get(f"/api/v1/batch-jobs/{finished_job.pk}/results/").json()
    assert body["status"] == "succeeded"
    image_url = body["results"][1].pop("image_url")
    assert body["results"][1] == {
        "position": 1, "original_name": 'b, "odd".png', "label": "dog", "confidence": 0.5,
        "model_version": 2, "probabilities": {"dog": 0.5},
    }  # fmt: skip
    assert re.fullmatch(
        r"http://testserver/media/uploads/1\.png\?expires=\d+&signature=\S+", image_url
    )


def test_unknown_or_non_batch_job_is_404(client, finished_job):
    training = Job.objects.create(kind=Job.Kind.TRAINING)
    assert client.get(f"/api/v1/batch-jobs/{training.pk}/results/").status_code == 404
    assert client.get("/api/v1/batch-jobs/999999/results/").status_code == 404
