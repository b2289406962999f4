"""The supervisor's report page in headless Chromium: an alert mail SMTP has refused for a quarter
of an hour shows as a warning at the top, with who was to be told and nothing about the client.
The screenshot is var/screenshots/report-undelivered-alert-mails.png."""

from datetime import timedelta

import pytest
from django.conf import settings
from django.test import Client
from django.utils import timezone

from clients.models import Role
from messaging.models import OutboundEmail
from messaging.services import mail_queue
from outcomes.models import AlertNotification, AlertRule, AlertSeverity
from outcomes.services import alert_raise
from tests.auth import login_verified
from tests.factories import make_client, make_clinic, make_episode, make_staff, make_team

pytestmark = [pytest.mark.django_db(transaction=True)]


def test_the_supervisor_sees_an_undelivered_alert_mail_at_the_top_of_the_report(
    live_server, page, screenshot
):
    clinic = make_clinic()
    team = make_team(clinic, "Team A")
    therapist = make_staff(clinic, teams=[team], username="therapist")
    supervisor = make_staff(clinic, role=Role.SUPERVISOR, teams=[team], username="supervisor")
    client = make_client(clinic)
    alert, _ = alert_raise(
        episode=make_episode(client, therapist),
        rule=AlertRule.RISK_ITEM,
        trigger="adm:1",
        severity=AlertSeverity.URGENT,
        message="PHQ-9 item 9 answered 2",
    )
    mail = mail_queue(to="t@clinic.example.org", subject="s", body_text="b", purpose="alert")
    OutboundEmail.objects.filter(pk=mail.pk).update(attempts=3)
    AlertNotification.objects.filter(alert=alert, channel="email").update(
        status="queued", email=mail, created_at=timezone.now() - timedelta(minutes=20)
    )

    browser_session = Client()
    login_verified(browser_session, supervisor)
    page.context.add_cookies(
        [
            {
                "name": settings.SESSION_COOKIE_NAME,
                "value": browser_session.cookies[settings.SESSION_COOKIE_NAME].value,
                "url": live_server.url,
            }
        ]
    )
    page.goto(f"{live_server.url}/reports/")
    warning = page.get_by_role("alert").filter(has_text="Alert e-mails not delivered")
    warning.wait_for()
    text = warning.inner_text()
    assert "therapist" in text and "Urgent" in text and "3 times; still retrying" in text
    assert client.label not in text
    screenshot(page, "report-undelivered-alert-mails")
