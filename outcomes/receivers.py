"""Reactions of outcomes to what lower apps announce (connected in ``OutcomesConfig.ready``).

The outbox (messaging) sits below outcomes and must not import it, so it sends ``mail_sent`` and
outcomes updates the notification that mirrors an alert mail.
"""

from django.dispatch import receiver

from messaging.signals import mail_sent
from outcomes.notifications import notifications_follow_mails


@receiver(mail_sent, dispatch_uid="outcomes.alert_mail_sent")
def alert_mail_sent(sender, *, mail, **kwargs) -> None:
    """An alert mail went out: its notification (the alert's record of who was told) says so now."""
    if mail.purpose == "alert":
        notifications_follow_mails(mail_ids=[mail.pk])
