"""Alert lifecycle, audit, notification mails, escalation of urgent alerts and the weekly digest."""

import smtplib
from datetime import timedelta

import pytest
import time_machine
from django.contrib.auth import get_user_model
from django.core import mail as django_mail
from django.core.exceptions import PermissionDenied
from django.core.mail.backends.locmem import EmailBackend as MemoryBackend
from django.core.management import call_command
from django.db import DatabaseError
from django.utils import timezone

from audit.models import AuditEvent
from clients.models import CheckInStatus, EpisodeStatus
from messaging.models import OutboundEmail
from messaging.tasks import sweep_outbox
from outcomes import notifications
from outcomes.evaluation import episode_evaluate
from outcomes.models import (
    Alert,
    AlertAction,
    AlertNotification,
    AlertRule,
    AlertSeverity,
    AlertState,
    TrajectoryCurve,
)
from outcomes.services import (
    AlertTransitionInvalid,
    alert_acknowledge,
    alert_raise,
    alert_resolve,
)
from outcomes.tasks import send_alert_notifications, send_weekly_digests
from tests.auth import login_verified
from tests.factories import make_client, make_episode
from tests.integration.evaluation_support import checkin, phq9, phq9_course, record

START = timezone.now().replace(microsecond=0)


@pytest.fixture
def mailable(cast):
    """Staff with e-mail addresses (the factories create them without)."""
    for user in (cast.therapist, cast.other_therapist, cast.supervisor, cast.admin):
        user.email = f"{user.username}@clinic.example.org"
        user.save()
    return cast


def raise_alert(episode, *, severity=AlertSeverity.HIGH, trigger="adm:1"):
    alert, _ = alert_raise(
        episode=episode,
        rule=AlertRule.RISK_ITEM if severity == AlertSeverity.URGENT else AlertRule.SUDDEN_LOSS,
        trigger=trigger,
        severity=severity,
        message="PHQ-9 rose from 9 at week 2 to 17 at week 3",
    )
    return alert


def audit_actions(alert):
    return list(
        AuditEvent.objects.filter(object_id=str(alert.pk), object_type="outcomes.alert")
        .order_by("pk")
        .values_list("action", "actor_label")
    )


# --- Lifecycle ------------------------------------------------------------------------------------


def test_acknowledging_records_who_and_when_and_is_audited(cast):
    alert = raise_alert(cast.episode)
    alert_acknowledge(alert=alert, user=cast.therapist)
    assert alert.state == AlertState.ACKNOWLEDGED
    assert alert.acknowledged_by == cast.therapist and alert.acknowledged_at is not None
    assert audit_actions(alert) == [("alert.create", "system"), ("alert.acknowledge", "therapist")]


def test_an_alert_cannot_be_acknowledged_twice(cast):
    alert = raise_alert(cast.episode)
    alert_acknowledge(alert=alert, user=cast.therapist)
    with pytest.raises(AlertTransitionInvalid, match="acknowledged"):
        alert_acknowledge(alert=alert, user=cast.supervisor)
    alert.refresh_from_db()
    assert alert.acknowledged_by == cast.therapist


def test_resolving_records_the_action_and_keeps_the_note_out_of_the_audit_log(cast):
    alert = raise_alert(cast.episode)
    alert_acknowledge(alert=alert, user=cast.therapist)
    alert_resolve(
        alert=alert, user=cast.therapist, action=AlertAction.CONTACTED_CLIENT, note=" Phoned. "
    )
    assert alert.state == AlertState.RESOLVED
    assert (alert.resolved_by, alert.action, alert.resolution_note) == (
        cast.therapist,
        AlertAction.CONTACTED_CLIENT,
        "Phoned.",
    )
    resolved = AuditEvent.objects.get(action="alert.resolve", object_id=str(alert.pk))
    assert resolved.details == {
        "rule": AlertRule.SUDDEN_LOSS,
        "severity": AlertSeverity.HIGH,
        "action": AlertAction.CONTACTED_CLIENT,
    }
    assert resolved.client == cast.client


def test_resolving_an_open_alert_acknowledges_it_on_the_way(cast):
    alert = raise_alert(cast.episode)
    alert_resolve(alert=alert, user=cast.supervisor, action=AlertAction.SUPERVISION, note="")
    assert alert.acknowledged_by == cast.supervisor and alert.resolved_by == cast.supervisor
    assert [action for action, _ in audit_actions(alert)] == [
        "alert.create",
        "alert.acknowledge",
        "alert.resolve",
    ]


