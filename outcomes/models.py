"""Stored administrations (scored forms), alerts, their notifications, and recovery curves.

The clinical math lives in pure modules (``measures.scoring``, ``measures.change``,
``measures.trajectories``, ``measures.rules``); these models only keep its inputs and results.
"""

from django.conf import settings
from django.db import models
from django.utils import timezone


class InstrumentDefinition(models.Model):
    """A clinic's custom or imported instrument, or a licensed text pack for a built-in one.

    ``definition`` is the JSON form understood by ``measures.instruments.instrument_from_dict``.
    """

    class Source(models.TextChoices):
        FHIR = "fhir", "Imported FHIR Questionnaire"
        ADMIN = "admin", "Defined in the admin"
        TEXT_PACK = "text_pack", "Licensed text pack"

    clinic = models.ForeignKey(
        "clients.Clinic",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        help_text="Empty: available to every clinic on this installation.",
    )
    code = models.SlugField(max_length=40)
    version = models.CharField(max_length=20, default="1")
    source = models.CharField(max_length=20, choices=Source.choices)
    definition = models.JSONField()
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["clinic", "code", "version", "source"], name="instrument_def_unique"
            )
        ]

    def __str__(self):
        return f"{self.code} v{self.version} ({self.get_source_display()})"


class ResponseSource(models.TextChoices):
    LINK = "link", "Client, e-mailed link"
    IN_SESSION = "in_session", "Entered in session"
    PAPER = "paper", "Entered from paper"
    API = "api", "Integration (API)"
    IMPORT = "import", "Imported"


class RiskState(models.TextChoices):
    YES = "yes", "Risk endorsed"
    NO = "no", "No risk endorsed"
    UNKNOWN = "unknown", "Risk item unanswered"


class Administration(models.Model):
    """One completed form: the answers as given and their score."""

    # Three fewer indexes than Django makes: the episode is the first column of
    # adm_episode_instr_time; check-in and entered-by are null for most forms, so partial indexes
    # serve their look-ups. Every index is written again when the sweep stamps a form.
    episode = models.ForeignKey(
        "clients.Episode",
        on_delete=models.CASCADE,
        related_name="administrations",
        db_index=False,
    )
    checkin = models.ForeignKey(
        "clients.CheckIn",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="administrations",
        db_index=False,
    )
    instrument = models.CharField(max_length=40)
    instrument_version = models.CharField(max_length=20, default="1")
    administered_at = models.DateTimeField(default=timezone.now)
    answers = models.JSONField(help_text="Option values in item order; null for a missing answer.")
    total = models.FloatField(null=True, blank=True)
    band = models.CharField(max_length=40, blank=True)
    caseness = models.BooleanField(null=True, blank=True)
    risk = models.CharField(max_length=10, choices=RiskState.choices, default=RiskState.NO)
    valid = models.BooleanField(default=True)
    source = models.CharField(max_length=20, choices=ResponseSource.choices)
    entered_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        db_index=False,
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["checkin", "instrument"],
                condition=models.Q(checkin__isnull=False),
                name="administration_unique_per_checkin",
            )
        ]
        indexes = [
            models.Index(
                fields=["episode", "instrument", "administered_at"], name="adm_episode_instr_time"
            ),
            models.Index(
                fields=["entered_by"],
                condition=models.Q(entered_by__isnull=False),
                name="adm_entered_by",
            ),
        ]

    def __str__(self):
        return f"{self.instrument} {self.administered_at:%Y-%m-%d}"


class AlertRule(models.TextChoices):
    RISK_ITEM = "risk_item", "Risk item endorsed"
    RELIABLE_DETERIORATION = "reliable_deterioration", "Reliable deterioration"
    NOT_ON_TRACK = "not_on_track", "Not on track"
    SUDDEN_LOSS = "sudden_loss", "Sudden loss"
    ALLIANCE_CONCERN = "alliance_concern", "Alliance concern"
    DISENGAGEMENT = "disengagement", "Missed check-ins"
    CONTACT_REQUEST = "contact_request", "Client asked to be contacted"
    OPTED_OUT = "opted_out", "Client opted out of e-mailed check-ins"


class AlertSeverity(models.TextChoices):
    URGENT = "urgent", "Urgent"
    HIGH = "high", "High"
    WARNING = "warning", "Warning"


class AlertState(models.TextChoices):
    OPEN = "open", "Open"
    ACKNOWLEDGED = "acknowledged", "Acknowledged"
    RESOLVED = "resolved", "Resolved"


class AlertAction(models.TextChoices):
    CONTACTED_CLIENT = "contacted_client", "Contacted client"
    EXTRA_SESSION = "extra_session", "Scheduled extra session"
    SAFETY_PLAN = "safety_plan", "Safety plan reviewed"
    SUPERVISION = "supervision", "Discussed in supervision"
    NO_ACTION = "no_action", "No action needed"


