"""Export jobs and monthly report subscriptions (supervisors' reports, issue 7).

An export is a row before it is a file: the page polls the row for progress, the download checks
the row for permission and expiry, and the sweep deletes files whose row has expired.
"""

import uuid
from datetime import timedelta

from django.conf import settings
from django.db import models
from django.utils import timezone

#: A finished export can be downloaded for this long, then its file is deleted.
EXPORT_LIFETIME = timedelta(hours=24)


class ExportJob(models.Model):
    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        DONE = "done", "Ready"
        FAILED = "failed", "Failed"
        EXPIRED = "expired", "Expired"

    # A random public id: job URLs do not reveal how many exports a clinic has made.
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    clinic = models.ForeignKey("clients.Clinic", on_delete=models.CASCADE, related_name="+")
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="export_jobs"
    )
    exporter = models.CharField(max_length=40)
    file_format = models.CharField(max_length=10)
    # Identifiers and dates only (period, team id): never health data or names.
    options = models.JSONField(default=dict, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    progress = models.PositiveIntegerField(default=0)
    total = models.PositiveIntegerField(default=0)
    # Relative to MEDIA_ROOT, always under exports/.
    file_path = models.CharField(max_length=200, blank=True)
    file_name = models.CharField(max_length=120, blank=True)
    error = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["status", "expires_at"], name="exportjob_status_expiry"),
            models.Index(fields=["requested_by", "created_at"], name="exportjob_user_time"),
        ]

    def __str__(self):
        return f"{self.exporter} {self.file_format} ({self.status})"

    @property
    def is_expired(self) -> bool:
        return self.status == self.Status.EXPIRED or (
            self.expires_at is not None and self.expires_at <= timezone.now()
        )


class ReportSubscription(models.Model):
    """A supervisor's monthly report: on the first days of each month an e-mail carries a link to
    the previous month's report page (never figures: the page checks permission on opening)."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="report_subscriptions"
    )
    clinic = models.ForeignKey("clients.Clinic", on_delete=models.CASCADE, related_name="+")
    # First day of the last month whose report was e-mailed; the sender claims the next month
    # by a conditional UPDATE on this column, so two beats or a retried task send it once.
    last_sent_month = models.DateField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "clinic"], name="report_subscription_unique")
        ]

    def __str__(self):
        return f"Monthly report for {self.user} ({self.clinic})"
