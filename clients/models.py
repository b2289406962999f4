"""Clinics, staff roles, clients, episodes of care, treatment sessions and timeline events.

A client is known to staff by a pseudonymous ``label``; the optional name and contact e-mail are
used only where strictly needed (sending the check-in link) and never appear in logs or e-mails.
"""

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils.timezone import localdate, now

from lib.encrypted_fields import EncryptedEmailField, EncryptedTextField

DEFAULT_CRISIS_CONTACTS = (
    "If you are in immediate danger, call 999 or go to your nearest A&E.\n"
    "Samaritans (24 hours, free): 116 123\n"
    "NHS 111 (urgent mental health support): call 111 and choose the mental health option\n"
    "Shout (24-hour text support): text SHOUT to 85258"
)


class Clinic(models.Model):
    """A clinic and its local settings.

    The defaults are the values given in CLINICAL.md and the issues; each is a local choice that a
    clinic may change in the admin, which is why they are stored here and not hard-coded.
    """

    name = models.CharField(max_length=200)
    slug = models.SlugField(unique=True)
    timezone = models.CharField(max_length=64, default="Europe/London")
    crisis_contacts = models.TextField(
        default=DEFAULT_CRISIS_CONTACTS,
        help_text="Shown prominently to a client whose answers show risk, and at the foot of "
        'every page a client sees. Phone numbers become tap-to-call links; "text WORD to '
        'NUMBER" becomes a tap-to-text link.',
    )
    # How a client reaches the clinic itself (not an emergency service), at the foot of every
    # page they see: "contact your therapist" is no help to someone without the number.
    contact_phone = models.CharField(max_length=40, blank=True, help_text="The clinic's phone.")
    contact_email = models.EmailField(blank=True, help_text="The clinic's e-mail for clients.")
    contact_hours = models.CharField(
        max_length=200,
        blank=True,
        help_text='When the phone is answered, e.g. "Monday to Friday, 9am to 5pm".',
    )
    reminder_after_days = models.PositiveSmallIntegerField(
        default=2, help_text="Send one reminder this many days after a check-in is sent."
    )
    expire_after_days = models.PositiveSmallIntegerField(
        default=4, help_text="A check-in not completed within this many days counts as missed."
    )
    missed_checkins_for_alert = models.PositiveSmallIntegerField(
        default=2, help_text="Consecutive missed check-ins that raise a disengagement alert."
    )
    urgent_escalation_hours = models.PositiveSmallIntegerField(
        default=4,
        help_text="An urgent alert not acknowledged within this time escalates to the supervisor.",
    )
    trajectory_min_episodes = models.PositiveSmallIntegerField(
        default=30,
        help_text="Completed episodes per band before the clinic's own recovery curve replaces the "
        "provisional default.",
    )
    z_yellow = models.FloatField(
        default=0.6,
        help_text="Tolerance z for 'yellow' (not on track), CLINICAL.md §4. 0.6 by default "
        "(issue 16, measured in docs/alerts.md); 1.2816 is CLINICAL.md's 90th percentile line, "
        "1.6449 (the red line) the 'fewer false alarms' point.",
    )
    z_red = models.FloatField(default=1.6449, help_text="Tolerance z for 'red', CLINICAL.md §4.")
    # Issue 16: these were module constants; CLINICAL.md asks for local choices to be settings.
    first_limit_week = models.PositiveSmallIntegerField(
        default=4,
        validators=[MinValueValidator(2), MaxValueValidator(12)],
        help_text="First treatment week judged against the curve's tolerance band (intake is "
        "week 1). 4 by default (issue 16, docs/alerts.md): early dips that resolve peak in weeks "
        "2–4; 2 judges every score after intake, as CLINICAL.md §4 reads.",
    )
    not_improving_share = models.FloatField(
        default=0.05,
        validators=[MinValueValidator(0.0), MaxValueValidator(0.95)],
        help_text="From week 3, a score worse than intake by more than this share of the "
        "reliable-change value is not on track (0.05 by default: any PHQ-9 or GAD-7 rise above "
        "intake; 0.3: PHQ-9 2 points). 0 turns it off, as CLINICAL.md §4 reads.",
    )
    sigma_floor = models.CharField(
        max_length=10,
        choices=[
            ("sqrt2_sem", "√2·SEM: the error of a change from intake (default)"),
            ("sem", "SEM, as CLINICAL.md §4 gives it"),
        ],
        default="sqrt2_sem",
        help_text="Smallest tolerance σ of the provisional default curve in the early weeks.",
    )
    early_in_care_weeks = models.PositiveSmallIntegerField(
        default=4,
        validators=[MaxValueValidator(12)],
        help_text="Up to this week a first score off the curve is a watch, even when it rose "
        "steeply.",
    )
    alliance_window_days = models.PositiveSmallIntegerField(
        default=14,
        validators=[MaxValueValidator(90)],
        help_text="An alliance concern this many days before a first score off the curve makes "
        "its alert high.",
    )
    not_on_track_rearm_scores = models.PositiveSmallIntegerField(
        default=3,
        validators=[MinValueValidator(1), MaxValueValidator(12)],
        help_text="After a run off the curve, a new not-on-track alert only once the measure has "
        "been back on track for this many scores in a row (3 by default; 1: any score on track "
        "re-arms).",
    )
    retention_days = models.PositiveIntegerField(
        default=8 * 365,
        help_text="Closed episodes older than this are erased by the retention job.",
    )
    created_at = models.DateTimeField(default=now)

    def __str__(self):
        return self.name

    def clean(self):
        super().clean()
        both = self.z_yellow is not None and self.z_red is not None
        if both and not 0 < self.z_yellow <= self.z_red:
            raise ValidationError(
                {"z_yellow": "The yellow z must be above 0 and at most the red z."}
            )

    def curve_limits(self) -> dict:
        """The settings that decide the curve's limits, as keyword arguments of the chart and of
        ``trajectories.classify_administrations`` / ``calibrate``: the alerts read the same ones
        (``outcomes.evaluation.rule_settings``), so the chart draws the limit the alert judges by.
        """
        return {
            "z_yellow": self.z_yellow,
            "z_red": self.z_red,
            "first_limit_week": self.first_limit_week,
            "sigma_floor": self.sigma_floor,
            "not_improving_share": self.not_improving_share,
        }


