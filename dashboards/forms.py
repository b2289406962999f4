"""Forms of the therapist's pages. They only parse input; the services check the rules."""

from django import forms
from django.utils import timezone

from clients.models import EndReason, EpisodeStatus, EventKind
from dashboards.report_selectors import report_period_problem
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
