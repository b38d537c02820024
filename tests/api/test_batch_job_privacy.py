import pytest
from django.contrib.auth.models import Permission, User

from tests.api.conftest import client_for
from training.models import Job

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
