import pytest
from django.contrib.auth.models import Permission, User

from predictions.models import BatchItem, Prediction
from tests.api.conftest import client_for
from training.models import Job, ModelVersion

pytestmark = pytest.mark.django_db


@pytest.fixture
def people(db):
    owner, stranger, auditor = (User.objects.create_user(name) for name in ("own", "other", "aud"))
    auditor.user_permissions.add(Permission.objects.get(codename="view_job"))
    return owner, stranger, auditor


def test_a_users_batch_job_is_visible_only_to_them_and_auditors(api, people):
    owner, stranger, auditor = people
    private = Job.objects.create(kind=Job.Kind.BATCH_INFERENCE, submitted_by=owner)
    shared = Job.objects.create(kind=Job.Kind.BATCH_INFERENCE)
    stranger_client = client_for(stranger)
    url = f"/api/v1/batch-jobs/{private.pk}/"
    assert client_for(owner).get(url).status_code == 200
    assert client_for(auditor).get(url).status_code == 200
    assert stranger_client.get(url).status_code == 404
    assert api.get(url).status_code == 404
    assert api.get(f"/api/v1/batch-jobs/{private.pk}/results/").status_code == 404
    listed = [row["id"] for row in stranger_client.get("/api/v1/batch-jobs/").json()["results"]]
    assert listed == [shared.pk]


def test_a_private_jobs_predictions_stay_out_of_other_peoples_history(api, people):
    owner, stranger, auditor = people
    version = ModelVersion.objects.create(number=1, artifact_path="v1", dataset_fingerprint="0")
    private = Job.objects.create(kind=Job.Kind.BATCH_INFERENCE, submitted_by=owner)
    shared = Job.objects.create(kind=Job.Kind.BATCH_INFERENCE)
    for label, job in [("private", private), ("shared", shared), ("single", None)]:
        item = job and BatchItem.objects.create(job=job, position=0, image="x.png", pixels=b"")
        Prediction.objects.create(
            image="x.png", image_sha256="0", top_label=label, confidence=0.5, probabilities={},
            model_version=version, source="batch" if job else "api", batch_item=item,
        )  # fmt: skip

    def seen(client) -> set[str]:
        rows = client.get("/api/v1/predictions/").json()["results"]
        assert client.get("/api/v1/predictions/stats/").json()["total"] == len(rows)
        return {row["top_label"] for row in rows}

    assert seen(api) == seen(client_for(stranger)) == {"shared", "single"}
    assert seen(client_for(owner)) == seen(client_for(auditor)) == {"private", "shared", "single"}