class Team(models.Model):
    clinic = models.ForeignKey(Clinic, on_delete=models.CASCADE, related_name="teams")
    name = models.CharField(max_length=100)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["clinic", "name"], name="team_unique_name")]

    def __str__(self):
        return f"{self.name} ({self.clinic})"


class Role(models.TextChoices):
    THERAPIST = "therapist", "Therapist"
    SUPERVISOR = "supervisor", "Supervisor"
    ADMIN = "admin", "Clinic admin"


class Membership(models.Model):
    """A staff account's role in a clinic.

    A therapist belongs to teams; a supervisor supervises the teams listed here and sees their
    therapists' clients; a clinic admin sees the whole clinic.
    """

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships"
    )
    clinic = models.ForeignKey(Clinic, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=20, choices=Role.choices, default=Role.THERAPIST)
    teams = models.ManyToManyField(Team, blank=True, related_name="memberships")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "clinic"], name="membership_unique_user_clinic")
        ]

    def __str__(self):
        return f"{self.user} · {self.get_role_display()} · {self.clinic}"


class Client(models.Model):
    clinic = models.ForeignKey(Clinic, on_delete=models.PROTECT, related_name="clients")
    label = models.CharField(
        max_length=40, help_text="Pseudonymous label that staff see, e.g. C-0042."
    )
    # Encrypted at rest (lib/encrypted_fields.py): who the clients are is the most sensitive
    # fact here.
    email = EncryptedEmailField(
        max_length=254, blank=True, help_text="Where check-in links are sent."
    )
    name = EncryptedTextField(max_length=200, blank=True, help_text="Optional; never e-mailed.")
    timezone = models.CharField(max_length=64, default="Europe/London")
    language = models.CharField(max_length=10, default="en")
    opted_out_at = models.DateTimeField(
        null=True, blank=True, help_text="Set when the client opts out of e-mailed check-ins."
    )
    created_at = models.DateTimeField(default=now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["clinic", "label"], name="client_unique_label")
        ]

    def __str__(self):
        return self.label

    @property
    def is_opted_out(self) -> bool:
        return self.opted_out_at is not None