def test_a_resolved_alert_cannot_be_resolved_or_acknowledged_again(cast):
    alert = raise_alert(cast.episode)
    alert_resolve(alert=alert, user=cast.therapist, action=AlertAction.NO_ACTION, note="")
    with pytest.raises(AlertTransitionInvalid, match="resolved"):
        alert_resolve(alert=alert, user=cast.therapist, action=AlertAction.NO_ACTION, note="")
    with pytest.raises(AlertTransitionInvalid, match="resolved"):
        alert_acknowledge(alert=alert, user=cast.therapist)
    assert len(audit_actions(alert)) == 3


def test_an_unknown_action_is_refused_and_changes_nothing(cast):
    alert = raise_alert(cast.episode)
    with pytest.raises(AlertTransitionInvalid, match="Choose the action taken"):
        alert_resolve(alert=alert, user=cast.therapist, action="prayed", note="")
    alert.refresh_from_db()
    assert alert.state == AlertState.OPEN and len(audit_actions(alert)) == 1


def test_staff_outside_the_episode_scope_cannot_touch_the_alert(cast):
    alert = raise_alert(cast.episode)
    for stranger in (cast.outsider, cast.other_therapist):
        with pytest.raises(PermissionDenied):
            alert_acknowledge(alert=alert, user=stranger)
    alert.refresh_from_db()
    assert alert.state == AlertState.OPEN


# --- Notification mails -----------------------------------------------------------------------


def test_the_alert_mail_has_a_link_and_no_client_details(mailable, settings):
    settings.SITE_URL = "https://tracker.example.org"
    record(mailable.episode, "phq9", phq9(23, item9=2), weeks_ago=0)
    phq9_course(mailable.other_episode, [10, 17])
    episode_evaluate(episode_id=mailable.other_episode.pk)
    pending = AlertNotification.objects.filter(channel="email", status="pending")
    # The urgent risk alert; the worsening raises several (reliable, sudden, off the curve).
    assert pending.count() >= 2
    for notification in pending:
        assert notifications.notification_send(notification_id=notification.pk)
    mails = list(OutboundEmail.objects.filter(purpose="alert"))
    assert {mail.to for mail in mails} == {
        mailable.therapist.email,
        mailable.other_therapist.email,
    }
    assert any(mail.subject.startswith("Urgent:") for mail in mails)
    for mail in mails:
        text = mail.subject + mail.body_text
        assert "https://tracker.example.org/alerts/" in mail.body_text
        for secret in (mailable.client.label, mailable.other_client.label, "PHQ", "17", "23"):
            assert secret not in text
        for rule in AlertRule:
            assert rule.label.lower() not in text.lower()


def test_a_notification_is_handed_to_the_outbox_exactly_once(mailable):
    alert = raise_alert(mailable.episode)
    notification = alert.notifications.get(channel="email")
    assert notifications.notification_send(notification_id=notification.pk)
    assert not notifications.notification_send(notification_id=notification.pk)
    notification.refresh_from_db()
    # Handed over, not yet sent: the notification says what the mail did, not what was hoped.
    assert notification.status == "queued" and notification.attempts == 1
    assert OutboundEmail.objects.filter(purpose="alert").count() == 1
    sweep_outbox()
    notification.refresh_from_db()
    assert notification.status == "sent" and notification.sent_at == notification.email.sent_at


def test_a_sent_alert_mail_stays_sent_when_its_notification_cannot_be_updated(
    mailable, monkeypatch, caplog
):
    from messaging.services import mail_send
    from outcomes import receivers

    def broken(**kwargs):
        raise DatabaseError("lock timeout")

    monkeypatch.setattr(receivers, "notifications_follow_mails", broken)
    alert = raise_alert(mailable.episode)
    notification = alert.notifications.get(channel="email")
    assert notifications.notification_send(notification_id=notification.pk)
    notification.refresh_from_db()
    assert mail_send(mail_id=notification.email_id)  # the send is not undone by its mirror
    notification.refresh_from_db()
    assert notification.email.status == "sent" and notification.status == "queued"
    assert "not updated for mail" in caplog.text


