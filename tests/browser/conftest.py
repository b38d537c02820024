"""Browser tests: Debian's Chromium driven by Playwright against pytest-django's
live server (a thread of this process, on the test database), with real workers.

Chromium comes from `apt-get install chromium`, never from a Playwright download.
Screenshots of every page visited go to test-artifacts/browser/ (git-ignored).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.test import Client
from playwright.sync_api import Browser, Page, sync_playwright

from harness.helpers import ROOT

CHROMIUM = Path("/usr/bin/chromium")


@pytest.fixture(scope="session", autouse=True)
def api_bounds_from_the_default_settings():
    """The API's serializers read their bounds (API_MAX_FILES ...) from the settings
    when first imported: import them before any test lowers a setting for its page
    (test_batch_in_parts), or that test would lower them for every later one."""
    import classifier_site.urls  # noqa: F401


CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = ROOT / "test-artifacts" / "browser"
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 900}
# Long enough for a worker's first task (it loads TensorFlow then), short enough to
# fail a stuck page within the suite's time budget.
WAIT_MS = 60_000


@pytest.fixture(scope="module")
def chromium() -> Browser:
    if not CHROMIUM.exists():
        pytest.fail(
            f"{CHROMIUM} is missing: install Debian's browser with `apt-get install chromium`"
        )
    # Playwright's synchronous API runs an event loop in this thread, which makes
    # Django refuse ORM calls from it; the tests' own ORM calls are synchronous.
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        browser.close()
    if previous is None:
        del os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"]
    else:
        os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


@pytest.fixture(autouse=True)
def served_like_make_run(settings, own_rate_limit_counters):
    """The live server streams media itself (as `make run` does) and counts rate
    limits under this test's own prefix."""
    settings.MEDIA_ACCEL_REDIRECT = ""


class Session:
    """A browser page plus what went wrong on it and where its screenshots go."""

    def __init__(self, page: Page, base_url: str, name: str) -> None:
        self.page = page
        self.base_url = base_url
        self.name = name
        self.errors: list[str] = []
        page.on("pageerror", lambda error: self.errors.append(str(error)))
        page.set_default_timeout(WAIT_MS)

    def open(self, path: str) -> Page:
        self.page.goto(f"{self.base_url}{path}")
        return self.page

    def screenshot(self, label: str) -> Path:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        path = ARTIFACTS / f"{self.name}-{label}.png"
        self.page.screenshot(path=path, full_page=True)
        return path

    def sign_in(self, user) -> None:
        """Share a session made by Django's test client, as signing in would."""
        client = Client()
        client.force_login(user)
        cookie = client.cookies[django_settings.SESSION_COOKIE_NAME].value
        self.page.context.add_cookies(
            [{"name": django_settings.SESSION_COOKIE_NAME, "value": cookie, "url": self.base_url}]
        )


def _session(chromium: Browser, live_server, request, viewport: dict):
    context = chromium.new_context(viewport=viewport, accept_downloads=True)
    name = re.sub(r"[^A-Za-z0-9_.-]+", "-", request.node.name)
    session = Session(context.new_page(), live_server.url, name)
    yield session
    context.close()
    assert session.errors == [], f"JavaScript errors on the page: {session.errors}"


@pytest.fixture
def browser_session(chromium, live_server, request):
    yield from _session(chromium, live_server, request, DESKTOP)


@pytest.fixture
def phone_session(chromium, live_server, request):
    yield from _session(chromium, live_server, request, PHONE)
