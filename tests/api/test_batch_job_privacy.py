"""Who sees a batch job, its results and its predictions: its submitter, staff and
holders of jobs.view_job; an anonymous submitter only with the job's access key;
nobody else, even once the submitter's account is deleted."""

import pytest
from django.contrib.auth.models import Permission, User

from jobs.models import Job
from predictions.batch import access_key_hash
from predictions.models import BatchItem, Prediction
from tests.api.conftest import client_for
from training.models import ModelVersion

pytestmark = pytest.mark.django_db

KEY = "the-key-its-submit-answered-with"


@pytest.fixture
def people(db):
    owner, stranger, auditor = (User.objects.create_user(name) for name in ("own", "other", "aud"))
    auditor.user_permissions.add(Permission.objects.get(codename="view_job"))
    staff = User.objects.create_user("staff", is_staff=True)
    return owner, stranger, auditor, staff


def batch_job(submitted_by=None, key: str = "") -> Job:
    return Job.objects.create(
        kind=Job.Kind.BATCH_INFERENCE,
        submitted_by=submitted_by,
        access_key_hash=access_key_hash(key) if key else "",
    )


def listed(client) -> list[int]:
    return [row["id"] for row in client.get("/api/v1/batch-jobs/").json()["results"]]


def test_a_users_batch_job_is_visible_only_to_them_staff_and_auditors(api, people):
    owner, stranger, auditor, staff = people
    private = batch_job(owner)
    url = f"/api/v1/batch-jobs/{private.pk}/"
    for allowed in (owner, auditor, staff):
        assert client_for(allowed).get(url).status_code == 200, allowed
        assert client_for(allowed).get(f"{url}results/").status_code == 200, allowed
        assert listed(client_for(allowed)) == [private.pk]
    for client in (client_for(stranger), api):
        assert client.get(url).status_code == 404
        assert client.get(f"{url}results/").status_code == 404
        assert listed(client) == []


def test_an_anonymous_job_is_followed_only_with_its_key_sent_as_a_header(api, people):
    _, stranger, _, staff = people
    job = batch_job(key=KEY)
    url = f"/api/v1/batch-jobs/{job.pk}/"
    assert api.get(url).status_code == 404
    assert api.get(url, HTTP_X_JOB_KEY="a-guess").status_code == 404
    assert api.get(f"{url}?key={KEY}").status_code == 404  # one mechanism: the header
    assert api.get(url, HTTP_X_JOB_KEY=KEY).json()["id"] == job.pk
    assert api.get(f"{url}results/", HTTP_X_JOB_KEY=KEY).status_code == 200
    assert api.get(f"{url}results/?as=csv", HTTP_X_JOB_KEY=KEY).status_code == 200
    assert listed(api) == [] and listed(client_for(stranger)) == []  # never listed
    assert client_for(stranger).get(url).status_code == 404
    assert listed(client_for(staff)) == [job.pk]
    # The key opens this job only.
    other = batch_job(key="another-key")
    assert api.get(f"/api/v1/batch-jobs/{other.pk}/", HTTP_X_JOB_KEY=KEY).status_code == 404
    # And whoever holds it may cancel the job; nobody else.
    assert api.post(f"{url}cancel/").status_code == 404
    assert client_for(stranger).post(f"{url}cancel/").status_code == 404
    cancelled = api.post(f"{url}cancel/", HTTP_X_JOB_KEY=KEY)
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"


def predict(label: str, owner=None, job: Job | None = None) -> Prediction:
    version, _ = ModelVersion.objects.get_or_create(
        number=1, defaults={"artifact_path": "v1", "dataset_fingerprint": "0"}
    )
    item = job and BatchItem.objects.create(
        job=job, position=job.batch_items.count(), image="x.png", pixels=b""
    )
    return Prediction.objects.create(
        image="x.png", image_sha256="0", top_label=label, confidence=0.5, probabilities={},
        model_version=version, source="batch" if job else "api", batch_item=item, owner=owner,
    )  # fmt: skip


def seen(client) -> set[str]:
    rows = client.get("/api/v1/predictions/").json()["results"]
    assert client.get("/api/v1/predictions/stats/").json()["total"] == len(rows)
    return {row["top_label"] for row in rows}


def test_a_jobs_predictions_are_its_submitters_and_nobody_elses(api, people):
    owner, stranger, auditor, staff = people
    predict("owners-batch", owner, batch_job(owner))
    predict("anonymous-batch", None, batch_job(key=KEY))
    assert seen(client_for(owner)) == {"owners-batch"}
    assert seen(api) == seen(client_for(stranger)) == set()
    # jobs.view_job opens the jobs, not the prediction history.
    assert seen(client_for(auditor)) == set()
    assert seen(client_for(staff)) == {"owners-batch", "anonymous-batch"}


def test_deleting_a_user_never_publishes_their_jobs_or_predictions(api, people):
    owner, stranger, auditor, staff = people
    job = batch_job(owner)
    predict("batch", owner, job)
    predict("single", owner)
    owner.delete()
    job.refresh_from_db()
    assert job.submitted_by is None  # kept, with its results: nobody's now
    url = f"/api/v1/batch-jobs/{job.pk}/"
    for client in (api, client_for(stranger)):
        assert client.get(url).status_code == 404
        assert client.get(f"{url}results/").status_code == 404
        assert listed(client) == []
        assert seen(client) == set()
    assert client_for(auditor).get(url).status_code == 200
    assert seen(client_for(staff)) == {"batch", "single"}
