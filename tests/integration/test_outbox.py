import smtplib

import pytest
from django.core import mail

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


def test_a_mail_waits_for_its_backoff_before_the_next_attempt(queued_mail, monkeypatch):
    def refuse(self, messages):
        raise OSError("down")

    monkeypatch.setattr("django.core.mail.backends.locmem.EmailBackend.send_messages", refuse)
    assert mail_send(mail_id=queued_mail.pk) is False
    monkeypatch.undo()
    # Not due yet: the backoff has not passed, so nothing is sent.
    assert mail_send(mail_id=queued_mail.pk) is False
    assert len(mail.outbox) == 0
