"""Queue and send e-mail through the outbox.

A mail is first a row (``mail_queue``); a task claims the row with a conditional UPDATE before it
talks to SMTP, so two workers (or a re-delivered task) never send the same mail twice. Failures
back off exponentially and stop as ``failed`` after ``MAX_ATTEMPTS``, visible in the admin; except
alert mails, which keep trying (the backoff capped at ``MAX_BACKOFF``) until they are sent or the
alert's owner gives them up (``mail_give_up``, once the alert is resolved): an SMTP outage longer
than the ~31 minutes six attempts cover must delay an urgent alert's mail, never drop it.
"""

import logging
import re
from datetime import timedelta

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.utils import timezone

from lib.queue import enqueue_task_on_commit
from messaging.models import OutboundEmail
from messaging.signals import mail_sent

logger = logging.getLogger(__name__)

MAX_ATTEMPTS = 6
BASE_BACKOFF_SECONDS = 60
# Mails of these purposes have no attempt limit. Past the cap, SMTP is retried every 15 minutes,
# the threshold at which /healthz already calls background work overdue.
RETRIED_UNTIL_SENT = frozenset({"alert"})
MAX_BACKOFF = timedelta(minutes=15)
# A row left "sending" this long was claimed by a worker that died mid-send: try it again.
STALE_CLAIM = timedelta(minutes=10)


def mail_queue(
    *,
    to: str,
    subject: str,
    body_text: str,
    body_html: str = "",
    purpose: str,
    headers: dict[str, str] | None = None,
):
    """Store a mail and send it from a task once the surrounding transaction commits."""
    mail = OutboundEmail.objects.create(
        to=to,
        subject=subject,
        body_text=body_text,
        body_html=body_html,
        purpose=purpose,
        headers=headers or {},
    )
    enqueue_task_on_commit("messaging.tasks.send_outbound_email", mail.pk)
    return mail


def mail_claim(*, mail_id: int) -> OutboundEmail | None:
    """Claim a mail for sending; None if it is not due, already sent or claimed by another."""
    now = timezone.now()
    claimable = OutboundEmail.objects.filter(pk=mail_id, next_attempt_at__lte=now).filter(
        status__in=[OutboundEmail.Status.QUEUED]
    ) | OutboundEmail.objects.filter(
        pk=mail_id, status=OutboundEmail.Status.SENDING, claimed_at__lt=now - STALE_CLAIM
    )
    claimed = OutboundEmail.objects.filter(pk__in=claimable.values("pk")).update(
        status=OutboundEmail.Status.SENDING, claimed_at=now
    )
    if claimed != 1:
        return None
    return OutboundEmail.objects.get(pk=mail_id)


def mail_send(*, mail_id: int) -> bool:
    """Send one claimed mail. Returns True when it went out."""
    mail = mail_claim(mail_id=mail_id)
    if mail is None:
        return False
    message = EmailMultiAlternatives(
        subject=mail.subject, body=mail.body_text, to=[mail.to], headers=mail.headers or None
    )
    if mail.body_html:
        message.attach_alternative(mail.body_html, "text/html")
    try:
        message.send()
    except Exception as error:  # SMTP and network errors vary widely; all are retried.
        _mail_record_failure(mail=mail, error=error)
        return False
    OutboundEmail.objects.filter(pk=mail.pk).update(
        status=OutboundEmail.Status.SENT,
        sent_at=timezone.now(),
        attempts=mail.attempts + 1,
        last_error="",
    )
    _mail_settled(mail=mail)
    return True


def mail_backoff(*, attempts: int, purpose: str) -> timedelta:
    """How long to wait after the ``attempts``-th failed attempt: 1, 2, 4, 8... minutes, capped
    at ``MAX_BACKOFF`` for the mails retried until they are sent."""
    if purpose in RETRIED_UNTIL_SENT:
        # 2**5 minutes is past the cap already; a bounded exponent keeps the number small.
        return min(timedelta(seconds=BASE_BACKOFF_SECONDS * 2 ** min(attempts - 1, 5)), MAX_BACKOFF)
    return timedelta(seconds=BASE_BACKOFF_SECONDS * 2 ** (attempts - 1))


