"""Forms of the therapist's pages. They only parse input; the services check the rules."""

from django import forms
from django.utils import timezone
from django.utils.timezone import localdate

from clients.models import EndReason, EpisodeStatus, EventKind, Schedule, SessionAttendance
from dashboards.report_selectors import report_period_problem
from measures.rules import OPERATING_POINTS
from outcomes.models import AlertAction


class CaseloadFilterForm(forms.Form):
    q = forms.CharField(required=False, label="Search by label", max_length=40)
    status = forms.ChoiceField(
        required=False, choices=[("", "Any status"), *EpisodeStatus.choices], label="Status"
    )
    instrument = forms.ChoiceField(required=False, choices=[("", "Any measure")], label="Measure")
    alerts = forms.BooleanField(required=False, label="Open alerts only")

    def __init__(self, *args, instruments=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["instrument"].choices = [("", "Any measure"), *instruments]


class AlertResolveForm(forms.Form):
    action = forms.ChoiceField(choices=AlertAction.choices, label="Action taken")
    note = forms.CharField(
        required=False,
        label="Note",
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="What was done or agreed. Kept with the alert; never e-mailed.",
    )


class TimelineEventForm(forms.Form):
    occurred_on = forms.DateField(
        label="Date",
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
        initial=timezone.localdate,
    )
    kind = forms.ChoiceField(choices=EventKind.choices, label="What happened")
    note = forms.CharField(required=False, max_length=200, label="Note (optional)")


class EpisodeCloseForm(forms.Form):
    ended_on = forms.DateField(
        label="Last day of care",
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
        initial=timezone.localdate,
    )
    end_reason = forms.ChoiceField(choices=EndReason.choices, label="Reason")


class ReportPeriodForm(forms.Form):
    """The period of a report or an export: both days included, within a sane range (see
    ``report_selectors.report_period_problem``), so no date reaches the database that would
    overflow the period's bounds."""

    start = forms.DateField(widget=forms.DateInput(attrs={"type": "date"}))
    end = forms.DateField(widget=forms.DateInput(attrs={"type": "date"}))

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("start") and cleaned.get("end"):
            problem = report_period_problem(
                cleaned["start"], cleaned["end"], today=timezone.localdate()
            )
            if problem:
                raise forms.ValidationError(problem)
        return cleaned


WEEKDAYS = [
    (0, "Monday"), (1, "Tuesday"), (2, "Wednesday"), (3, "Thursday"), (4, "Friday"),
    (5, "Saturday"), (6, "Sunday"),
]  # fmt: skip


class PlanForm(forms.Form):
    """The forms a client receives and when. ``instruments`` are (code, name) pairs the clinic
    can send; the service checks them again."""

    instruments = forms.MultipleChoiceField(
        required=False, widget=forms.CheckboxSelectMultiple, label="Forms"
    )
    schedule = forms.ChoiceField(choices=Schedule.choices, initial=Schedule.WEEKLY)
    weekday = forms.TypedChoiceField(choices=WEEKDAYS, coerce=int, initial=0, label="Day (weekly)")
    local_time = forms.TimeField(
        initial="09:00",
        label="Time (the client's time zone)",
        widget=forms.TimeInput(attrs={"type": "time"}, format="%H:%M"),
    )
    session_rating_after_sessions = forms.BooleanField(
        required=False, initial=True, label="Session rating after each attended session"
    )

    def __init__(self, *args, instruments=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["instruments"].choices = list(instruments)


class ClientAddForm(PlanForm):
    """A new client, their first episode and its plan. ``therapists`` are those the user may
    assign (``clients.services.therapists_assignable``)."""

    PLAN_DEFAULT, PLAN_CHOSEN = "default", "chosen"

    label = forms.CharField(max_length=40, help_text="Pseudonymous, e.g. C-0042: what staff see.")
    email = forms.EmailField(
        required=False, label="E-mail", help_text="Where check-in links go. Never shown in mails."
    )
    timezone = forms.CharField(
        max_length=64, label="Time zone", help_text="An IANA name, e.g. Europe/London."
    )
    therapist = forms.ModelChoiceField(queryset=None, empty_label=None)
    started_on = forms.DateField(
        label="Start date",
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
        initial=localdate,
    )
    plan = forms.ChoiceField(
        choices=[
            (PLAN_DEFAULT, "The clinic default (PHQ-9 and GAD-7 weekly, Monday 09:00)"),
            (PLAN_CHOSEN, "Chosen forms and schedule"),
        ],
        initial=PLAN_DEFAULT,
        widget=forms.RadioSelect,
        label="Measurement plan",
    )
    send_first_checkin_now = forms.BooleanField(required=False, label="Send the first check-in now")

    field_order = ["label", "email", "timezone", "therapist", "started_on", "plan"]

    def __init__(self, *args, therapists, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["therapist"].queryset = therapists
        self.fields["therapist"].label_from_instance = lambda user: (
            user.get_full_name() or user.get_username()
        )

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("plan") == self.PLAN_CHOSEN and not cleaned.get("instruments"):
            self.add_error("instruments", "Choose at least one form.")
        return cleaned


class ClientImportForm(forms.Form):
    file = forms.FileField(
        label="CSV file",
        help_text="UTF-8, a header row with label and therapist (username), and optionally "
        "email, name, timezone, language, started_on (YYYY-MM-DD).",
    )
    dry_run = forms.BooleanField(required=False, label="Only check the file (create nothing)")


class SessionRecordForm(forms.Form):
    held_on = forms.DateField(
        label="Date",
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
        initial=timezone.localdate,
    )
    held_at = forms.TimeField(
        required=False,
        label="Time (optional)",
        widget=forms.TimeInput(attrs={"type": "time"}, format="%H:%M"),
        help_text="Left empty: now if today, midday otherwise.",
    )
    attendance = forms.ChoiceField(
        choices=SessionAttendance.choices,
        initial=SessionAttendance.ATTENDED,
        widget=forms.RadioSelect,
        label="The session",
    )


class OperatingPointForm(forms.Form):
    """The clinic admin's choice on the calibration page; ``confirmed`` is set only by the
    confirmation page's button, so the first click shows what changes and changes nothing."""

    point = forms.ChoiceField(choices=[])
    confirmed = forms.BooleanField(required=False, widget=forms.HiddenInput)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # Read at request time: the points live in measures.rules and may change in a release.
        self.fields["point"].choices = [(name, name) for name in OPERATING_POINTS]
