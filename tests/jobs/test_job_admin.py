import pytest
from django.contrib.auth.models import Permission, User

from jobs.models import Job

pytestmark = pytest.mark.django_db
CHANGELIST = "/admin/jobs/job/"


@pytest.fixture
def jobs_(db):
    return {
        "running": Job.objects.create(
            kind="training", status="running", progress=0.4, epoch=2, total_epochs=5
        ),
        "queued": Job.objects.create(kind="batch_inference", total=64),
        "done": Job.objects.create(kind="evaluation", status="succeeded", progress=1.0),
    }


def staff(client, *codenames: str) -> None:
    user = User.objects.create_user("staff", is_staff=True)
    user.user_permissions.add(*Permission.objects.filter(codename__in=codenames))
    client.force_login(user)


def test_list_shows_progress_epochs_and_items(client, jobs_):
    staff(client, "view_job")
    content = client.get(CHANGELIST).content.decode()
    assert '<progress max="1" value="0.400" style="width: 8em"></progress> 40%' in content
    assert '<td class="field-epochs">2/5</td>' in content
    assert '<td class="field-items">0/64</td>' in content


def test_read_only_for_everyone(client, jobs_):
    staff(client, "view_job", "change_job", "add_job", "delete_job")
    job = jobs_["running"]
    page = client.get(f"{CHANGELIST}{job.pk}/change/").content.decode()
    assert 'name="_save"' not in page
    assert client.get(f"{CHANGELIST}add/").status_code == 403
    assert client.post(f"{CHANGELIST}{job.pk}/delete/", {"post": "yes"}).status_code == 403
    assert Job.objects.count() == 3


def test_cancel_action_asks_running_jobs_to_stop_and_cancels_queued_ones(client, jobs_):
    staff(client, "view_job", "change_job")
    selected = [job.pk for job in jobs_.values()]
    response = client.post(
        CHANGELIST, {"action": "cancel", "_selected_action": selected, "index": 0}, follow=True
    )
    assert "Asked 2 job(s) to stop" in response.content.decode()
    running, queued, done = (Job.objects.get(pk=job.pk) for job in jobs_.values())
    assert (running.status, running.cancel_requested) == ("running", True)
    assert queued.status == "cancelled"
    assert (done.status, done.cancel_requested) == ("succeeded", False)


def test_cancel_needs_the_change_permission(client, jobs_):
    staff(client, "view_job")
    assert "Cancel the selected jobs" not in client.get(CHANGELIST).content.decode()


def test_a_failed_jobs_traceback_is_shown_to_staff_here(client):
    job = Job.objects.create(
        kind="training", status="failed", error="ValueError: bad",
        traceback='Traceback (most recent call last):\n  File "/srv/app/x.py"\nValueError: bad',
    )  # fmt: skip
    staff(client, "view_job")
    page = client.get(f"{CHANGELIST}{job.pk}/change/").content.decode()
    assert "Traceback (most recent call last):\n  File &quot;/srv/app/x.py&quot;" in page
    assert "access_key_hash" not in page
