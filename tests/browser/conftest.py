"""Headless Chromium (Debian's, at /usr/bin/chromium) driven by Playwright against live_server.

Every browser test takes the ``page`` fixture (desktop) or ``phone_page`` (a 360×740 viewport) and
is marked ``browser``; without Chromium it skips with the reason (a failure under CI=true).
Screenshots go to ``var/screenshots/``.
"""

import os
from pathlib import Path

import pytest
from django.conf import settings

from tests.conftest import chromium_path

# Playwright's sync API runs an event loop in this thread; Django's ORM calls from the test body
# are still synchronous and safe here.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

SCREENSHOTS = Path(settings.BASE_DIR) / "var" / "screenshots"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def pytest_collection_modifyitems(items):
    for item in items:
        if "tests/browser/" in str(item.fspath).replace(os.sep, "/"):
            item.add_marker(pytest.mark.browser)


@pytest.fixture(scope="session")
def browser():
    path = chromium_path()
    if not path:
        pytest.skip("needs Chromium (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=path, headless=True, args=CHROMIUM_ARGS
        )
        yield browser
        browser.close()


def _page(browser, **context_options):
    context = browser.new_context(**context_options)
    context.set_default_timeout(15_000)
    return context, context.new_page()


@pytest.fixture
def page(browser):
    context, page = _page(browser, viewport={"width": 1366, "height": 900})
    yield page
    context.close()


@pytest.fixture
def phone_page(browser):
    context, page = _page(
        browser,
        viewport={"width": 360, "height": 740},
        device_scale_factor=2,
        is_mobile=True,
        has_touch=True,
    )
    yield page
    context.close()


@pytest.fixture
def audit_page(browser):
    """A desktop page whose context bypasses the Content Security Policy, so the accessibility
    audit can inject axe-core (``tests/browser/accessibility.py``). Only for audits: journeys
    that check the policy itself use ``page``."""
    context, page = _page(browser, viewport={"width": 1366, "height": 900}, bypass_csp=True)
    yield page
    context.close()


@pytest.fixture
def screenshot():
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)

    def take(page, name: str) -> Path:
        path = SCREENSHOTS / f"{name}.png"
        page.screenshot(path=str(path), full_page=True)
        return path

    return take
