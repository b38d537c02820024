"""A 1-epoch retrain on a small subset, started and followed in a real browser with a
real training worker."""

import pytest
from django.contrib.auth.models import Permission, User
from playwright.sync_api import expect

from jobs.models import Job
from ml_core.config import TrainingConfig
from tests.workers import JOB_TEST, clear_queues
from training.models import ModelVersion

pytestmark = [*JOB_TEST, pytest.mark.browser]
TRAINING_WAIT_MS = 180_000
# The submit and the first poll, while the training worker loads TensorFlow on the
# same 2 cores: seconds, more than expect's default of 5.
SUBMIT_WAIT_MS = 30_000


@pytest.fixture(scope="module")
def worker(start_worker):
    return start_worker("browser-training", queues="training", prefetch=1)


@pytest.fixture
def trainer(db):
    user = User.objects.create_user("trainer")
    user.user_permissions.add(Permission.objects.get(codename="add_job"))
    return user


def start_retrain(browser_session, trainer, epochs: int, screenshot: str | None = None):
    """Sign in, fill the form (batch size 32, 100 training images) and submit it."""
    browser_session.sign_in(trainer)
    page = browser_session.open("/retrain/")
    page.fill("#retrain-epochs", str(epochs))
    page.fill("#retrain-batch-size", "32")
    page.click("text=More options")
    page.fill("#retrain-max-images", "100")
    if screenshot:
        browser_session.screenshot(screenshot)
    page.click("#retrain-submit")
    return page


# First in the module: no training worker is running yet, so the job stays queued.
def test_the_recipe_options_set_in_the_form_are_the_jobs_parameters(
    browser_session, curated_small, trainer
):
    browser_session.sign_in(trainer)
    page = browser_session.open("/retrain/")
    page.fill("#retrain-epochs", "1")
    page.click("text=More options")
    page.fill("#retrain-learning-rate", "0.01")
    page.fill("#retrain-validation-fraction", "0.2")
    page.select_option("#retrain-optimizer", "sgd")
    page.uncheck("#retrain-flip")
    page.fill("#retrain-seed", "")  # emptied: the recipe's default
    page.fill("#retrain-max-images", "100")
    try:
        page.click("#retrain-submit")
        expect(page.locator("#training-job")).to_be_visible(timeout=SUBMIT_WAIT_MS)
    finally:
        clear_queues("training")
    chosen = TrainingConfig(
        epochs=1, learning_rate=0.01, validation_fraction=0.2, optimizer="sgd", flip=False
    )
    expected = {**chosen.to_dict(), "auto_promote": False, "max_train_images": 100}
    assert Job.objects.get().parameters == expected


def test_start_a_one_epoch_retrain_and_see_it_finish_with_its_curves(
    browser_session, worker, curated_small, trainer
):
    page = start_retrain(browser_session, trainer, epochs=1, screenshot="retrain-form")
    expect(page.locator("#training-job")).to_be_visible(timeout=SUBMIT_WAIT_MS)
    expect(page.locator("#training-status")).to_have_text("succeeded", timeout=TRAINING_WAIT_MS)
    job = Job.objects.get()
    assert (job.submitted_by, job.parameters["max_train_images"]) == (trainer, 100)
    expect(page.locator("#training-epoch")).to_have_text("epoch 1 of 1")
    assert page.locator("#training-progress").evaluate("bar => bar.value") == 1
    # One point per curve, drawn from the job's history.
    for chart in ["#loss-chart", "#accuracy-chart"]:
        expect(page.locator(f"{chart} polyline")).to_have_count(2)
        expect(page.locator(f"{chart} circle")).to_have_count(2)
    version = ModelVersion.objects.get()
    expect(page.locator("#training-message")).to_contain_text(f"created v{version.number}")
    expect(page.locator("#recent-jobs")).to_contain_text("succeeded")
    browser_session.screenshot("retrain-finished")

    page.click("#training-version")
    expect(page.locator("h1")).to_contain_text(f"Version {version.number}")
    expect(page.locator("#per-class tbody tr")).to_have_count(10)
    browser_session.screenshot("version")


def test_without_the_permission_the_api_refusal_is_shown(browser_session, curated_small, db):
    browser_session.sign_in(User.objects.create_user("viewer"))
    page = browser_session.open("/retrain/")
    expect(page.locator("#retrain-form")).to_have_count(0)
    expect(page.locator("main")).to_contain_text("may not start training")


def test_cancel_a_running_retrain_then_find_it_among_the_recent_jobs(
    browser_session, worker, curated_small, trainer
):
    page = start_retrain(browser_session, trainer, epochs=50)
    expect(page.locator("#training-status")).to_have_text("running", timeout=TRAINING_WAIT_MS)
    page.click("#training-cancel")
    expect(page.locator("#training-status")).to_have_text("cancelled", timeout=TRAINING_WAIT_MS)
    expect(page.locator("#training-cancel")).to_be_hidden()
    job = Job.objects.get()
    assert job.status == Job.Status.CANCELLED and job.epoch < 50
    assert not ModelVersion.objects.exists()
    browser_session.screenshot("retrain-cancelled")

    # A fresh page lists the job; its link follows it in place.
    page = browser_session.open("/retrain/")
    expect(page.locator("#training-job")).to_be_hidden()
    page.click(f"#recent-jobs a[href='?job={job.pk}']")
    expect(page.locator("#training-status")).to_have_text("cancelled")
    assert page.url.endswith(f"?job={job.pk}")
