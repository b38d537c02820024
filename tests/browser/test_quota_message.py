"""Over a quota, the batch form says which one, what is in use and when to retry
(the API's 429 body and Retry-After, in words), and the page states the quota."""

import pytest
from django.contrib.auth.models import User
from playwright.sync_api import expect

from jobs.models import Job
from ml_core.preprocessing import encode_png
from tests.workers import JOB_TEST

pytestmark = [*JOB_TEST, pytest.mark.browser]


def test_a_batch_job_over_the_quota_is_refused_in_words(browser_session, settings, mini_dataset):
    settings.QUOTA_ACTIVE_JOBS = 1
    user = User.objects.create_user("busy")
    Job.objects.create(kind=Job.Kind.BATCH_INFERENCE, submitted_by=user, total=5)
    browser_session.sign_in(user)
    page = browser_session.open("/batch/")
    expect(page.locator("#batch-quota")).to_contain_text("1 of 1 jobs queued or running")
    image = {
        "name": "a.png",
        "mimeType": "image/png",
        "buffer": encode_png(mini_dataset.test.images[0]),
    }
    page.set_input_files("#batch-files", [image])
    page.click("#batch-submit")
    error = page.locator("#batch-error")
    expect(error).to_contain_text("you have 1 jobs queued or running, the most allowed at once")
    expect(error).to_contain_text(f"Try again in {settings.QUOTA_RETRY_AFTER_SECONDS} s.")
    browser_session.screenshot("batch-over-quota")
    assert Job.objects.count() == 1