def test_a_notification_left_pending_by_a_lost_task_is_sent_by_the_retry(mailable):
    raise_alert(mailable.episode)
    assert notifications.notifications_send_pending() == 0  # within the grace period
    with time_machine.travel(timezone.now() + timedelta(minutes=3)):
        assert notifications.notifications_send_pending() == 1
    assert OutboundEmail.objects.filter(purpose="alert").count() == 1


def test_a_recipient_without_an_address_is_recorded_as_failed(cast):
    alert = raise_alert(cast.episode)
    notification = alert.notifications.get(channel="email")
    assert not notifications.notification_send(notification_id=notification.pk)
    notification.refresh_from_db()
    assert notification.status == "failed" and "no e-mail" in notification.last_error


def test_a_deactivated_recipient_is_not_mailed(mailable):
    alert = raise_alert(mailable.episode)
    mailable.therapist.is_active = False
    mailable.therapist.save()
    notification = alert.notifications.get(channel="email")
    assert not notifications.notification_send(notification_id=notification.pk)
    notification.refresh_from_db()
    assert notification.status == "failed" and "deactivated" in notification.last_error
    assert not OutboundEmail.objects.exists()


def two_therapists_alerted(cast):
    """The e-mail notifications of one alert for each therapist, the therapist's first."""
    alerts = [raise_alert(cast.episode), raise_alert(cast.other_episode, trigger="adm:2")]
    return [alert.notifications.get(channel="email") for alert in alerts]


def test_a_notification_that_cannot_reach_the_outbox_is_recorded_and_the_batch_goes_on(
    mailable, monkeypatch
):
    failing, other = two_therapists_alerted(mailable)
    real_mail_queue = notifications.mail_queue

    def mail_queue(*, to, **fields):
        if to == mailable.therapist.email:
            raise DatabaseError("value too long for type character varying(254)")
        return real_mail_queue(to=to, **fields)

    monkeypatch.setattr(notifications, "mail_queue", mail_queue)
    assert send_alert_notifications([failing.pk, other.pk]) == 1
    assert list(OutboundEmail.objects.values_list("to", flat=True)) == [
        mailable.other_therapist.email
    ]
    failing.refresh_from_db()
    assert (failing.status, failing.attempts) == ("pending", 1)
    assert "DatabaseError" in failing.last_error
    # The retry task tries it again, counting, and fails it for good instead of forever.
    for minutes in range(3, 3 + 5 * notifications.MAX_ATTEMPTS, 5):
        with time_machine.travel(timezone.now() + timedelta(minutes=minutes)):
            assert notifications.notifications_send_pending() == 0
    failing.refresh_from_db()
    assert (failing.status, failing.attempts) == ("failed", notifications.MAX_ATTEMPTS)


def test_an_smtp_refusal_is_recorded_on_the_notification_and_the_other_alert_still_goes(
    mailable, monkeypatch, client
):
    refused, other = two_therapists_alerted(mailable)
    real_send = MemoryBackend.send_messages

    def send_messages(self, messages):
        if messages[0].to == [mailable.therapist.email]:
            raise smtplib.SMTPRecipientsRefused({mailable.therapist.email: (550, b"unknown")})
        return real_send(self, messages)

    monkeypatch.setattr(MemoryBackend, "send_messages", send_messages)
    # The notification task sends the mails itself (it runs on the urgent queue's worker).
    assert send_alert_notifications([refused.pk, other.pk]) == 2
    sweep_outbox()  # the refused one waits for its backoff; nothing is sent twice
    assert [message.to for message in django_mail.outbox] == [[mailable.other_therapist.email]]
    refused.refresh_from_db()
    other.refresh_from_db()
    assert (refused.email.status, refused.email.attempts) == ("queued", 1)
    assert "SMTPRecipientsRefused" in refused.email.last_error
    assert other.email.status == "sent"
    # And the admin shows it on the alert, next to the notification.
    login_verified(client, get_user_model().objects.create_superuser("root", password="pw-R-12345"))
    page = client.get(f"/admin/outcomes/alert/{refused.alert_id}/change/").content.decode()
    assert "Queued after 1 attempt(s): SMTPRecipientsRefused" in page