class Alert(models.Model):
    """A prompt for review raised by a rule; never a diagnosis (CLINICAL.md §4 step 6).

    Unique per (episode, rule, trigger): the trigger names the administration, check-in or request
    that raised it, so recomputing (twice, concurrently, after a lost message) creates nothing new.
    """

    # No single-column indexes for episode and clinic (each leads a composite index below) nor
    # for who acknowledged or resolved (partial, null at creation): a first sweep inserts
    # hundreds of thousands of alerts, and every index is written for each.
    episode = models.ForeignKey(
        "clients.Episode", on_delete=models.CASCADE, related_name="alerts", db_index=False
    )
    clinic = models.ForeignKey(
        "clients.Clinic", on_delete=models.CASCADE, related_name="alerts", db_index=False
    )
    rule = models.CharField(max_length=30, choices=AlertRule.choices)
    trigger = models.CharField(max_length=60)
    severity = models.CharField(max_length=10, choices=AlertSeverity.choices)
    instrument = models.CharField(max_length=40, blank=True)
    administration = models.ForeignKey(
        Administration, null=True, blank=True, on_delete=models.SET_NULL, related_name="alerts"
    )
    # The whole sentence staff read (issue 19: a reason cut at 300 characters mid-word misled).
    message = models.TextField()
    state = models.CharField(max_length=15, choices=AlertState.choices, default=AlertState.OPEN)
    created_at = models.DateTimeField(default=timezone.now)
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    acknowledged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        db_index=False,
    )
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        db_index=False,
    )
    action = models.CharField(max_length=30, choices=AlertAction.choices, blank=True)
    resolution_note = models.TextField(blank=True)
    # 0: therapist only; 1: escalated to the team supervisor; 2: escalated to the clinic admin.
    escalation_level = models.PositiveSmallIntegerField(default=0)
    escalated_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["episode", "rule", "trigger"], name="alert_unique_trigger"
            )
        ]
        indexes = [
            models.Index(fields=["episode", "state"], name="alert_episode_state"),
            models.Index(fields=["clinic", "state", "severity"], name="alert_clinic_state"),
            models.Index(
                fields=["acknowledged_by"],
                condition=models.Q(acknowledged_by__isnull=False),
                name="alert_acknowledged_by",
            ),
            models.Index(
                fields=["resolved_by"],
                condition=models.Q(resolved_by__isnull=False),
                name="alert_resolved_by",
            ),
        ]

    def __str__(self):
        return f"{self.get_rule_display()} ({self.get_state_display()})"


class NotificationChannel(models.TextChoices):
    EMAIL = "email", "E-mail"
    IN_APP = "in_app", "In-app"


class AlertNotification(models.Model):
    """One notice of one alert to one person, kept as a row so a lost send is retried."""

    class Kind(models.TextChoices):
        NEW = "new", "New alert"
        ESCALATION = "escalation", "Escalation"

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        # E-mail only: handed to the outbox, which is still trying SMTP.
        QUEUED = "queued", "Queued"
        SENT = "sent", "Sent"
        FAILED = "failed", "Failed"

    alert = models.ForeignKey(Alert, on_delete=models.CASCADE, related_name="notifications")
    recipient = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE)
    channel = models.CharField(max_length=10, choices=NotificationChannel.choices)
    kind = models.CharField(max_length=12, choices=Kind.choices, default=Kind.NEW)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    last_error = models.CharField(max_length=300, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    # An e-mail is "sent" once its mail went out, "failed" if the mail was given up; what SMTP
    # made of each attempt (count, last error) is on the mail.
    email = models.ForeignKey(
        "messaging.OutboundEmail",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["alert", "recipient", "channel", "kind"], name="notification_unique"
            )
        ]
        # The retry task and /healthz look for rows not (yet) sent, a handful among a growing
        # history.
        indexes = [
            models.Index(
                fields=["created_at"],
                condition=models.Q(status__in=["pending", "queued", "failed"]),
                name="notification_unsent",
            )
        ]

    def __str__(self):
        return f"{self.get_kind_display()} by {self.get_channel_display()} ({self.status})"


class TrajectoryCurve(models.Model):
    """Expected-recovery curve parameters for one instrument and intake band (CLINICAL.md §4).

    ``source`` says whether they were fitted on the clinic's own completed episodes or are the
    provisional defaults, which the UI must say.
    """

    class Source(models.TextChoices):
        FITTED = "fitted", "Fitted on this clinic's episodes"
        DEFAULT = "default", "Provisional default"

    clinic = models.ForeignKey("clients.Clinic", on_delete=models.CASCADE, related_name="curves")
    instrument = models.CharField(max_length=40)
    band_low = models.FloatField()
    band_high = models.FloatField()
    b0 = models.FloatField()
    b1 = models.FloatField()
    sigma = models.FloatField()
    n_episodes = models.PositiveIntegerField(default=0)
    source = models.CharField(max_length=10, choices=Source.choices)
    fitted_at = models.DateTimeField(default=timezone.now)
    calibration = models.JSONField(default=dict, blank=True)

    class Meta:
        indexes = [models.Index(fields=["clinic", "instrument", "fitted_at"], name="curve_lookup")]

    def __str__(self):
        return f"{self.instrument} {self.band_low:g}–{self.band_high:g} ({self.source})"
