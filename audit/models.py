"""Append-only audit log: who saw or changed which client's data, every export and transition."""

from django.conf import settings
from django.db import models
from django.utils import timezone

APPEND_ONLY = "Audit events are append-only."


class AuditEventQuerySet(models.QuerySet):
    """Refuses the bulk writes that skip ``save()`` and ``delete()``, so the log stays append-only
    on every database, not only where the PostgreSQL trigger (migration 0002) guards it.

    Unlinking a deleted staff account or an erased client (``on_delete=SET_NULL``) still works:
    Django's deletion collector updates through ``_base_manager``, a plain manager, as the
    trigger allows.
    """

    def update(self, **kwargs):
        raise ValueError(APPEND_ONLY)

    def delete(self):
        raise ValueError(APPEND_ONLY)

    def bulk_update(self, objs, fields, batch_size=None):
        raise ValueError(APPEND_ONLY)

    def update_or_create(self, defaults=None, create_defaults=None, **kwargs):
        raise ValueError(APPEND_ONLY)


class AuditEvent(models.Model):
    at = models.DateTimeField(default=timezone.now, db_index=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    # Kept as text too, so the trail survives the deletion of a staff account.
    actor_label = models.CharField(max_length=150, blank=True)
    action = models.CharField(max_length=60, db_index=True)
    object_type = models.CharField(max_length=60, blank=True)
    object_id = models.CharField(max_length=40, blank=True)
    clinic = models.ForeignKey("clients.Clinic", null=True, blank=True, on_delete=models.SET_NULL)
    client = models.ForeignKey("clients.Client", null=True, blank=True, on_delete=models.SET_NULL)
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    details = models.JSONField(default=dict, blank=True)

    objects = AuditEventQuerySet.as_manager()

    class Meta:
        ordering = ["-at"]
        indexes = [models.Index(fields=["clinic", "at"], name="audit_clinic_time")]

    def __str__(self):
        return f"{self.at:%Y-%m-%d %H:%M} {self.actor_label} {self.action}"

    def save(self, *args, **kwargs):
        # Append-only: an audit row is written once and never changed.
        if self.pk is not None:
            raise ValueError(APPEND_ONLY)
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise ValueError(APPEND_ONLY)
