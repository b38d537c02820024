"""A curator signs in to the admin and relabels a training image with a bulk action."""

import pytest
from django.contrib.auth.models import User
from playwright.sync_api import expect

from training.models import TrainingImage

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.browser]


@pytest.fixture
def superuser(db):
    return User.objects.create_superuser("admin", password="a long test password")


def test_relabel_a_training_image_with_the_bulk_action(browser_session, superuser, curated_small):
    image = TrainingImage.objects.filter(label="cat", split="train").order_by("-created_at", "-id")[
        0
    ]
    page = browser_session.open("/admin/login/?next=/admin/")
    page.fill("#id_username", "admin")
    page.fill("#id_password", "a long test password")
    page.click("input[type=submit]")
    expect(page.locator("#site-name")).to_be_visible()

    page = browser_session.open("/admin/training/trainingimage/?label=cat&split=train")
    expect(page.locator("#result_list tbody tr")).to_have_count(20)
    thumbnail = page.locator("#result_list tbody tr").first.locator("img")
    expect(thumbnail).to_have_js_property("complete", True)
    assert thumbnail.evaluate("image => image.naturalWidth") == 32
    browser_session.screenshot("admin-list")
    page.locator(f'input[name="_selected_action"][value="{image.pk}"]').check()
    page.select_option("select[name=action]", "relabel")
    page.click("button[name=index]")

    expect(page.locator("h1")).to_have_text("Relabel training images")
    expect(page.locator("#content-main")).to_contain_text("1 training image chosen")
    page.fill("#id_label", "dog")
    browser_session.screenshot("admin-relabel-form")
    page.click("input[name=apply]")
    expect(page.locator(".messagelist")).to_contain_text("Relabelled 1 image(s) as “dog”.")
    expect(page.locator("#result_list tbody tr")).to_have_count(19)  # the filter: cat only
    browser_session.screenshot("admin-relabelled")
    image.refresh_from_db()
    assert image.label == "dog"
