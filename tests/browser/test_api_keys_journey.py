"""A therapist makes an API key for an integration from their account page, by clicks and typing
in headless Chromium: the key is shown once, works against the API, and is revoked by a click."""

import re

import pytest
from playwright.sync_api import expect
from rest_framework.test import APIClient

from api.models import ApiToken
from tests.auth import totp_device_for
from tests.browser.test_onboarding_journeys import PASSWORD, sign_in
from tests.factories import make_clinic, make_staff

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.mfa, pytest.mark.slow]


def test_a_therapist_makes_sees_once_and_revokes_an_api_key(live_server, page, screenshot):
    therapist = make_staff(make_clinic(), username="dr_lee", password=PASSWORD)
    sign_in(page, live_server, "dr_lee", totp_device_for(therapist))

    page.get_by_role("link", name="Account", exact=True).click()
    page.get_by_role("link", name="Your API keys").click()
    page.get_by_label("What will use it").fill("EHR sync")
    page.get_by_role("button", name="Create key").click()
    key = page.locator("code.api-key").inner_text()
    assert re.fullmatch(r"otk_[A-Za-z0-9_-]{40,}", key)
    screenshot(page, "api-key-created")

    bearer = APIClient()
    bearer.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    assert bearer.get("/api/v1/episodes/").status_code == 200
    page.get_by_role("link", name="Account", exact=True).click()
    page.get_by_role("link", name="Your API keys").click()
    expect(page.locator("code.api-key")).to_have_count(0)  # shown once, never again
    expect(page.get_by_role("cell", name="EHR sync", exact=True)).to_be_visible()

    page.get_by_role("button", name="Revoke EHR sync").click()
    expect(page.get_by_text("no longer opens the API")).to_be_visible()
    assert ApiToken.objects.get(user=therapist).revoked_at is not None
    assert bearer.get("/api/v1/episodes/").status_code == 401