def test_the_migration_says_queued_for_mails_not_out_and_requeues_those_of_open_alerts(
    transactional_db, mailable
):
    """Before it, "sent" meant handed to the outbox, and alert mails failed after 6 attempts."""
    from django.db import connection
    from django.db.migrations.executor import MigrationExecutor

    executor = MigrationExecutor(connection)
    executor.migrate([("outcomes", "0003_notification_pending_index")])
    open_alert = raise_alert(mailable.episode, trigger="adm:1")
    resolved_alert = raise_alert(mailable.episode, trigger="adm:2")
    Alert.objects.filter(pk=resolved_alert.pk).update(state=AlertState.RESOLVED)
    cases = {}
    for name, alert, mail_status in [
        ("dropped", open_alert, "failed"),
        ("retrying", resolved_alert, "queued"),
        ("given_up", resolved_alert, "failed"),
        ("delivered", open_alert, "sent"),
    ]:
        mail = OutboundEmail.objects.create(
            to="t@example.org", subject="s", body_text="b", purpose="alert", status=mail_status
        )
        OutboundEmail.objects.filter(pk=mail.pk).update(last_error=f"{name} error")
        cases[name] = AlertNotification.objects.create(
            alert=alert,
            recipient=getattr(mailable, "supervisor" if name != "delivered" else "admin"),
            channel="email",
            kind="escalation" if name in ("retrying", "delivered") else "new",
            status="sent",
            email=mail,
        )
    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())

    def state(name):
        notification = AlertNotification.objects.select_related("email").get(pk=cases[name].pk)
        return notification.status, notification.email.status

    assert state("dropped") == ("queued", "queued")  # the open alert's mail is tried again
    assert state("retrying") == ("queued", "queued")
    assert state("given_up") == ("failed", "failed")
    assert AlertNotification.objects.get(pk=cases["given_up"].pk).last_error == "given_up error"
    assert state("delivered") == ("sent", "sent")


def test_an_alert_is_not_kept_without_its_notifications(cast, monkeypatch):
    def broken(pairs, *, kind):
        raise DatabaseError("connection lost")

    monkeypatch.setattr(notifications, "_notifications_create", broken)
    with pytest.raises(DatabaseError):
        raise_alert(cast.episode)
    # Nothing half done: the caller (a check-in, the sweep) fails and raises it again later.
    assert not Alert.objects.exists()


# --- Escalation ----------------------------------------------------------------------------------


def escalation_rows(alert):
    return sorted(
        alert.notifications.filter(kind="escalation").values_list("recipient__username", "channel")
    )


def test_an_unacknowledged_urgent_alert_goes_to_the_supervisor_then_the_admin(mailable):
    with time_machine.travel(START, tick=False):
        alert = raise_alert(mailable.episode, severity=AlertSeverity.URGENT)
    with time_machine.travel(START + timedelta(hours=3, minutes=59), tick=False):
        assert notifications.alerts_escalate() == 0
    with time_machine.travel(START + timedelta(hours=4), tick=False):
        assert notifications.alerts_escalate() == 1
        assert notifications.alerts_escalate() == 0
    alert.refresh_from_db()
    assert alert.escalation_level == 1
    assert alert.escalated_at == START + timedelta(hours=4)
    assert escalation_rows(alert) == [("supervisor", "email"), ("supervisor", "in_app")]
    with time_machine.travel(START + timedelta(hours=7, minutes=59), tick=False):
        assert notifications.alerts_escalate() == 0
    with time_machine.travel(START + timedelta(hours=8), tick=False):
        assert notifications.alerts_escalate() == 1
    alert.refresh_from_db()
    assert alert.escalation_level == 2
    assert escalation_rows(alert) == [
        ("clinicadmin", "email"),
        ("clinicadmin", "in_app"),
        ("supervisor", "email"),
        ("supervisor", "in_app"),
    ]
    levels = AuditEvent.objects.filter(action="alert.escalate", object_id=str(alert.pk))
    assert sorted(event.details["level"] for event in levels) == [1, 2]
    with time_machine.travel(START + timedelta(days=2), tick=False):
        assert notifications.alerts_escalate() == 0


def test_the_escalation_window_is_the_clinics_setting(mailable):
    mailable.clinic.urgent_escalation_hours = 1
    mailable.clinic.save()
    with time_machine.travel(START, tick=False):
        alert = raise_alert(mailable.episode, severity=AlertSeverity.URGENT)
    with time_machine.travel(START + timedelta(hours=1), tick=False):
        assert notifications.alerts_escalate() == 1
    alert.refresh_from_db()
    assert alert.escalation_level == 1


