"""The e-mail outbox: a row per mail, so nothing is lost when a worker or SMTP is down."""

from django.db import models
from django.utils import timezone

from lib.encrypted_fields import EncryptedEmailField, lookup_digests


class OutboundEmailQuerySet(models.QuerySet):
    def to_address(self, address: str):
        """Mails to ``address`` (any case): by digest, as the address itself is encrypted."""
        return self.filter(to_digest__in=lookup_digests(address))


class OutboundEmail(models.Model):
    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        SENDING = "sending", "Sending"
        SENT = "sent", "Sent"
        FAILED = "failed", "Failed"

    # Encrypted at rest like the client's own address (lib.encrypted_fields): a dump of the
    # outbox must not list who the clinic's clients are. ``to_digest`` finds a recipient's mails.
    to = EncryptedEmailField()
    to_digest = models.CharField(max_length=64, db_index=True, editable=False, default="")
    subject = models.CharField(max_length=200)
    body_text = models.TextField()
    body_html = models.TextField(blank=True)
    # Extra headers of this one mail, e.g. List-Unsubscribe. Never health data: mail servers log
    # and index headers.
    headers = models.JSONField(default=dict, blank=True)
    # What the mail is for (checkin, reminder, alert, digest, report): counts and retries only.
    purpose = models.CharField(max_length=30)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    attempts = models.PositiveSmallIntegerField(default=0)
    last_error = models.CharField(max_length=300, blank=True)
    next_attempt_at = models.DateTimeField(default=timezone.now)
    claimed_at = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    objects = OutboundEmailQuerySet.as_manager()
    # Encrypted field -> its lookup digest (kept in step by save() and reencrypt_fields).
    ENCRYPTED_LOOKUPS = {"to": "to_digest"}

    class Meta:
        indexes = [models.Index(fields=["status", "next_attempt_at"], name="outbox_due")]

    def __str__(self):
        return f"{self.purpose} mail {self.pk} ({self.status})"

    def save(self, *args, **kwargs):
        self.to_digest = lookup_digests(self.to)[0] if self.to else ""
        if kwargs.get("update_fields") is not None and "to" in kwargs["update_fields"]:
            kwargs["update_fields"] = {*kwargs["update_fields"], "to_digest"}
        super().save(*args, **kwargs)
