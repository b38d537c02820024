import pytest

pytestmark = pytest.mark.django_db


def test_offers_many_files_or_a_zip_and_states_the_limits(client, settings):
    settings.API_MAX_FILES = 250
    content = client.get("/batch/").content.decode()
    assert 'multiple accept="image/*,.zip,application/zip"' in content
    assert "Up to 250 files of at most 10.0\xa0MB each" in content
    assert '<progress id="batch-progress" max="1" value="0">' in content


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