class EndReason(models.TextChoices):
    PLANNED = "planned", "Planned ending"
    UNPLANNED = "unplanned", "Unplanned ending"
    DROPOUT = "dropout", "Dropped out"
    TRANSFER = "transfer", "Transferred"


class EpisodeStatus(models.TextChoices):
    """Traffic-light status of the latest scores (CLINICAL.md §4 step 4)."""

    NONE = "none", "No scores yet"
    WHITE = "white", "Recovered: consider ending"
    GREEN = "green", "On track"
    YELLOW = "yellow", "Not on track"
    RED = "red", "Off track"


class Episode(models.Model):
    client = models.ForeignKey(Client, on_delete=models.CASCADE, related_name="episodes")
    # Denormalised from client so that every scoped query filters one indexed column.
    clinic = models.ForeignKey(Clinic, on_delete=models.PROTECT, related_name="episodes")
    therapist = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="episodes"
    )
    started_on = models.DateField(default=localdate)
    ended_on = models.DateField(null=True, blank=True)
    end_reason = models.CharField(max_length=20, choices=EndReason.choices, blank=True)
    status = models.CharField(
        max_length=10, choices=EpisodeStatus.choices, default=EpisodeStatus.NONE
    )
    status_reason = models.TextField(blank=True)  # whole, never cut mid-sentence
    status_updated_at = models.DateTimeField(null=True, blank=True)
    # What the hourly sweep needs to skip an episode whose rule inputs have not changed: when the
    # rules last read it (cleared when a check-in of it is decided without a form, i.e. expires),
    # and a fingerprint of the clinic settings and curves they read it with.
    rules_evaluated_at = models.DateTimeField(null=True, blank=True)
    rules_fingerprint = models.CharField(max_length=32, blank=True)
    # When the first form stored since the episode's last evaluation was stored; null once an
    # evaluation has read every form. Set in the transaction that stores the form and cleared by
    # the evaluation under the episode's row lock (outcomes.evaluation), so a form committed
    # while an evaluation runs leaves it set. One row per episode instead of a stamp on every
    # administration: a first sweep over a million forms writes 50,000 rows, not a million.
    rules_pending_since = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=now)

    class Meta:
        indexes = [
            models.Index(fields=["therapist", "ended_on"], name="episode_therapist_active"),
            models.Index(fields=["clinic", "ended_on"], name="episode_clinic_active"),
            # The sweeps and /healthz look for the few episodes with a form not yet evaluated.
            models.Index(
                fields=["rules_pending_since"],
                condition=models.Q(rules_pending_since__isnull=False),
                name="episode_rules_pending",
            ),
        ]

    def __str__(self):
        return f"{self.client.label} from {self.started_on:%Y-%m-%d}"

    @property
    def is_active(self) -> bool:
        return self.ended_on is None


class SessionAttendance(models.TextChoices):
    ATTENDED = "attended", "Attended"
    DID_NOT_ATTEND = "did_not_attend", "Did not attend"
    CANCELLED = "cancelled", "Cancelled"


class TreatmentSession(models.Model):
    """A scheduled or held therapy session. ``attended`` is None until the session has happened,
    and stays None for a cancelled one (it never happened: neither attended nor missed, so it
    counts neither towards a finished course nor as a missed appointment).

    NHS Talking Therapies counts a course of treatment as finished with at least 2 attended
    sessions (CLINICAL.md §3).
    """

    episode = models.ForeignKey(Episode, on_delete=models.CASCADE, related_name="sessions")
    starts_at = models.DateTimeField()
    attended = models.BooleanField(null=True, blank=True)
    cancelled = models.BooleanField(default=False)
    created_at = models.DateTimeField(default=now)

    class Meta:
        ordering = ["starts_at"]
        indexes = [models.Index(fields=["episode", "starts_at"], name="session_episode_time")]

    def __str__(self):
        return f"Session {self.starts_at:%Y-%m-%d %H:%M}"

    @property
    def attendance(self) -> str | None:
        """A SessionAttendance value, or None while the session has not happened yet."""
        if self.cancelled:
            return SessionAttendance.CANCELLED
        if self.attended is None:
            return None
        return SessionAttendance.ATTENDED if self.attended else SessionAttendance.DID_NOT_ATTEND


