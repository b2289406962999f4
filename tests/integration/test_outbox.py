import smtplib

import pytest
from django.core import mail
from django.utils import timezone

from messaging.models import OutboundEmail
from messaging.services import MAX_ATTEMPTS, mail_queue, mail_send


@pytest.fixture
def queued_mail(db):
    return mail_queue(to="someone@example.org", subject="Hello", body_text="Hi", purpose="test")


def test_a_queued_mail_is_sent_once_even_when_the_task_runs_twice(queued_mail):
    assert mail_send(mail_id=queued_mail.pk) is True
    assert mail_send(mail_id=queued_mail.pk) is False
    assert len(mail.outbox) == 1
    queued_mail.refresh_from_db()
    assert queued_mail.status == OutboundEmail.Status.SENT


def test_an_smtp_failure_is_retried_later_and_fails_for_good_after_max_attempts(
    queued_mail, monkeypatch
):
    def refuse(self, messages):
        raise smtplib.SMTPServerDisconnected("connection refused")

    monkeypatch.setattr("django.core.mail.backends.locmem.EmailBackend.send_messages", refuse)
    for attempt in range(1, MAX_ATTEMPTS + 1):
        OutboundEmail.objects.filter(pk=queued_mail.pk).update(next_attempt_at="2000-01-01T00:00Z")
        assert mail_send(mail_id=queued_mail.pk) is False
        queued_mail.refresh_from_db()
        assert queued_mail.attempts == attempt
    assert queued_mail.status == OutboundEmail.Status.FAILED
    assert "SMTPServerDisconnected" in queued_mail.last_error


def test_an_alert_mail_is_never_failed_by_smtp_and_retries_at_most_every_fifteen_minutes(
    db, monkeypatch
):
    alert_mail = mail_queue(to="t@example.org", subject="New alert", body_text="-", purpose="alert")

    def refuse(self, messages):
        raise smtplib.SMTPServerDisconnected("connection refused")

    monkeypatch.setattr("django.core.mail.backends.locmem.EmailBackend.send_messages", refuse)
    waits = []
    for _ in range(3 * MAX_ATTEMPTS):
        OutboundEmail.objects.filter(pk=alert_mail.pk).update(next_attempt_at="2000-01-01T00:00Z")
        assert mail_send(mail_id=alert_mail.pk) is False
        alert_mail.refresh_from_db()
        waits.append(round((alert_mail.next_attempt_at - timezone.now()).total_seconds() / 60))
    assert (alert_mail.status, alert_mail.attempts) == ("queued", 3 * MAX_ATTEMPTS)
    assert waits[:6] == [1, 2, 4, 8, 15, 15] and set(waits[4:]) == {15}


def test_a_mail_waits_for_its_backoff_before_the_next_attempt(queued_mail, monkeypatch):
    def refuse(self, messages):
        raise OSError("down")

    monkeypatch.setattr("django.core.mail.backends.locmem.EmailBackend.send_messages", refuse)
    assert mail_send(mail_id=queued_mail.pk) is False
    monkeypatch.undo()
    # Not due yet: the backoff has not passed, so nothing is sent.
    assert mail_send(mail_id=queued_mail.pk) is False
    assert len(mail.outbox) == 0


# --- The recipient at rest, and how long the outbox keeps a mail ---------------------------------


def stored_row(mail_id):
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            'SELECT to_digest, "to" FROM messaging_outboundemail WHERE id = %s', [mail_id]
        )
        return cursor.fetchone()


def test_the_recipient_is_stored_encrypted_and_found_by_its_digest(queued_mail):
    digest, stored_to = stored_row(queued_mail.pk)
    assert "someone" not in stored_to and stored_to.startswith("gAAAAA")
    assert "someone" not in digest
    assert OutboundEmail.objects.get(pk=queued_mail.pk).to == "someone@example.org"
    assert list(OutboundEmail.objects.to_address(" SomeOne@Example.org")) == [queued_mail]
    assert not OutboundEmail.objects.to_address("other@example.org").exists()
    with pytest.raises(ValueError):
        OutboundEmail.objects.filter(to="someone@example.org").exists()


def test_a_refused_recipient_leaves_no_address_in_the_stored_error(queued_mail, monkeypatch):
    def refuse(self, messages):
        raise smtplib.SMTPRecipientsRefused({"someone@example.org": (550, b"No such user")})

    monkeypatch.setattr("django.core.mail.backends.locmem.EmailBackend.send_messages", refuse)
    assert mail_send(mail_id=queued_mail.pk) is False
    queued_mail.refresh_from_db()
    assert "SMTPRecipientsRefused" in queued_mail.last_error
    assert "someone" not in queued_mail.last_error.lower()
    assert "<recipient>" in queued_mail.last_error