def test_an_acknowledged_or_non_urgent_alert_does_not_escalate(mailable):
    with time_machine.travel(START, tick=False):
        urgent = raise_alert(mailable.episode, severity=AlertSeverity.URGENT)
        raise_alert(mailable.episode, severity=AlertSeverity.HIGH, trigger="adm:2")
    with time_machine.travel(START + timedelta(hours=1), tick=False):
        alert_acknowledge(alert=urgent, user=mailable.therapist)
    with time_machine.travel(START + timedelta(hours=9), tick=False):
        assert notifications.alerts_escalate() == 0
    assert not Alert.objects.filter(escalation_level__gt=0).exists()


def test_without_a_team_supervisor_the_admin_is_told_at_the_first_step(mailable):
    # Team B has no supervisor.
    with time_machine.travel(START, tick=False):
        alert = raise_alert(mailable.other_episode, severity=AlertSeverity.URGENT)
    with time_machine.travel(START + timedelta(hours=4), tick=False):
        assert notifications.alerts_escalate() == 1
    alert.refresh_from_db()
    assert alert.escalation_level == 2
    assert escalation_rows(alert) == [("clinicadmin", "email"), ("clinicadmin", "in_app")]


def test_a_deactivated_supervisor_is_passed_over_for_the_admin(mailable):
    mailable.supervisor.is_active = False
    mailable.supervisor.save()
    with time_machine.travel(START, tick=False):
        alert = raise_alert(mailable.episode, severity=AlertSeverity.URGENT)
    with time_machine.travel(START + timedelta(hours=4), tick=False):
        assert notifications.alerts_escalate() == 1
    alert.refresh_from_db()
    assert alert.escalation_level == 2
    assert escalation_rows(alert) == [("clinicadmin", "email"), ("clinicadmin", "in_app")]


def test_a_deactivated_therapists_urgent_alert_escalates_without_waiting(mailable):
    mailable.therapist.is_active = False
    mailable.therapist.save()
    with time_machine.travel(START, tick=False):
        alert = raise_alert(mailable.episode, severity=AlertSeverity.URGENT)
        other = raise_alert(mailable.other_episode, severity=AlertSeverity.URGENT, trigger="adm:2")
        assert notifications.alerts_escalate() == 1
    alert.refresh_from_db()
    other.refresh_from_db()
    assert (alert.escalation_level, other.escalation_level) == (1, 0)
    assert escalation_rows(alert) == [("supervisor", "email"), ("supervisor", "in_app")]


def test_an_alert_that_fails_to_escalate_does_not_hold_up_the_others(mailable, monkeypatch):
    with time_machine.travel(START, tick=False):
        failing = raise_alert(mailable.episode, severity=AlertSeverity.URGENT)
        other = raise_alert(mailable.other_episode, severity=AlertSeverity.URGENT, trigger="adm:2")
    real_recipients = notifications.escalation_recipients

    def escalation_recipients(*, alert, level):
        if alert.pk == failing.pk:
            raise DatabaseError("deadlock detected")
        return real_recipients(alert=alert, level=level)

    monkeypatch.setattr(notifications, "escalation_recipients", escalation_recipients)
    with time_machine.travel(START + timedelta(hours=4), tick=False):
        assert notifications.alerts_escalate() == 1
    failing.refresh_from_db()
    other.refresh_from_db()
    assert (failing.escalation_level, other.escalation_level) == (0, 2)
    monkeypatch.undo()
    with time_machine.travel(START + timedelta(hours=4, minutes=5), tick=False):
        assert notifications.alerts_escalate() == 1
    failing.refresh_from_db()
    assert failing.escalation_level == 1
    assert escalation_rows(failing) == [("supervisor", "email"), ("supervisor", "in_app")]


def test_the_escalation_mail_says_escalated_and_nothing_about_the_client(mailable):
    with time_machine.travel(START, tick=False):
        alert = raise_alert(mailable.episode, severity=AlertSeverity.URGENT)
    with time_machine.travel(START + timedelta(hours=4), tick=False):
        notifications.alerts_escalate()
    escalation = alert.notifications.get(kind="escalation", channel="email")
    notifications.notification_send(notification_id=escalation.pk)
    mail = OutboundEmail.objects.to_address(mailable.supervisor.email).get()
    assert mail.subject.startswith("Escalated:")
    assert mailable.client.label not in mail.subject + mail.body_text


