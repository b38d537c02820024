import pytest

from jobs.models import Job
from ml_core import config as recipe

pytestmark = pytest.mark.django_db


def test_the_form_needs_the_permission_to_start_jobs(client, sign_in, curated_small):
    assert b'id="retrain-form"' not in client.get("/retrain/").content
    sign_in("add_job")
    content = client.get("/retrain/").content.decode()
    assert 'id="retrain-form"' in content
    assert "trains on the 200 included train-split images" in content


def test_the_form_starts_from_the_recipe_defaults(client, sign_in):
    sign_in("add_job")
    content = client.get("/retrain/").content.decode()
    default = recipe.TrainingConfig()
    assert f'name="epochs" min="1" max="500" value="{default.epochs}"' in content
    assert f'name="batch_size" min="1" max="4096" value="{default.batch_size}"' in content
    assert 'name="auto_promote"' in content and 'name="max_train_images"' in content


def test_the_submitter_column_is_for_staff_only(client, sign_in):
    assert "<th>By</th>" not in client.get("/retrain/").content.decode()
    assert 'data-show-submitters="false"' in client.get("/retrain/").content.decode()
    sign_in(staff=True)
    content = client.get("/retrain/").content.decode()
    assert "<th>By</th>" in content and 'data-show-submitters="true"' in content


def test_the_form_states_the_jobs_quota(client, sign_in, settings):
    settings.QUOTA_ACTIVE_JOBS = 2
    user = sign_in("add_job")
    Job.objects.create(kind=Job.Kind.TRAINING, submitted_by=user, status="running")
    content = client.get("/retrain/").content.decode()
    assert "Your quota: 1 of 2 jobs queued or running." in content
