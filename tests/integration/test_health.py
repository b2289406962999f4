from datetime import timedelta

import pytest
from django.utils import timezone


@pytest.mark.django_db
def test_healthz_reports_database_and_broker_without_login(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json()["checks"] == {"database": "ok", "broker": "ok"}


@pytest.mark.django_db
def test_healthz_answers_503_when_the_broker_is_unreachable(client, broker_down):
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["checks"]["broker"] == "down"


@pytest.mark.django_db
def test_healthz_recovers_when_the_broker_is_back(client, broker_down, monkeypatch):
    assert client.get("/healthz").status_code == 503
    monkeypatch.undo()
    from config.celery_app import app

    app._pool = None
    assert client.get("/healthz").status_code == 200


# --- Background work ------------------------------------------------------------------------------

LONG_AGO = timedelta(minutes=20)  # past config.health.OVERDUE
JUST_NOW = timedelta(minutes=5)  # within it: the beat tasks have not had their turn yet


def unevaluated_form(cast, age):
    from clients.models import Episode
    from tests.integration.evaluation_support import phq9, record

    # Stored through the front door (which marks the episode), then dated as if stored ``age``
    # ago with no evaluation since.
    form = record(cast.episode, "phq9", phq9(8), weeks_ago=0)
    Episode.objects.filter(pk=form.episode_id).update(rules_pending_since=timezone.now() - age)


def pending_alert_email(cast, age):
    from outcomes.models import AlertNotification
    from tests.integration.test_dashboard_caseload import add_alert

    alert = add_alert(cast.episode, trigger=f"adm:{age.seconds}")
    AlertNotification.objects.create(
        alert=alert, recipient=cast.therapist, channel="email", created_at=timezone.now() - age
    )


def queued_alert_email(cast, age):
    """Handed to the outbox, which has not got it past SMTP yet."""
    from messaging.services import mail_queue
    from outcomes.models import AlertNotification
    from tests.integration.test_dashboard_caseload import add_alert

    alert = add_alert(cast.episode, trigger=f"adm:q{age.seconds}")
    mail = mail_queue(to="t@example.org", subject="s", body_text="b", purpose="alert")
    AlertNotification.objects.create(
        alert=alert,
        recipient=cast.therapist,
        channel="email",
        status="queued",
        email=mail,
        created_at=timezone.now() - age,
    )


def failed_alert_email_of_an_open_alert(cast, age):
    """Failed while the alert is open, however recently (the "just now" case is the alert alone):
    its recipient may never have been told."""
    from outcomes.models import AlertNotification
    from tests.integration.test_dashboard_caseload import add_alert

    alert = add_alert(cast.episode, trigger=f"adm:f{age.seconds}")
    if age >= LONG_AGO:
        AlertNotification.objects.create(
            alert=alert, recipient=cast.therapist, channel="email", status="failed"
        )


def unescalated_urgent_alert(cast, age):
    from outcomes.models import Alert, AlertSeverity
    from tests.integration.test_dashboard_caseload import add_alert

    alert = add_alert(cast.episode, severity=AlertSeverity.URGENT, trigger=f"adm:{age.seconds}")
    window = timedelta(hours=cast.clinic.urgent_escalation_hours)
    Alert.objects.filter(pk=alert.pk).update(created_at=timezone.now() - window - age)


def queued_mail(cast, age):
    from messaging.models import OutboundEmail
    from messaging.services import mail_queue

    mail = mail_queue(to="someone@example.org", subject="s", body_text="b", purpose="test")
    OutboundEmail.objects.filter(pk=mail.pk).update(next_attempt_at=timezone.now() - age)


OVERDUE_WORK = {
    "alert_evaluation": unevaluated_form,
    "alert_emails": pending_alert_email,
    "alert_emails:queued": queued_alert_email,
    "alert_emails:failed": failed_alert_email_of_an_open_alert,
    "escalation": unescalated_urgent_alert,
    "outbox": queued_mail,
}


@pytest.mark.parametrize("check", OVERDUE_WORK)
def test_healthz_says_degraded_when_background_work_is_overdue(client, cast, check):
    OVERDUE_WORK[check](cast, JUST_NOW)
    body = client.get("/healthz").json()
    assert body["status"] == "ok" and set(body["background"].values()) == {"ok"}

    OVERDUE_WORK[check](cast, LONG_AGO)
    response = client.get("/healthz")
    body = response.json()
    # Still 200: this web server is fine, it is a worker or beat that is not running.
    assert response.status_code == 200 and body["status"] == "degraded"
    behind = {name for name, state in body["background"].items() if state == "behind"}
    assert behind == {check.split(":")[0]}


def test_a_failed_alert_email_of_a_resolved_alert_leaves_healthz_ok(client, cast):
    from outcomes.models import AlertNotification, AlertState
    from tests.integration.test_dashboard_caseload import add_alert

    alert = add_alert(cast.episode, trigger="adm:1")
    AlertNotification.objects.create(
        alert=alert, recipient=cast.therapist, channel="email", status="failed"
    )
    assert client.get("/healthz").json()["status"] == "degraded"
    alert.state = AlertState.RESOLVED
    alert.save()
    assert client.get("/healthz").json()["status"] == "ok"
