"""Predict one image, then a batch, in a real browser with a real inference worker."""

import pytest
from django.contrib.auth.models import User
from playwright.sync_api import expect

from jobs.models import Job
from ml_core.preprocessing import encode_png
from predictions.models import Prediction
from predictions.single import predict_image
from tests.workers import JOB_TEST, register_version

pytestmark = [*JOB_TEST, pytest.mark.browser]


@pytest.fixture(scope="module")
def worker(start_worker):
    return start_worker("browser-inference")


@pytest.fixture
def production(worker, trained_artifacts, mini_dataset, settings):
    """The production version, already loaded by the worker: its first task loads
    TensorFlow, which on a busy machine can outlast the page's patience."""
    version = register_version(trained_artifacts, 1)
    settings.PREDICTION_TIMEOUT_SECONDS = 120
    predict_image(encode_png(mini_dataset.test.images[0]))
    Prediction.objects.all().delete()
    settings.PREDICTION_TIMEOUT_SECONDS = 30
    return version


def png(mini_dataset, index: int, name: str | None = None) -> dict:
    return {
        "name": name or f"test-{index}.png",
        "mimeType": "image/png",
        "buffer": encode_png(mini_dataset.test.images[index]),
    }


def test_upload_an_image_see_its_prediction_then_find_it_in_the_history(
    browser_session, production, mini_dataset
):
    browser_session.sign_in(User.objects.create_user("photographer"))
    page = browser_session.open("/predict/")
    page.set_input_files("#predict-file", png(mini_dataset, 7, "my-photo.png"))
    expect(page.locator("#predict-answer")).to_be_visible()
    stored = Prediction.objects.get()
    expect(page.locator("#predict-label")).to_have_text(stored.top_label)
    expect(page.locator("#predict-confidence")).to_have_text(f"{stored.confidence * 100:.1f}%")
    bars = page.locator("#predict-bars .bar-row")
    expect(bars).to_have_count(len(production.class_names))
    expect(bars.first).to_have_attribute("data-label", stored.top_label)  # highest first
    preview = page.locator("#predict-preview")
    expect(preview).to_have_js_property("complete", True)
    assert preview.evaluate("image => image.naturalWidth") == 32
    browser_session.screenshot("predict")

    page = browser_session.open("/history/")
    card = page.locator(f'figure[data-prediction="{stored.pk}"]')
    expect(card).to_contain_text(stored.top_label)
    expect(card).to_contain_text("my-photo.png")
    expect(page.locator("#stats-summary")).to_contain_text("1 predictions")
    # The thumbnail is the stored upload, served from media.
    thumbnail = card.locator("img")
    expect(thumbnail).to_have_js_property("complete", True)  # it loads after the page does
    assert thumbnail.evaluate("image => image.naturalWidth") == 32
    browser_session.screenshot("history")
    other = next(label for label in production.class_names if label != stored.top_label)
    page.select_option("#filter-label", other)
    page.click("#history-filters button[type=submit]")
    expect(page.locator("#history-list")).to_contain_text("No predictions match these filters.")
    assert f"label={other}" in page.url
    browser_session.screenshot("history-filtered")


def test_an_anonymous_prediction_is_shown_in_the_answer_only(
    browser_session, production, mini_dataset
):
    page = browser_session.open("/predict/")
    page.set_input_files("#predict-file", png(mini_dataset, 7, "mine-alone.png"))
    expect(page.locator("#predict-answer")).to_be_visible()
    assert Prediction.objects.get().owner is None
    page = browser_session.open("/history/")
    expect(page.locator("#history-private")).to_contain_text("Predictions are private")
    expect(page.locator("#stats-summary")).to_contain_text("0 predictions")
    expect(page.locator("#history-list figure")).to_have_count(0)


def test_a_batch_jobs_progress_bar_reaches_100_percent_then_results_download(
    browser_session, production, mini_dataset, settings
):
    settings.BATCH_JOB_CHUNK_SIZE = 16  # several chunks, so progress moves in steps
    page = browser_session.open("/batch/")
    page.set_input_files("#batch-files", [png(mini_dataset, index) for index in range(96)])
    expect(page.locator("#batch-selection")).to_contain_text("96 files chosen")
    page.click("#batch-submit")
    expect(page.locator("#batch-counts")).to_have_text("96 of 96 images predicted (100%)")
    assert page.locator("#batch-progress").evaluate("bar => bar.value") == 1
    expect(page.locator("#batch-status")).to_have_text("succeeded")
    rows = page.locator("#batch-results tbody tr")
    expect(rows).to_have_count(96)
    expect(rows.first).to_contain_text("test-0.png")
    first_thumbnail = rows.first.locator("img")
    first_thumbnail.scroll_into_view_if_needed()
    expect(first_thumbnail).to_have_js_property("complete", True)
    assert first_thumbnail.evaluate("image => image.naturalWidth") == 32
    browser_session.screenshot("batch")

    with page.expect_download() as download:
        page.click("#batch-csv")
    lines = download.value.path().read_text().splitlines()
    assert len(lines) == 97 and lines[1].startswith("0,test-0.png,")
    assert download.value.suggested_filename.endswith(".csv")

    # The job is anonymous: this browser keeps its key, lists it and reopens it ...
    job = Job.objects.get()
    assert job.submitted_by is None and job.access_key_hash
    page = browser_session.open("/batch/")
    page.click(f"#recent-jobs a[href='?job={job.pk}']")
    expect(page.locator("#batch-results tbody tr")).to_have_count(96)
    page = browser_session.open(f"/batch/?job={job.pk}")
    expect(page.locator("#batch-status")).to_have_text("succeeded")
    # ... and another browser, without the key, sees nothing of it.
    stranger = browser_session.page.context.browser.new_context()
    try:
        other = stranger.new_page()
        other.goto(f"{browser_session.base_url}/batch/?job={job.pk}")
        expect(other.locator("#batch-error")).to_contain_text(f"Job {job.pk}: ")
        expect(other.locator("#recent-jobs")).to_contain_text("No batch jobs started in this")
        expect(other.locator("#batch-job")).to_be_hidden()
    finally:
        stranger.close()


def test_a_broken_file_is_refused_in_words(browser_session, production, mini_dataset):
    page = browser_session.open("/batch/")
    broken = {"name": "notes.png", "mimeType": "image/png", "buffer": b"not an image"}
    page.set_input_files("#batch-files", [png(mini_dataset, 0), broken])
    page.click("#batch-submit")
    expect(page.locator("#batch-error")).to_have_text(
        "The batch job was not started:\nimages: notes.png: not an image format that can be decoded"
    )
    browser_session.screenshot("batch-error")