# --- Weekly digest ------------------------------------------------------------------------------


def test_the_weekly_digest_goes_once_to_therapists_with_items_and_names_no_one(mailable):
    raise_alert(mailable.episode)
    quiet = make_episode(make_client(mailable.clinic), mailable.other_therapist)
    assert notifications.digests_send() == notifications.DigestRun(sent=1, failed=0)
    assert notifications.digests_send().sent == 0
    mail = OutboundEmail.objects.get(purpose="digest")
    assert mail.to == mailable.therapist.email
    assert "items to review" in mail.body_text and "/alerts/" in mail.body_text
    assert mailable.client.label not in mail.subject + mail.body_text
    assert not any(character.isdigit() for character in mail.subject)
    with time_machine.travel(timezone.now() + timedelta(days=7)):
        assert notifications.digests_send().sent == 1
    assert quiet.therapist.email not in set(OutboundEmail.objects.values_list("to", flat=True))


def fail_mail_for(monkeypatch, address, *, times):
    """Make the outbox refuse mail to ``address`` the first ``times`` times."""
    real_mail_queue = notifications.mail_queue
    refusals = {"left": times}

    def mail_queue(*, to, **fields):
        if to == address and refusals["left"]:
            refusals["left"] -= 1
            raise DatabaseError("could not serialize access")
        return real_mail_queue(to=to, **fields)

    monkeypatch.setattr(notifications, "mail_queue", mail_queue)


def digest_recipients():
    return sorted(OutboundEmail.objects.filter(purpose="digest").values_list("to", flat=True))


def test_one_therapists_failed_digest_does_not_cost_the_others_theirs(mailable, monkeypatch):
    raise_alert(mailable.episode)
    raise_alert(mailable.other_episode, trigger="adm:2")
    fail_mail_for(monkeypatch, mailable.therapist.email, times=1)
    assert notifications.digests_send() == notifications.DigestRun(sent=1, failed=1)
    assert digest_recipients() == [mailable.other_therapist.email]
    # A re-run writes the missing one and repeats nobody's.
    assert notifications.digests_send() == notifications.DigestRun(sent=1, failed=0)
    assert digest_recipients() == sorted([mailable.therapist.email, mailable.other_therapist.email])


def test_the_digest_task_retries_the_digests_that_failed(mailable, monkeypatch):
    raise_alert(mailable.episode)
    raise_alert(mailable.other_episode, trigger="adm:2")
    fail_mail_for(monkeypatch, mailable.therapist.email, times=2)
    # Eagerly, a Celery retry runs again at once: two refusals, then the digest goes.
    send_weekly_digests.apply()
    assert digest_recipients() == sorted([mailable.therapist.email, mailable.other_therapist.email])


def test_an_off_track_client_or_missed_checkins_are_items_too(mailable):
    mailable.other_episode.status = EpisodeStatus.RED
    mailable.other_episode.save()
    checkin(mailable.episode, status=CheckInStatus.EXPIRED, weeks_ago=0.5)
    assert notifications.therapists_with_items() == sorted(
        [mailable.therapist.pk, mailable.other_therapist.pk]
    )


# --- Curves -------------------------------------------------------------------------------------


def fit_on_three_finished_episodes(cast):
    for _ in range(3):
        episode = make_episode(make_client(cast.clinic), cast.therapist)
        phq9_course(episode, [16, 14, 12, 10, 8])
        episode.ended_on = timezone.localdate()
        episode.save()
    call_command("fit_trajectories", clinic=cast.clinic.slug)


