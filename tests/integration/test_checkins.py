"""Check-in services: plans, the sweep (create, send, remind, expire), the e-mail, submission,
opt-out and staff entry."""

import re
from datetime import UTC, datetime, time, timedelta

import pytest
import time_machine
from django.utils import timezone

from checkins.services import checkin_submit, client_opt_out, response_enter
from clients import checkins, scheduling
from clients.checkins import (
    LinkState,
    PlanInvalid,
    checkin_by_key,
    checkins_sweep,
    key_hash,
    plan_end_for_episode,
    plan_pause,
    plan_resume,
    plan_set,
)
from clients.models import CheckIn, CheckInKind, CheckInStatus, TimelineEvent, TreatmentSession
from messaging.models import OutboundEmail
from outcomes.models import Administration, Alert, AlertRule, AlertSeverity, ResponseSource
from outcomes.services import AnswersInvalid
from tests.checkin_support import GAD7_CALM, PHQ9_CALM, key_from, open_checkin, start_plan
from tests.factories import make_client

pytestmark = pytest.mark.django_db

LONDON_MONDAY_NINE = {"weekday": 0, "local_time": time(9, 0)}


@pytest.fixture(autouse=True)
def fast_passwords(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def utc(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


# --- Plans ------------------------------------------------------------------------------------


def test_the_default_plan_is_phq9_and_gad7_weekly_with_the_session_rating(cast):
    plan = checkins.plan_create_default(episode=cast.episode)
    assert plan.instruments == ["phq9", "gad7"]
    assert plan.schedule == "weekly"
    assert plan.session_rating_after_sessions is True


@pytest.mark.parametrize("code", ["ors", "core10"])
def test_a_plan_refuses_an_instrument_without_licensed_item_text_and_says_why(cast, code):
    with pytest.raises(PlanInvalid) as refused:
        plan_set(episode=cast.episode, instruments=["phq9", code])
    message = refused.value.errors[0]
    assert "licensed" in message and "text pack" in message


def test_a_plan_refuses_an_unknown_instrument(cast):
    with pytest.raises(PlanInvalid):
        plan_set(episode=cast.episode, instruments=["not-a-form"])


# --- The sweep --------------------------------------------------------------------------------


def test_the_sweep_creates_one_checkin_per_due_time_however_often_it_runs(cast):
    with time_machine.travel(utc(2026, 3, 2, 9, 3), tick=False):  # Monday 09:03 GMT
        plan = plan_set(episode=cast.episode, instruments=["phq9", "gad7"], **LONDON_MONDAY_NINE)
        plan.__class__.objects.filter(pk=plan.pk).update(created_at=utc(2026, 2, 1))
        first = checkins_sweep()
        second = checkins_sweep()
    assert first["created"] == 1 and first["sent"] == 1
    assert second == {"expired": 0, "created": 0, "sent": 0, "reminded": 0, "redacted": 0}
    checkin = CheckIn.objects.get(episode=cast.episode)
    assert checkin.due_at == utc(2026, 3, 2, 9)
    assert checkin.expires_at == utc(2026, 3, 6, 9)  # 4 days, the clinic default
    assert OutboundEmail.objects.filter(purpose="checkin").count() == 1


def test_weekly_09_00_london_is_due_at_local_nine_across_both_clock_changes(cast):
    plan = plan_set(episode=cast.episode, instruments=["phq9"], **LONDON_MONDAY_NINE)
    plan.__class__.objects.filter(pk=plan.pk).update(created_at=utc(2026, 3, 1))
    for moment in [utc(2026, 3, 23, 9, 1), utc(2026, 3, 30, 8, 1), utc(2026, 10, 19, 8, 1)]:
        with time_machine.travel(moment, tick=False):
            checkins_sweep()
    with time_machine.travel(utc(2026, 10, 26, 8, 30), tick=False):
        # 08:30 UTC is 08:30 GMT after the October change: not yet nine in London.
        assert checkins_sweep()["created"] == 0
    with time_machine.travel(utc(2026, 10, 26, 9, 1), tick=False):
        checkins_sweep()
    dues = list(CheckIn.objects.order_by("due_at").values_list("due_at", flat=True))
    assert dues == [
        utc(2026, 3, 23, 9),  # GMT
        utc(2026, 3, 30, 8),  # BST, the day after clocks went forward
        utc(2026, 10, 19, 8),  # BST
        utc(2026, 10, 26, 9),  # GMT, the day after clocks went back
    ]


def test_no_checkin_before_the_plan_existed_or_for_a_slot_already_past_expiry(cast):
    with time_machine.travel(utc(2026, 3, 3, 12), tick=False):  # Tuesday
        plan_set(episode=cast.episode, instruments=["phq9"], **LONDON_MONDAY_NINE)
        assert checkins_sweep()["created"] == 0  # Monday's slot predates the plan
    plan = cast.episode.plan
    plan.__class__.objects.filter(pk=plan.pk).update(created_at=utc(2026, 1, 1))
    with time_machine.travel(utc(2026, 3, 7, 12), tick=False):  # Saturday: Monday + 5 days
        assert checkins_sweep()["created"] == 0


def test_paused_ended_and_opted_out_plans_send_nothing(cast):
    plan = start_plan(cast.episode)
    plan_pause(plan=plan)
    assert checkins_sweep()["created"] == 0
    plan_resume(plan=plan)
    client_opt_out(client=cast.client)
    assert checkins_sweep()["created"] == 0
    cast.client.__class__.objects.filter(pk=cast.client.pk).update(opted_out_at=None)
    plan_end_for_episode(episode=cast.episode)
    assert checkins_sweep()["created"] == 0


def test_ending_the_episode_closes_its_open_checkin(cast):
    checkin, key = open_checkin(cast.episode)
    plan_end_for_episode(episode=cast.episode)
    checkin.refresh_from_db()
    assert checkin.status == CheckInStatus.CANCELLED
    assert checkins.checkin_link_state(checkin) == LinkState.CLOSED


def test_an_attended_session_brings_a_session_rating_checkin(cast):
    start_plan(cast.episode)
    session = TreatmentSession.objects.create(
        episode=cast.episode, starts_at=timezone.now() - timedelta(hours=2), attended=True
    )
    checkins_sweep()
    rating = CheckIn.objects.get(episode=cast.episode, kind=CheckInKind.SESSION_RATING)
    assert rating.instruments == ["session_rating"]
    assert rating.treatment_session == session
    assert rating.sent_at is not None


def test_a_before_session_plan_sends_the_day_before_the_session(cast):
    start_plan(cast.episode, schedule="before_session")
    later = TreatmentSession.objects.create(
        episode=cast.episode, starts_at=timezone.now() + timedelta(days=3)
    )
    soon = TreatmentSession.objects.create(
        episode=cast.episode, starts_at=timezone.now() + timedelta(hours=20)
    )
    checkins_sweep()
    checkin = CheckIn.objects.get(episode=cast.episode, kind=CheckInKind.SCHEDULED)
    assert checkin.treatment_session == soon != later
    assert checkin.expires_at == soon.starts_at


# --- The e-mail and the key ---------------------------------------------------------------------


def test_the_email_names_the_clinic_and_carries_the_link_and_nothing_about_the_client(cast):
    cast.client.name = "Ada Example"
    cast.client.save()
    checkin, key = open_checkin(cast.episode)
    mail = OutboundEmail.objects.get(purpose="checkin")
    assert cast.clinic.name in mail.body_text and cast.clinic.name in mail.subject
    assert f"/c/{key}/" in mail.body_text and f"/c/{key}/" in mail.body_html
    assert "/c/opt-out/" in mail.body_text and "/c/opt-out/" in mail.body_html
    everything = " ".join([mail.subject, mail.body_text, mail.body_html]).lower()
    for secret in [
        cast.client.label,
        "Ada",
        "Example",
        "phq",
        "gad",
        "patient health",
        "anxiety",
        "depress",
        "score",
        "session rating",
    ]:
        assert secret.lower() not in everything, secret
    assert "<html" in mail.body_html and "<" not in mail.body_text


def test_the_email_says_the_answers_go_once_and_until_when_in_the_clients_zone(cast):
    cast.client.timezone = "Europe/Berlin"
    cast.client.save()
    checkin, _ = open_checkin(cast.episode)
    mail = OutboundEmail.objects.get(purpose="checkin")
    until = scheduling.local_moment_in_words(moment=checkin.expires_at, zone_name="Europe/Berlin")
    assert until.endswith((" CET", " CEST"))
    for body in [mail.body_text, mail.body_html]:
        assert f"You can send your answers once, until {until}." in body
        assert "link works once" not in body


def test_check_in_and_reminder_mails_offer_one_click_unsubscribe(cast):
    from django.core import mail as django_mail

    from messaging.services import mail_send

    checkin, _ = open_checkin(cast.episode)
    with time_machine.travel(timezone.now() + timedelta(days=cast.clinic.reminder_after_days)):
        assert checkins.checkin_send_reminders() == 1
        for mail in OutboundEmail.objects.filter(purpose__in=["checkin", "reminder"]):
            assert mail_send(mail_id=mail.pk)
    opt_out = checkins.opt_out_url(cast.client)
    assert len(django_mail.outbox) == 2
    for sent in django_mail.outbox:
        message = sent.message()
        assert message["List-Unsubscribe"] == f"<{opt_out}>"
        assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"


def test_only_the_sha256_of_the_key_is_stored(cast):
    checkin, key = open_checkin(cast.episode)
    assert len(key) >= 32  # 24 random bytes, base64url: 192 bits
    assert checkin.key_hash == key_hash(key) != key
    stored = str(list(CheckIn.objects.values_list()))
    assert key not in stored
    assert checkin_by_key(key=key) == checkin


def test_once_the_mail_is_sent_the_outbox_keeps_no_copy_of_the_key(cast):
    from messaging.services import mail_send

    checkin, key = open_checkin(cast.episode)
    mail = OutboundEmail.objects.get(purpose="checkin")
    assert checkins.checkin_mails_redact() == 0  # not sent yet: the outbox still needs the key
    assert mail_send(mail_id=mail.pk)
    assert checkins_sweep()["redacted"] == 1
    mail.refresh_from_db()
    assert key not in mail.body_text and key not in mail.body_html
    assert "/c/opt-out/" in mail.body_text
    assert checkin_by_key(key=key) == checkin  # the client's copy still works


def test_a_tampered_key_opens_nothing(cast):
    checkin, key = open_checkin(cast.episode)
    flipped = key[:-1] + ("A" if key[-1] != "A" else "B")
    assert checkin_by_key(key=flipped) is None
    assert checkin_by_key(key=key[:-1]) is None
    assert checkin_by_key(key=checkin.key_hash) is None  # the stored hash is not a key
    assert checkin_by_key(key="../../etc/passwd") is None


# --- Reminders and expiry -----------------------------------------------------------------------


def test_one_reminder_after_two_days_with_a_working_link_and_the_first_still_working(cast):
    checkin, first_key = open_checkin(cast.episode)
    assert checkins_sweep()["reminded"] == 0
    with time_machine.travel(checkin.sent_at + timedelta(days=2, minutes=1)):
        assert checkins_sweep()["reminded"] == 1
        assert checkins_sweep()["reminded"] == 0
        reminder = OutboundEmail.objects.get(purpose="reminder")
        assert "reminder" in reminder.subject.lower()
        second_key = key_from(reminder)
        assert second_key != first_key
        assert checkin_by_key(key=first_key) == checkin == checkin_by_key(key=second_key)


def test_a_checkin_not_completed_within_four_days_expires_and_counts_as_missed(cast):
    checkin, key = open_checkin(cast.episode)
    with time_machine.travel(checkin.expires_at + timedelta(seconds=1)):
        assert checkins.checkin_link_state(checkin) == LinkState.EXPIRED
        assert checkins_sweep()["expired"] == 1
    checkin.refresh_from_db()
    assert checkin.status == CheckInStatus.EXPIRED
    assert checkin.get_status_display() == "Missed"


def test_reminder_and_expiry_follow_the_clinic_settings(cast):
    cast.clinic.reminder_after_days = 1
    cast.clinic.expire_after_days = 2
    cast.clinic.save()
    checkin, _ = open_checkin(cast.episode)
    assert checkin.expires_at == checkin.due_at + timedelta(days=2)
    with time_machine.travel(checkin.sent_at + timedelta(days=1, minutes=1)):
        assert checkins_sweep()["reminded"] == 1


# --- Submission ---------------------------------------------------------------------------------


def test_a_submission_stores_each_instrument_once_and_completes_the_checkin(cast):
    checkin, _ = open_checkin(cast.episode)
    outcome = checkin_submit(checkin_id=checkin.pk, answers={"phq9": PHQ9_CALM, "gad7": GAD7_CALM})
    assert outcome.stored and not outcome.risk_endorsed
    again = checkin_submit(checkin_id=checkin.pk, answers={"phq9": PHQ9_CALM, "gad7": GAD7_CALM})
    assert not again.stored and again.state == LinkState.COMPLETED
    stored = Administration.objects.filter(checkin=checkin)
    assert sorted(stored.values_list("instrument", flat=True)) == ["gad7", "phq9"]
    assert set(stored.values_list("source", flat=True)) == {ResponseSource.LINK}
    checkin.refresh_from_db()
    assert checkin.status == CheckInStatus.COMPLETED and checkin.completed_at is not None


def test_a_submission_through_the_link_is_audited_without_health_data(cast):
    from audit.models import AuditEvent

    checkin, _ = open_checkin(cast.episode)
    checkin_submit(checkin_id=checkin.pk, answers={"phq9": PHQ9_CALM, "gad7": GAD7_CALM})

    events = AuditEvent.objects.filter(action="administration.create", client=cast.client)
    stored = Administration.objects.filter(checkin=checkin)
    assert sorted(events.values_list("object_id", flat=True)) == sorted(
        str(pk) for pk in stored.values_list("pk", flat=True)
    )
    for event in events:
        assert event.actor is None and event.actor_label == "system"
        assert event.clinic == cast.clinic
        assert set(event.details) == {"source", "instrument"}  # no answers, total or band
        assert event.details["source"] == ResponseSource.LINK


def test_every_door_refuses_a_form_dated_in_the_future_or_before_the_episode(cast):
    from outcomes.services import AdministeredAtInvalid

    for administered_at in (
        timezone.now() + timedelta(hours=1),
        datetime.combine(cast.episode.started_on - timedelta(days=1), time(12), tzinfo=UTC),
    ):
        with pytest.raises(AdministeredAtInvalid):
            response_enter(
                episode=cast.episode,
                instrument_code="phq9",
                answers=PHQ9_CALM,
                source=ResponseSource.PAPER,
                entered_by=cast.therapist,
                administered_at=administered_at,
            )
    assert not Administration.objects.filter(episode=cast.episode).exists()
    # A kiosk whose clock runs a minute ahead is not refused.
    response_enter(
        episode=cast.episode,
        instrument_code="phq9",
        answers=PHQ9_CALM,
        source=ResponseSource.IN_SESSION,
        entered_by=cast.therapist,
        administered_at=timezone.now() + timedelta(minutes=1),
    )


def test_invalid_answers_store_nothing_at_all(cast):
    checkin, _ = open_checkin(cast.episode)
    with pytest.raises(AnswersInvalid):
        checkin_submit(checkin_id=checkin.pk, answers={"phq9": PHQ9_CALM, "gad7": [9] * 7})
    assert not Administration.objects.filter(checkin=checkin).exists()
    checkin.refresh_from_db()
    assert checkin.status == CheckInStatus.PENDING


def test_a_contact_request_raises_one_alert_for_the_therapist(cast):
    checkin, _ = open_checkin(cast.episode)
    checkin_submit(
        checkin_id=checkin.pk,
        answers={"phq9": PHQ9_CALM, "gad7": GAD7_CALM},
        contact_request=True,
    )
    alert = Alert.objects.get(episode=cast.episode, rule=AlertRule.CONTACT_REQUEST)
    assert alert.trigger == f"checkin:{checkin.pk}"
    assert alert.severity == AlertSeverity.HIGH  # as docs/alerts.md says


def test_an_endorsed_risk_item_raises_the_urgent_alert_at_once(cast):
    checkin, _ = open_checkin(cast.episode)
    risky = PHQ9_CALM[:8] + [1, 0]
    outcome = checkin_submit(checkin_id=checkin.pk, answers={"phq9": risky, "gad7": GAD7_CALM})
    assert outcome.risk_endorsed
    assert Alert.objects.filter(episode=cast.episode, rule=AlertRule.RISK_ITEM).count() == 1


def test_an_expired_checkin_takes_no_answers(cast):
    checkin, _ = open_checkin(cast.episode)
    with time_machine.travel(checkin.expires_at + timedelta(minutes=1)):
        outcome = checkin_submit(
            checkin_id=checkin.pk, answers={"phq9": PHQ9_CALM, "gad7": GAD7_CALM}
        )
    assert outcome.state == LinkState.EXPIRED and not outcome.stored
    assert not Administration.objects.exists()


def _read_by_the_page(checkin) -> CheckIn:
    # What the link's page holds when the client presses "send": its own read, made earlier.
    return CheckIn.objects.select_related("episode__client", "episode__clinic").get(pk=checkin.pk)


@pytest.mark.parametrize("change", ["opt_out", "episode_close", "completed_elsewhere", "expired"])
def test_a_checkin_closed_after_the_page_read_it_takes_no_answers(cast, change):
    from clients.services import episode_close

    checkin, _ = open_checkin(cast.episode)
    read = _read_by_the_page(checkin)
    now = None
    if change == "opt_out":
        client_opt_out(client=cast.client)
    elif change == "episode_close":
        episode_close(episode=cast.episode, ended_on=None, end_reason="planned", user=None)
    elif change == "completed_elsewhere":
        assert checkin_submit(
            checkin_id=checkin.pk, answers={"phq9": PHQ9_CALM, "gad7": GAD7_CALM}
        ).stored
    else:
        now = checkin.expires_at + timedelta(seconds=1)
    before = Administration.objects.filter(checkin=checkin).count()

    outcome = checkin_submit(
        checkin_id=checkin.pk,
        answers={"phq9": PHQ9_CALM, "gad7": GAD7_CALM},
        checkin=read,
        now=now,
    )

    assert not outcome.stored
    assert (
        outcome.state
        == {
            "opt_out": LinkState.OPTED_OUT,
            "episode_close": LinkState.CLOSED,
            "completed_elsewhere": LinkState.COMPLETED,
            "expired": LinkState.EXPIRED,
        }[change]
    )
    assert Administration.objects.filter(checkin=checkin).count() == before


# --- Opt-out ------------------------------------------------------------------------------------


def test_opting_out_cancels_open_checkins_and_tells_the_therapist(cast):
    checkin, _ = open_checkin(cast.episode)
    assert client_opt_out(client=cast.client) is True
    assert client_opt_out(client=cast.client) is False
    checkin.refresh_from_db()
    assert checkin.status == CheckInStatus.CANCELLED
    event = TimelineEvent.objects.get(episode=cast.episode)
    assert "opted out" in event.note
    assert checkins.checkin_link_state(checkin) == LinkState.OPTED_OUT


def test_opting_out_tells_the_therapist_by_an_alert_whose_mail_names_no_one(cast):
    from outcomes import notifications
    from outcomes.models import AlertNotification, NotificationChannel

    cast.client.name = "Ada Example"
    cast.client.save()
    cast.therapist.email = "therapist@example.org"
    cast.therapist.save()
    checkin, _ = open_checkin(cast.episode)
    client_opt_out(client=cast.client)
    alert = Alert.objects.get(episode=cast.episode, rule=AlertRule.OPTED_OUT)
    assert alert.severity == AlertSeverity.WARNING
    assert "opted out of e-mailed check-ins" in alert.message
    notice = AlertNotification.objects.get(
        alert=alert, recipient=cast.episode.therapist, channel=NotificationChannel.EMAIL
    )
    assert notice.recipient == cast.therapist
    assert notifications.notification_send(notification_id=notice.pk)
    mail = OutboundEmail.objects.get(purpose="alert")
    assert mail.to == cast.therapist.email
    everything = " ".join([mail.subject, mail.body_text, mail.body_html]).lower()
    for secret in [cast.client.label, "ada", "example", "opted", "phq"]:
        assert secret.lower() not in everything, secret
    # Opting out twice tells nobody twice.
    client_opt_out(client=cast.client)
    assert Alert.objects.filter(rule=AlertRule.OPTED_OUT).count() == 1


def test_the_opt_out_token_opens_its_client_only(cast):
    token = checkins.opt_out_token(cast.client)
    assert checkins.client_for_opt_out_token(token) == cast.client
    assert checkins.opt_out_token(cast.client) == token  # the same link in every mail
    assert checkins.client_for_opt_out_token(token[:-2] + "xx") is None
    other = checkins.opt_out_token(cast.other_client)
    assert checkins.client_for_opt_out_token(other) == cast.other_client
    for spliced in [token[:16] + other[16:], other[:16] + token[16:]]:
        assert checkins.client_for_opt_out_token(spliced) is None


def test_the_opt_out_token_reveals_no_database_id(cast):
    import base64

    # An id long enough that a random token holds it by chance once in 10^20 runs (a one-digit
    # id would be in 24 random bytes about one run in ten, and start the token one in 64).
    client = make_client(cast.clinic, pk=987654321987)
    token = checkins.opt_out_token(client)
    assert re.fullmatch(r"[A-Za-z0-9_-]{32}", token)
    raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    pk = client.pk
    for encoded in [
        str(pk),
        base64.urlsafe_b64encode(str(pk).encode()).decode().rstrip("="),
        base64.urlsafe_b64encode(f'"{pk}"'.encode()).decode().rstrip("="),
    ]:
        assert not token.startswith(encoded), encoded
    for packed in [pk.to_bytes(8, "big"), pk.to_bytes(8, "little"), str(pk).encode()]:
        assert packed not in raw
    # Consecutive clients get unrelated tokens: nothing to count or enumerate.
    other = checkins.opt_out_token(make_client(cast.clinic, pk=pk + 1))
    assert sum(a == b for a, b in zip(token, other, strict=True)) < 8


def test_opt_out_tokens_follow_the_secret_key_and_survive_its_rotation(cast, settings):
    token = checkins.opt_out_token(cast.client)
    old_key = settings.SECRET_KEY
    settings.SECRET_KEY = "another-secret-key-" + "x" * 40
    assert checkins.client_for_opt_out_token(token) is None
    settings.SECRET_KEY_FALLBACKS = [old_key]
    assert checkins.client_for_opt_out_token(token) == cast.client
    assert checkins.opt_out_token(cast.client) != token  # new mails use the new key


def test_opt_out_links_in_old_mails_still_work(cast):
    """Until December 2026 the token was Django-signed (its first part the id in base64); clients
    keep those mails for years."""
    from django.core import signing

    legacy = signing.dumps(cast.client.pk, salt=checkins.OPT_OUT_SALT)
    assert checkins.client_for_opt_out_token(legacy) == cast.client
    forged = (
        signing.dumps(cast.other_client.pk, salt="x").split(":")[0] + legacy[legacy.index(":") :]
    )
    assert checkins.client_for_opt_out_token(forged) is None
    assert (
        checkins.client_for_opt_out_token(signing.dumps("a string", salt=checkins.OPT_OUT_SALT))
        is None
    )


# --- Staff entry --------------------------------------------------------------------------------


def test_a_paper_form_is_recorded_as_paper_with_who_entered_it(cast):
    recorded = response_enter(
        episode=cast.episode,
        instrument_code="phq9",
        answers=PHQ9_CALM,
        source=ResponseSource.PAPER,
        entered_by=cast.therapist,
    )
    administration = recorded.administration
    assert administration.source == ResponseSource.PAPER
    assert administration.entered_by == cast.therapist
    assert administration.checkin is None


def test_staff_entry_cannot_pretend_to_be_the_client(cast):
    with pytest.raises(AnswersInvalid):
        response_enter(
            episode=cast.episode,
            instrument_code="phq9",
            answers=PHQ9_CALM,
            source=ResponseSource.LINK,
            entered_by=cast.therapist,
        )