def test_finished_mails_are_purged_after_the_retention_period(db, settings):
    from datetime import timedelta

    from django.utils import timezone

    from messaging.tasks import purge_outbox

    settings.OUTBOX_RETENTION_DAYS = 30
    old = timezone.now() - timedelta(days=31)
    kept = {}
    for status in OutboundEmail.Status.values:
        kept[status] = mail_queue(to="a@example.org", subject="s", body_text="b", purpose="test")
        OutboundEmail.objects.filter(pk=kept[status].pk).update(status=status, created_at=old)
    recent = mail_queue(to="a@example.org", subject="s", body_text="b", purpose="test")
    OutboundEmail.objects.filter(pk=recent.pk).update(status=OutboundEmail.Status.SENT)
    assert purge_outbox() == 2
    left = set(OutboundEmail.objects.values_list("status", flat=True))
    # Not yet out (queued, sending) is never purged: the outbox is what keeps it from being lost.
    assert left == {"queued", "sending", "sent"}
    assert OutboundEmail.objects.filter(pk=recent.pk).exists()


def test_the_outbox_is_swept_and_purged_by_beat():
    from django.conf import settings

    tasks = {entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()}
    assert {"messaging.tasks.sweep_outbox", "messaging.tasks.purge_outbox"} <= tasks


def test_reencrypt_fields_rewrites_values_and_digests_under_the_new_key(queued_mail, settings):
    from io import StringIO

    from django.core.management import call_command

    from tests.factories import make_client, make_clinic

    client = make_client(make_clinic(), email="client@example.org")
    old_key = settings.FIELD_ENCRYPTION_KEY
    before_digest, before_to = stored_row(queued_mail.pk)
    settings.FIELD_ENCRYPTION_KEY = f"a-new-key-for-2027,{old_key}"
    out = StringIO()
    call_command("reencrypt_fields", stdout=out)
    assert "messaging.OutboundEmail: 1 row(s) re-encrypted" in out.getvalue()
    after_digest, after_to = stored_row(queued_mail.pk)
    assert after_to != before_to and after_digest != before_digest
    # Only the new key now: everything still reads and is still found.
    settings.FIELD_ENCRYPTION_KEY = "a-new-key-for-2027"
    assert OutboundEmail.objects.get(pk=queued_mail.pk).to == "someone@example.org"
    assert OutboundEmail.objects.to_address("someone@example.org").exists()
    client.refresh_from_db()
    assert client.email == "client@example.org"


def test_every_task_is_either_queued_by_the_code_or_run_by_beat():
    """A task nobody queues and beat does not schedule never runs in production (the outbox
    sweep was one: SMTP retries happened only in the test that called it by hand)."""
    import re
    from pathlib import Path

    from django.conf import settings

    from config.celery_app import app

    app.loader.import_default_modules()  # the worker's autodiscovery: every tasks.py
    root = Path(settings.BASE_DIR)
    ours = {name for name in app.tasks if name.split(".")[0] in {"clients", "outcomes",
            "messaging", "dashboards", "privacy"}}  # fmt: skip
    source = "\n".join(
        path.read_text()
        for path in root.glob("*/*.py")
        if path.parts[-2] in {"clients", "outcomes", "messaging", "dashboards", "privacy"}
    )
    assert len(ours) >= 15, sorted(ours)  # every task module was found
    queued = set(re.findall(r"enqueue_on_commit\((\w+)", source))
    queued |= set(re.findall(r"enqueue_task_on_commit\(\s*\"[\w.]+\.(\w+)\"", source))
    queued |= set(re.findall(r"(\w+)\.apply_async\(", source))
    scheduled = {entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()}
    never_run = sorted(
        name for name in ours if name not in scheduled and name.rsplit(".", 1)[1] not in queued
    )
    assert not never_run, f"tasks that nothing runs: {never_run}"


def test_a_mails_own_headers_reach_the_smtp_message(db):
    queued = mail_queue(
        to="someone@example.org",
        subject="Hello",
        body_text="Hi",
        purpose="checkin",
        headers={"List-Unsubscribe": "<https://example.org/c/opt-out/x/>"},
    )
    assert mail_send(mail_id=queued.pk)
    message = mail.outbox[0].message()
    assert message["List-Unsubscribe"] == "<https://example.org/c/opt-out/x/>"
