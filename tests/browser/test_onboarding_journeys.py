"""A clinic's week in the staff pages, in headless Chromium, by clicks and typing only (the seed
before each journey, and the outbox run that a worker would do, are the only code):

- a clinic admin adds a client with a chosen plan and sends a check-in now; a real SMTP server
  (aiosmtpd) receives the mail and its link opens the client's form;
- a therapist finds the urgent client on top, opens them, records a session, acknowledges and
  resolves the alert with an action, and sees the caseload change.

Screenshots: var/screenshots/onboard-*.png (copies of the key ones in docs/screenshots/).
"""

import re

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from audit.models import AuditEvent
from clients.models import Client, Role, TreatmentSession
from outcomes.models import AlertRule, AlertSeverity
from outcomes.services import alert_raise
from tests.auth import totp_device_for
from tests.browser.test_checkin_form import link_in, send_outbox, smtp_inbox  # noqa: F401
from tests.browser.test_reports_exports import current_code
from tests.factories import make_client, make_clinic, make_episode, make_staff, make_team

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.mfa, pytest.mark.slow]

PASSWORD = "a-Long-pass-2026"


def sign_in(page, live_server, username: str, device) -> None:
    page.goto(f"{live_server.url}/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(re.compile(r"/accounts/mfa/verify/"))
    page.get_by_label("Code").fill(current_code(device))
    page.get_by_role("button", name="Verify").click()
    page.wait_for_url(f"{live_server.url}/")


def test_a_clinic_admin_adds_a_client_with_a_plan_and_the_check_in_reaches_a_real_smtp_server(
    live_server,
    page,
    screenshot,
    smtp_inbox,  # noqa: F811
):
    clinic = make_clinic("Riverside Therapies")
    team = make_team(clinic, "Team A")
    therapist = make_staff(clinic, teams=[team], username="dr_lee")
    therapist.first_name, therapist.last_name = "Sam", "Lee"
    therapist.save()
    admin = make_staff(clinic, role=Role.ADMIN, username="admin_ng", password=PASSWORD)
    sign_in(page, live_server, "admin_ng", totp_device_for(admin))

    page.get_by_role("link", name="Add client").click()
    expect(page.get_by_role("heading", name="Add a client", level=1)).to_be_visible()
    page.get_by_label("Label").fill("C-0101")
    page.get_by_label("E-mail").fill("client101@example.org")
    page.get_by_label("Therapist").select_option(label="Sam Lee")
    page.get_by_label("Chosen forms and schedule").check()
    page.get_by_role("checkbox", name="GAD-7").uncheck()
    page.get_by_label("Day (weekly)").select_option(label="Thursday")
    screenshot(page, "onboard-add-client")
    page.get_by_role("button", name="Add client").click()

    expect(page.get_by_role("heading", name="C-0101", level=1)).to_be_visible()
    expect(page.get_by_text("Client C-0101 added.")).to_be_visible()
    expect(page.locator("#plan")).to_contain_text("Running: weekly (PHQ-9)")
    page.get_by_role("button", name="Send a check-in now").click()
    expect(page.get_by_text("Check-in sent")).to_be_visible()
    screenshot(page, "onboard-client-page")

    assert send_outbox() == 1  # what the outbox worker does after the commit
    assert len(smtp_inbox.messages) == 1
    message = smtp_inbox.messages[0]
    assert message["To"] == "client101@example.org"
    body = message.get_body(preferencelist=("plain",)).get_content()
    assert "C-0101" not in body and "PHQ" not in body  # no label, no form in the mail

    page.goto(link_in(message))
    expect(page.get_by_role("heading", name="Your check-in")).to_be_visible()
    client = Client.objects.get(label="C-0101")
    assert client.episodes.get().therapist.username == "dr_lee"
    actions = set(AuditEvent.objects.filter(client=client).values_list("action", flat=True))
    assert {"client.create", "episode.create", "plan.update", "checkin.create"} <= actions


def test_a_therapist_handles_the_urgent_client_from_the_top_of_the_caseload(
    live_server, page, screenshot
):
    clinic = make_clinic("Riverside Therapies")
    therapist = make_staff(clinic, username="dr_lee", password=PASSWORD)
    calm = make_episode(make_client(clinic, label="C-0200"), therapist, weeks_ago=8)
    urgent = make_episode(make_client(clinic, label="C-0300"), therapist, weeks_ago=2)
    alert, _ = alert_raise(
        episode=urgent,
        rule=AlertRule.RISK_ITEM,
        trigger="journey",
        severity=AlertSeverity.URGENT,
        message="Thoughts of self-harm endorsed (PHQ-9 item 9).",
    )
    assert calm.pk < urgent.pk  # the order comes from the alert, not from the ids
    sign_in(page, live_server, "dr_lee", totp_device_for(therapist))

    rows = page.locator("tr.caseload-row")
    expect(rows.first).to_have_attribute("data-label", "C-0300")
    expect(rows.first).to_contain_text("1 urgent")
    screenshot(page, "onboard-caseload-urgent")
    rows.first.get_by_role("link", name="C-0300").click()

    expect(page.get_by_role("heading", name="C-0300", level=1)).to_be_visible()
    expect(page.locator("#alerts")).to_contain_text("Risk item endorsed")
    sessions = page.locator("#sessions")
    sessions.get_by_label("Attended").check()
    sessions.get_by_role("button", name="Record session").click()
    expect(page.get_by_text("Session recorded.")).to_be_visible()
    expect(page.locator("#sessions")).to_contain_text("Attended")

    page.locator("#alerts").get_by_role("button", name="Acknowledge").click()
    expect(page.get_by_text("Alert for C-0300 acknowledged.")).to_be_visible()
    page.locator("#alerts").get_by_label("Action taken").select_option(label="Contacted client")
    page.locator("#alerts").get_by_role("button", name="Resolve alert").click()
    expect(page.get_by_text("Alert for C-0300 resolved.")).to_be_visible()
    screenshot(page, "onboard-client-resolved")

    page.get_by_role("link", name="← Caseload").click()
    expect(page.locator("tr.caseload-row", has_text="C-0300")).not_to_contain_text("urgent")
    expect(page.get_by_text("with an urgent alert")).to_have_count(0)
    alert.refresh_from_db()
    assert (alert.state, alert.action) == ("resolved", "contacted_client")
    session = TreatmentSession.objects.get(episode=urgent)
    assert session.attended is True and session.starts_at <= timezone.now()
