"""The batch page sends a large selection in parts (a draft job, appended to, then
started), with an upload progress bar; a dropped part is sent again without being
stored twice, and an upload that stopped resumes from the parts the server has.
A real browser, a live server and a real inference worker."""

import pytest
from playwright.sync_api import Route, expect

from jobs.models import Job
from predictions.models import BatchItem, BatchPart, Prediction
from tests.browser.test_predict_and_batch import png
from tests.browser.test_predict_and_batch import production as production
from tests.browser.test_predict_and_batch import worker as worker
from tests.workers import JOB_TEST

pytestmark = [*JOB_TEST, pytest.mark.browser]
IMAGES = 23
PART = 5  # files per part: API_MAX_FILES caps the page's parts
# Samples the upload bar while it shows (the page hides it once the job has started).
RECORD_UPLOAD_BAR = """
window.uploadShares = [];
setInterval(() => {
  const bar = document.getElementById("batch-upload-progress");
  if (bar && !bar.hidden) window.uploadShares.push(bar.value);
}, 20);
"""


class PartRequests:
    """Counts the page's POSTs of parts; `drop(route, key)` decides which to break."""

    def __init__(self, drop) -> None:
        self.keys: list[str] = []
        self.drop = drop

    def __call__(self, route: Route) -> None:
        request = route.request
        if request.method != "POST":
            route.continue_()
            return
        key = request.post_data_buffer.split(b'name="part"\r\n\r\n', 1)[1].split(b"\r\n")[0]
        self.keys.append(key.decode())
        self.drop(route, key.decode(), self.keys.count(key.decode()))


def assert_one_job_of_every_image_in_order(job: Job) -> None:
    names = list(
        BatchItem.objects.filter(job=job)
        .order_by("position")
        .values_list("original_name", flat=True)
    )
    assert names == [f"test-{index}.png" for index in range(IMAGES)]
    assert Prediction.objects.filter(batch_item__job=job).count() == IMAGES


def test_a_selection_goes_in_parts_with_a_progress_bar_and_a_dropped_part_is_sent_again(
    browser_session,
    production,
    mini_dataset,
    settings,
):
    settings.API_MAX_FILES = PART

    def drop(route: Route, key: str, sent: int) -> None:
        if key == "5+5" and sent == 1:
            route.fetch()  # the server stores the part, but its answer is lost
            route.abort("connectionreset")
        elif key == "15+5" and sent == 1:
            route.abort("connectionreset")  # lost on the way
        else:
            route.continue_()

    parts = PartRequests(drop)
    page = browser_session.page
    page.add_init_script(RECORD_UPLOAD_BAR)
    page.route("**/api/v1/batch-jobs/*/files/", parts)
    page = browser_session.open("/batch/")
    page.set_input_files("#batch-files", [png(mini_dataset, index) for index in range(IMAGES)])
    page.click("#batch-submit")
    expect(page.locator("#batch-counts")).to_have_text(
        f"{IMAGES} of {IMAGES} images predicted (100%)"
    )
    expect(page.locator("#batch-status")).to_have_text("succeeded")
    browser_session.screenshot("batch-in-parts")

    assert parts.keys == ["0+5", "5+5", "5+5", "10+5", "15+5", "15+5", "20+3"]
    job = Job.objects.get()
    assert (job.total, job.processed, job.status) == (IMAGES, IMAGES, "succeeded")
    assert BatchPart.objects.filter(job=job).count() == 5
    assert_one_job_of_every_image_in_order(job)
    shares = page.evaluate("window.uploadShares")
    assert shares == sorted(shares) and max(shares) == 1, shares
    assert any(0 < share < 1 for share in shares), shares


def test_an_upload_that_stopped_resumes_with_the_parts_the_server_lacks(
    browser_session,
    production,
    mini_dataset,
    settings,
):
    settings.API_MAX_FILES = PART
    down = {"network": True}

    def drop(route: Route, key: str, sent: int) -> None:
        if key == "10+5" and down["network"]:
            route.abort("internetdisconnected")  # every attempt, until the page gives up
        else:
            route.continue_()

    parts = PartRequests(drop)
    page = browser_session.page
    page.route("**/api/v1/batch-jobs/*/files/", parts)
    page = browser_session.open("/batch/")
    page.set_input_files("#batch-files", [png(mini_dataset, index) for index in range(IMAGES)])
    page.click("#batch-submit")
    # After 4 more attempts, 7.5 s of pauses in all.
    expect(page.locator("#batch-error")).to_contain_text(
        f"The upload stopped after 10 of {IMAGES} images", timeout=30_000
    )
    browser_session.screenshot("batch-upload-stopped")
    draft = Job.objects.get()
    assert (draft.status, draft.total) == ("draft", 10)
    assert parts.keys == ["0+5", "5+5", *["10+5"] * 5]  # the first attempt and 4 more

    down["network"] = False
    expect(page.locator("#batch-submit")).to_be_enabled()
    page.click("#batch-submit")  # the same files are still chosen
    expect(page.locator("#batch-status")).to_have_text("succeeded")
    assert parts.keys[7:] == ["10+5", "15+5", "20+3"]  # only the parts it lacked
    assert Job.objects.get().pk == draft.pk
    assert_one_job_of_every_image_in_order(draft)