def _mail_record_failure(*, mail: OutboundEmail, error: Exception) -> None:
    attempts = mail.attempts + 1
    failed_for_good = attempts >= MAX_ATTEMPTS and mail.purpose not in RETRIED_UNTIL_SENT
    # Log the mail id and error class only: the address and body are personal data.
    logger.warning("mail %s attempt %s failed: %s", mail.pk, attempts, error.__class__.__name__)
    OutboundEmail.objects.filter(pk=mail.pk).update(
        status=OutboundEmail.Status.FAILED if failed_for_good else OutboundEmail.Status.QUEUED,
        # The column is a smallint: an alert mail retried for most of a year stops counting there.
        attempts=min(attempts, 32767),
        last_error=_without_address(f"{error.__class__.__name__}: {error}", mail.to)[:300],
        next_attempt_at=timezone.now() + mail_backoff(attempts=attempts, purpose=mail.purpose),
        claimed_at=None,
    )


def mail_give_up(*, mail_ids, reason: str) -> int:
    """Stop retrying the queued mails among ``mail_ids``: they become ``failed`` with ``reason``
    as their last error. For the owner of mails retried until sent (an alert resolved meanwhile).
    A mail a worker is sending right now is left to finish; returns how many were given up."""
    return OutboundEmail.objects.filter(pk__in=mail_ids, status=OutboundEmail.Status.QUEUED).update(
        status=OutboundEmail.Status.FAILED, last_error=reason[:300], claimed_at=None
    )


def _mail_settled(*, mail: OutboundEmail) -> None:
    """Tell the apps above that the mail went out (an alert's notification says "queued" until
    then). Apart from the send's UPDATE: should a receiver fail, the mail stays sent (never resent)
    and that app's own sweep brings its record in line."""
    for receiver, result in mail_sent.send_robust(sender=OutboundEmail, mail=mail):
        if isinstance(result, Exception):
            logger.warning(
                "%s not updated for mail %s: %s",
                getattr(receiver, "__qualname__", receiver),
                mail.pk,
                result.__class__.__name__,
            )


def _without_address(text: str, address: str) -> str:
    """SMTP errors quote the recipient (``SMTPRecipientsRefused``); the error is kept in plain text
    for the admin, so the address comes out of it (it is stored encrypted in ``to``)."""
    if not address:
        return text
    return re.sub(re.escape(address), "<recipient>", text, flags=re.IGNORECASE)


def mail_purge(*, now=None) -> int:
    """Delete mails the outbox finished with (sent, or failed for good) more than
    ``OUTBOX_RETENTION_DAYS`` ago. The outbox exists so that nothing is lost before it goes out;
    afterwards a copy of who was written to, and when, is personal data without a purpose."""
    now = now or timezone.now()
    cutoff = now - timedelta(days=settings.OUTBOX_RETENTION_DAYS)
    finished = OutboundEmail.objects.filter(
        status__in=[OutboundEmail.Status.SENT, OutboundEmail.Status.FAILED], created_at__lt=cutoff
    )
    deleted, _ = finished.delete()
    return deleted


def mail_due_ids(*, limit: int = 500) -> list[int]:
    """Mails that are due (new, retry time reached, or stale claims)."""
    now = timezone.now()
    due = OutboundEmail.objects.filter(
        status=OutboundEmail.Status.QUEUED, next_attempt_at__lte=now
    ) | OutboundEmail.objects.filter(
        status=OutboundEmail.Status.SENDING, claimed_at__lt=now - STALE_CLAIM
    )
    return list(due.order_by("next_attempt_at").values_list("pk", flat=True)[:limit])
