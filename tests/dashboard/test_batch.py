import pytest

from jobs.models import Job

pytestmark = pytest.mark.django_db


def test_offers_many_files_or_a_zip_and_states_the_limits(client, settings):
    settings.API_MAX_FILES = 250
    settings.BATCH_JOB_MAX_IMAGES = 5000
    content = client.get("/batch/").content.decode()
    assert 'multiple accept="image/*,.zip,application/zip"' in content
    assert "Up to 5000 images of at most 10.0\xa0MB each, sent in parts" in content
    assert "or one zip of up to 250 images" in content
    assert '<progress id="batch-progress" max="1" value="0">' in content
    assert '<progress id="batch-upload-progress" max="1" value="0" hidden' in content


def test_parts_fit_the_limits_of_one_request(client, settings):
    """The page sends a selection in parts of at most 50 files and 32 MB, fewer when
    one request may carry less."""
    assert (
        'data-part-files="50" data-part-bytes="33554432"' in client.get("/batch/").content.decode()
    )
    settings.API_MAX_FILES = 20
    settings.API_MAX_UPLOAD_BYTES = 2 * 1024 * 1024
    settings.API_MAX_REQUEST_BYTES = 9 * 1024 * 1024
    content = client.get("/batch/").content.decode()
    assert f'data-part-files="20" data-part-bytes="{8 * 1024 * 1024}"' in content


def test_cancel_is_offered_to_signed_in_submitters_only(client, sign_in):
    assert b'data-signed-in="false"' in client.get("/batch/").content
    sign_in()
    assert b'data-signed-in="true"' in client.get("/batch/").content


def test_anonymous_visitors_sign_in_first_when_predicting_needs_a_login(client, settings):
    settings.API_ANONYMOUS_PREDICT = False
    assert client.get("/batch/")["Location"] == "/accounts/login/?next=/batch/"


def test_anonymous_visitors_are_told_their_jobs_are_kept_by_this_browser(client, sign_in):
    assert 'id="batch-private"' in client.get("/batch/").content.decode()
    sign_in()
    assert 'id="batch-private"' not in client.get("/batch/").content.decode()


def test_a_job_priority_is_chosen_at_submit_high_offered_to_staff_only(client, sign_in):
    content = client.get("/batch/").content.decode()
    assert '<select id="batch-priority" name="priority">' in content
    assert '<option value="low">' in content and 'value="high"' not in content
    sign_in(staff=True, username="boss")
    assert '<option value="high">' in client.get("/batch/").content.decode()


def test_the_form_states_the_visitors_quota_and_its_use(client, sign_in, settings):
    settings.QUOTA_QUEUED_IMAGES, settings.QUOTA_ACTIVE_JOBS = 500, 4
    user = sign_in()
    Job.objects.create(kind=Job.Kind.BATCH_INFERENCE, submitted_by=user, total=30, processed=10)
    finished = {"status": "succeeded", "total": 99}
    Job.objects.create(kind=Job.Kind.BATCH_INFERENCE, submitted_by=user, **finished)
    content = client.get("/batch/").content.decode()
    assert (
        '<p class="muted" id="batch-quota">Your quota: 20 of 500 images waiting; '
        "1 of 4 jobs queued or running."
    ) in content


def test_staff_without_limits_see_no_quota(client, sign_in):
    sign_in(staff=True)
    assert 'id="batch-quota"' not in client.get("/batch/").content.decode()
