"""The operator adds a client with an inline episode in the Django admin, by clicks and typing
in headless Chromium (issue 19: it answered 500, the inline episode had no clinic)."""

import pytest
from django.contrib.auth import get_user_model
from playwright.sync_api import expect

from audit.models import AuditEvent
from clients.models import Client, Episode
from tests.auth import totp_device_for
from tests.browser.test_onboarding_journeys import PASSWORD, sign_in
from tests.factories import make_clinic, make_staff

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.mfa, pytest.mark.slow]


def test_the_operator_adds_a_client_with_an_episode_in_the_django_admin(
    live_server, page, screenshot
):
    clinic = make_clinic("Riverside Therapies")
    make_staff(clinic, username="dr_lee")
    root = get_user_model().objects.create_superuser("root", password=PASSWORD)
    sign_in(page, live_server, "root", totp_device_for(root))

    page.get_by_role("link", name="Admin", exact=True).click()
    page.locator("tr.model-client").get_by_role("link", name="Add").click()
    page.get_by_label("Clinic").select_option(label=clinic.name)
    page.get_by_label("Label").fill("C-0777")
    page.get_by_role("button", name="Add another Episode").click()
    episode_row = page.locator("#episodes-group tr.form-row:not(.empty-form)").last
    episode_row.locator("select[name$='-therapist']").select_option(label="dr_lee")
    # The admin shows dates in the en-GB format (DD/MM/YYYY).
    episode_row.locator("td.field-started_on input.vDateField").fill("02/11/2026")
    screenshot(page, "admin-add-client-with-episode")
    page.get_by_role("button", name="Save", exact=True).click()

    expect(page.locator(".messagelist")).to_contain_text("was added successfully")
    client = Client.objects.get(label="C-0777")
    episode = Episode.objects.get(client=client)
    assert episode.clinic == clinic and str(episode.started_on) == "2026-11-02"
    actions = set(AuditEvent.objects.filter(client=client).values_list("action", flat=True))
    assert {"client.create", "episode.create"} <= actions