class EventKind(models.TextChoices):
    MEDICATION_CHANGE = "medication_change", "Medication change"
    LIFE_EVENT = "life_event", "Life event"
    TREATMENT_CHANGE = "treatment_change", "Change of treatment"
    RISK_REVIEW = "risk_review", "Risk review"
    THERAPIST_CHANGE = "therapist_change", "Change of therapist"
    OTHER = "other", "Other"


class TimelineEvent(models.Model):
    """Something that happened in the episode that charts mark (e.g. a medication change)."""

    episode = models.ForeignKey(Episode, on_delete=models.CASCADE, related_name="events")
    occurred_on = models.DateField()
    kind = models.CharField(max_length=30, choices=EventKind.choices, default=EventKind.OTHER)
    note = models.CharField(max_length=200, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    created_at = models.DateTimeField(default=now)

    class Meta:
        ordering = ["occurred_on"]

    def __str__(self):
        return f"{self.get_kind_display()} on {self.occurred_on}"


class Schedule(models.TextChoices):
    WEEKLY = "weekly", "Weekly"
    BEFORE_SESSION = "before_session", "Before each scheduled session"


def default_plan_instruments():
    return ["phq9", "gad7"]


class MeasurementPlan(models.Model):
    """Which forms an episode's client receives and when (clinic default: PHQ-9 + GAD-7 weekly,
    session rating after each attended session)."""

    episode = models.OneToOneField(Episode, on_delete=models.CASCADE, related_name="plan")
    instruments = models.JSONField(default=default_plan_instruments)
    schedule = models.CharField(max_length=20, choices=Schedule.choices, default=Schedule.WEEKLY)
    weekday = models.PositiveSmallIntegerField(default=0, help_text="0 = Monday … 6 = Sunday")
    local_time = models.TimeField(default="09:00")
    session_rating_after_sessions = models.BooleanField(default=True)
    paused_at = models.DateTimeField(null=True, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=now)

    def __str__(self):
        return f"Plan for {self.episode}"

    @property
    def is_running(self) -> bool:
        return self.paused_at is None and self.ended_at is None


class CheckInKind(models.TextChoices):
    SCHEDULED = "scheduled", "Scheduled"
    SESSION_RATING = "session_rating", "After a session"
    ONE_OFF = "one_off", "One-off"


class CheckInStatus(models.TextChoices):
    PENDING = "pending", "Waiting for the client"
    COMPLETED = "completed", "Completed"
    EXPIRED = "expired", "Missed"
    CANCELLED = "cancelled", "Cancelled"


class CheckIn(models.Model):
    """One due set of forms for an episode, reached by a single-use e-mailed link.

    Only the SHA-256 of the link's key is stored; the key itself exists only in the e-mail.
    """

    episode = models.ForeignKey(Episode, on_delete=models.CASCADE, related_name="checkins")
    kind = models.CharField(max_length=20, choices=CheckInKind.choices)
    due_at = models.DateTimeField()
    instruments = models.JSONField()
    key_hash = models.CharField(max_length=64, unique=True, null=True, blank=True)
    # The reminder carries a second key (the first exists only in the first e-mail, which we
    # cannot read back); both links stay valid until the check-in is used or expires.
    reminder_key_hash = models.CharField(max_length=64, unique=True, null=True, blank=True)
    status = models.CharField(
        max_length=12, choices=CheckInStatus.choices, default=CheckInStatus.PENDING
    )
    sent_at = models.DateTimeField(null=True, blank=True)
    reminded_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    treatment_session = models.ForeignKey(
        TreatmentSession, null=True, blank=True, on_delete=models.SET_NULL
    )
    created_at = models.DateTimeField(default=now)

    class Meta:
        constraints = [
            # One check-in per episode per due time: the sweeper may run twice, concurrently.
            models.UniqueConstraint(fields=["episode", "kind", "due_at"], name="checkin_unique_due")
        ]
        indexes = [
            models.Index(fields=["status", "due_at"], name="checkin_status_due"),
            models.Index(fields=["episode", "due_at"], name="checkin_episode_due"),
        ]

    def __str__(self):
        return f"Check-in {self.pk} due {self.due_at:%Y-%m-%d}"
