"""The API's docs page in headless Chromium: Swagger UI from the installed sidecar package, under
the strict Content-Security-Policy (no inline script), lists the operations from the schema."""

import pytest

from tests.factories import make_clinic, make_staff

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

PASSWORD = "pw-Docs-12345"


def test_the_swagger_page_renders_the_operations_without_csp_violations(
    page, live_server, screenshot
):
    make_staff(make_clinic(), username="docsreader", password=PASSWORD)
    violations = []
    page.on(
        "console",
        lambda message: (
            violations.append(message.text) if "Content Security Policy" in message.text else None
        ),
    )
    page.goto(f"{live_server.url}/api/v1/docs/")
    page.wait_for_url("**/login/**")
    page.get_by_label("Username").fill("docsreader")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url("**/api/v1/docs/")
    page.wait_for_selector("text=/api/v1/episodes/{episode_id}/responses/", timeout=20_000)
    assert page.locator(".opblock").count() > 20
    screenshot(page, "api-docs")
    assert violations == []