def test_fit_trajectories_stores_provisional_bands_with_their_n_and_calibration(cast):
    fit_on_three_finished_episodes(cast)
    curves = TrajectoryCurve.objects.filter(clinic=cast.clinic, instrument="phq9")
    assert curves.count() == 3
    assert set(curves.values_list("source", flat=True)) == {TrajectoryCurve.Source.DEFAULT}
    middle = curves.get(band_low=15)
    assert middle.n_episodes == 3 and middle.b0 == pytest.approx(16.98)
    assert middle.calibration["n_episodes"] == 3
    assert middle.calibration["sensitivity"] is None  # fewer than 10 episodes: suppressed
    assert middle.calibration["curve_n_episodes"] == 3  # every intake is a case: all watched
    assert middle.calibration["curve_sensitivity"] is None
    assert set(middle.calibration["operating_points"]) == {
        "fewer false alarms",
        "balanced (default)",
        "more sensitive",
        "CLINICAL.md as written",
    }
    assert AuditEvent.objects.filter(action="trajectory.fit", clinic=cast.clinic).exists()


def test_the_admin_shows_a_curves_calibration_and_does_not_let_it_be_edited(cast, client):
    from django.contrib.auth import get_user_model

    from tests.auth import login_verified

    fit_on_three_finished_episodes(cast)
    curve = TrajectoryCurve.objects.get(clinic=cast.clinic, instrument="phq9", band_low=15)
    root = get_user_model().objects.create_superuser("root", password="pw-R-12345")
    login_verified(client, root)
    url = f"/admin/outcomes/trajectorycurve/{curve.pk}/change/"
    html = client.get(url).content.decode()
    assert "Calibration on the clinic" in html
    assert "<th>Curve alone</th>" in html and "<th>Episodes</th><td>3</td><td>3</td>" in html
    assert 'name="b0"' not in html  # no form fields: view only
    # Prospective figures, Lambert's weaker one labelled beside, and the operating points a
    # clinic can choose with their false alarms (issue 16).
    assert "Sensitivity (warned before reliably worse)" in html
    assert "Lambert&#x27;s weaker figure, not a warning" in html
    assert "among those who dipped, then improved" in html
    assert "<th>fewer false alarms</th><td>1.6449 / 1.6449</td><td>0.3 / 5</td>" in html
    assert "<th>more sensitive</th><td>0.5 / 1.6449</td><td>0.05 / 3</td>" in html
    assert "<th>CLINICAL.md as written</th><td>1.2816 / 1.6449</td><td>0.0 / 2</td>" in html
    assert client.post(url, {"b0": "0"}).status_code == 403
    curve.refresh_from_db()
    assert curve.b0 == pytest.approx(16.98)


def test_the_calibration_replays_the_clinics_curve_settings(cast, client):
    from django.contrib.auth import get_user_model

    from tests.auth import login_verified

    cast.clinic.first_limit_week, cast.clinic.sigma_floor = 2, "sem"
    cast.clinic.save()
    fit_on_three_finished_episodes(cast)
    curve = TrajectoryCurve.objects.get(clinic=cast.clinic, instrument="phq9", band_low=15)
    assert (curve.calibration["first_limit_week"], curve.calibration["sigma_floor"]) == (2, "sem")
    root = get_user_model().objects.create_superuser("root", password="pw-R-12345")
    login_verified(client, root)
    html = client.get(f"/admin/outcomes/trajectorycurve/{curve.pk}/change/").content.decode()
    assert (
        "z yellow 0.6, z red 1.6449, band judged from week 2, σ floor sem, not improving "
        "beyond 0.05 of the reliable change from week 3." in html
    )


def test_a_band_with_enough_episodes_is_fitted_and_used(cast):
    cast.clinic.trajectory_min_episodes = 3
    cast.clinic.save()
    for start in (16, 17, 18):
        episode = make_episode(make_client(cast.clinic), cast.therapist)
        phq9_course(episode, [start, start - 2, start - 4, start - 6, start - 8])
        episode.ended_on = timezone.localdate()
        episode.save()
    call_command("fit_trajectories")
    fitted = TrajectoryCurve.objects.get(clinic=cast.clinic, instrument="phq9", band_low=15)
    assert fitted.source == TrajectoryCurve.Source.FITTED and fitted.n_episodes == 3
    assert fitted.b1 < 0
    phq9_course(cast.episode, [17, 17])
    episode_evaluate(episode_id=cast.episode.pk)
    cast.episode.refresh_from_db()
    assert "provisional" not in cast.episode.status_reason


def test_fit_trajectories_refuses_an_unknown_clinic(db):
    from django.core.management import CommandError

    with pytest.raises(CommandError, match="No clinic"):
        call_command("fit_trajectories", clinic="nowhere")
