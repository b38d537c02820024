"""Every dashboard page on a phone-sized screen: it loads without a script error,
fits the width (wide tables scroll inside their own box), and its live parts fill in."""

import re

import pytest
from django.contrib.auth.models import User
from playwright.sync_api import expect

from tests.dashboard.test_pages import METRICS
from training.models import ModelVersion
from training.visualizations import generate_dataset_plots

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.browser]

PAGES = {
    "home": "/",
    "predict": "/predict/",
    "batch": "/batch/",
    "history": "/history/",
    "training-data": "/training-data/",
    "retrain": "/retrain/",
    "models": "/models/",
    "version": "/models/1/",
    "visualizations": "/visualizations/",
    "login": "/accounts/login/",
}


@pytest.fixture
def data(curated_small):
    generate_dataset_plots()
    ModelVersion.objects.create(
        number=1, artifact_path="v1", status="production", dataset_fingerprint="0",
        metrics=METRICS, class_names=["cat", "dog"],
    )  # fmt: skip


def test_every_page_fits_a_phone_without_script_errors(phone_session, data):
    phone_session.sign_in(User.objects.create_superuser("curator"))
    too_wide = {}
    for name, path in PAGES.items():
        page = phone_session.open(path)
        page.wait_for_load_state("networkidle")
        overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        if overflow > 0:
            too_wide[name] = overflow
        phone_session.screenshot(name)
    assert too_wide == {}, "pages wider than a phone's screen (px)"


def test_the_service_panel_fills_in_what_is_not_ready(phone_session, data):
    page = phone_session.open("/")
    expect(page.locator("#readiness")).to_have_text("not ready")
    expect(page.locator('[data-check="inference_workers"]')).to_have_text(
        "Inference workers: no inference worker answered"
    )
    expect(page.locator('[data-check="database"]')).to_have_class("ok")
    expect(page.locator("#uptime")).to_have_text(re.compile(r"^\d+ (s|min)"))


def test_training_data_counts_come_from_the_api(phone_session, data):
    page = phone_session.open("/training-data/")
    cells = page.locator('#counts tr[data-label="cat"] > *')
    expect(cells).to_have_text(["cat", "20", "8", "0", "28"])
    expect(page.locator("#counts tfoot tr > *")).to_have_text(
        ["All classes", "200", "80", "0", "280"]
    )
    # The images themselves: for those who may see training images only.
    expect(page.locator("#images-private")).to_be_visible()
    phone_session.sign_in(User.objects.create_user("curator", is_staff=True))
    page = phone_session.open("/training-data/")
    expect(page.locator("#recent-images figure")).to_have_count(12)
    thumbnail = page.locator("#recent-images figure img").first
    expect(thumbnail).to_have_js_property("complete", True)
    assert thumbnail.evaluate("image => image.naturalWidth") == 32  # its signed URL loads
