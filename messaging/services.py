"""Queue and send e-mail through the outbox.

A mail is first a row (``mail_queue``); a task claims the row with a conditional UPDATE before it
talks to SMTP, so two workers (or a re-delivered task) never send the same mail twice. Failures
back off exponentially and stop as ``failed`` after ``MAX_ATTEMPTS``, visible in the admin.
"""

import logging
import re
from datetime import timedelta

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.utils import timezone

from config.queue import enqueue_on_commit
from messaging.models import OutboundEmail

logger = logging.getLogger(__name__)

MAX_ATTEMPTS = 6
BASE_BACKOFF_SECONDS = 60
# A row left "sending" this long was claimed by a worker that died mid-send: try it again.
STALE_CLAIM = timedelta(minutes=10)


def mail_queue(*, to: str, subject: str, body_text: str, body_html: str = "", purpose: str):
    """Store a mail and send it from a task once the surrounding transaction commits."""
    mail = OutboundEmail.objects.create(
        to=to, subject=subject, body_text=body_text, body_html=body_html, purpose=purpose
    )
    from messaging.tasks import send_outbound_email

    enqueue_on_commit(send_outbound_email, mail.pk)
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
    message = EmailMultiAlternatives(subject=mail.subject, body=mail.body_text, to=[mail.to])
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
    return True


def _mail_record_failure(*, mail: OutboundEmail, error: Exception) -> None:
    attempts = mail.attempts + 1
    failed_for_good = attempts >= MAX_ATTEMPTS
    backoff = timedelta(seconds=BASE_BACKOFF_SECONDS * 2 ** (attempts - 1))
    # Log the mail id and error class only: the address and body are personal data.
    logger.warning("mail %s attempt %s failed: %s", mail.pk, attempts, error.__class__.__name__)
    OutboundEmail.objects.filter(pk=mail.pk).update(
        status=OutboundEmail.Status.FAILED if failed_for_good else OutboundEmail.Status.QUEUED,
        attempts=attempts,
        last_error=_without_address(f"{error.__class__.__name__}: {error}", mail.to)[:300],
        next_attempt_at=timezone.now() + backoff,
        claimed_at=None,
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
