"""Alert notifications: a row per (alert, recipient, channel, kind), sent by tasks.

The e-mail carries a link and the clinic's name only: no client label, no scores, no rule name
that would reveal health data to whoever reads the therapist's mailbox.
"""

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from messaging.services import mail_queue
from outcomes.models import AlertNotification, NotificationChannel


def alert_notify(*, alert, recipients=None, kind=AlertNotification.Kind.NEW) -> None:
    """Create in-app and e-mail notification rows for ``recipients`` (default: the therapist)."""
    recipients = recipients or [alert.episode.therapist]
    for recipient in recipients:
        for channel in (NotificationChannel.IN_APP, NotificationChannel.EMAIL):
            notification, created = AlertNotification.objects.get_or_create(
                alert=alert, recipient=recipient, channel=channel, kind=kind
            )
            if created and channel == NotificationChannel.EMAIL:
                notification_email_queue(notification=notification)
            elif created:
                # The in-app badge counts open alerts; the row only records that it was shown.
                AlertNotification.objects.filter(pk=notification.pk).update(
                    status=AlertNotification.Status.SENT, sent_at=timezone.now()
                )


def notification_email_queue(*, notification) -> None:
    recipient = notification.recipient
    if not recipient.email:
        AlertNotification.objects.filter(pk=notification.pk).update(
            status=AlertNotification.Status.FAILED, last_error="Recipient has no e-mail address."
        )
        return
    clinic_name = notification.alert.clinic.name
    urgent = notification.alert.severity == "urgent"
    subject = f"{'Urgent: ' if urgent else ''}new alert at {clinic_name}"
    if notification.kind == AlertNotification.Kind.ESCALATION:
        subject = f"Escalated: an urgent alert at {clinic_name} is waiting"
    link = f"{settings.SITE_URL}/alerts/"
    body = (
        f"There is {'an urgent' if urgent else 'a new'} alert for a client at {clinic_name}.\n\n"
        f"Please log in to review it: {link}\n\n"
        "This message deliberately contains no client details."
    )
    with transaction.atomic():
        mail_queue(to=recipient.email, subject=subject, body_text=body, purpose="alert")
        AlertNotification.objects.filter(pk=notification.pk).update(
            status=AlertNotification.Status.SENT, attempts=1, sent_at=timezone.now()
        )
