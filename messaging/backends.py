"""E-mail backend for the embedded default: mails are written to ``var/outbox/`` as .eml files,
which the demo lists at /outbox/ so that a newcomer sees exactly what clients would receive."""

from pathlib import Path

from django.conf import settings
from django.core.mail.backends.base import BaseEmailBackend
from django.utils import timezone


class LocalOutboxBackend(BaseEmailBackend):
    def send_messages(self, email_messages):
        outbox = Path(settings.EMAIL_OUTBOX_DIR)
        outbox.mkdir(parents=True, exist_ok=True)
        sent = 0
        for message in email_messages:
            stamp = timezone.now().strftime("%Y%m%dT%H%M%S%f")
            path = outbox / f"{stamp}-{sent}.eml"
            path.write_bytes(message.message().as_bytes())
            sent += 1
        return sent
