"""Outcome report figures for supervisors and clinic admins: the same figures as the report
page (``dashboards.reports.clinic_report`` over ``dashboards.report_selectors``), same scope."""

import math

from django.http import Http404
from django.utils import timezone
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from api.schema import ErrorSerializer
from api.strict_input import StrictInput
from audit.services import audit_record
from dashboards.report_selectors import (
    ReportPeriod,
    report_frames,
    report_period_problem,
    report_scope,
)
from dashboards.reports import clinic_report

SUPPRESSED = "Null when the rate it belongs to is suppressed."


class RateOutput(serializers.Serializer):
    numerator = serializers.IntegerField(allow_null=True, help_text=SUPPRESSED)
    denominator = serializers.IntegerField(allow_null=True, help_text=SUPPRESSED)
    value = serializers.FloatField(allow_null=True, help_text="Null when suppressed (n < 10).")
    low = serializers.FloatField(allow_null=True, help_text="95 % Wilson interval.")
    high = serializers.FloatField(allow_null=True)
    suppressed = serializers.BooleanField()
    withheld = serializers.BooleanField(
        help_text="Suppressed although it rests on 10 or more episodes, so that a suppressed "
        "rate cannot be worked out from the total by subtraction."
    )


class EffectSizeOutput(serializers.Serializer):
    n = serializers.IntegerField()
    d = serializers.FloatField(allow_null=True, help_text="Null when suppressed or undefined.")
    low = serializers.FloatField(allow_null=True)
    high = serializers.FloatField(allow_null=True)


class OutcomeRowOutput(serializers.Serializer):
    key = serializers.CharField()
    label = serializers.CharField()
    kind = serializers.ChoiceField(choices=["clinician", "team", "total"])
    caseload = serializers.IntegerField()
    checkins_sent = serializers.IntegerField()
    checkins_completed = serializers.IntegerField(allow_null=True, help_text=SUPPRESSED)
    completion = RateOutput()
    ended = serializers.IntegerField()
    finished = serializers.IntegerField()
    dropouts = serializers.IntegerField(allow_null=True, help_text=SUPPRESSED)
    dropout = RateOutput()
    paired = serializers.IntegerField(allow_null=True, help_text=SUPPRESSED)
    cases = serializers.IntegerField(allow_null=True, help_text=SUPPRESSED)
    recovered = serializers.IntegerField(allow_null=True, help_text=SUPPRESSED)
    recovery = RateOutput()
    reliable_improvement = RateOutput()
    reliable_deterioration = RateOutput()
    reliable_recovery = RateOutput()
    effect_phq9 = EffectSizeOutput()
    effect_gad7 = EffectSizeOutput()
    alerts = serializers.IntegerField()
    urgent_alerts = serializers.IntegerField()
    urgent_acknowledged = serializers.IntegerField()
    median_hours_to_acknowledge = serializers.FloatField(allow_null=True)


class FunnelStepOutput(serializers.Serializer):
    step = serializers.CharField()
    episodes = serializers.IntegerField(
        allow_null=True,
        help_text="Null when suppressed: the stage before it has fewer than 10 episodes.",
    )
    suppressed = serializers.BooleanField()


class ReportOutput(serializers.Serializer):
    clinic = serializers.CharField()
    team = serializers.IntegerField(allow_null=True)
    start = serializers.DateField()
    end = serializers.DateField()
    total = OutcomeRowOutput()
    teams = OutcomeRowOutput(many=True)
    clinicians = OutcomeRowOutput(many=True)
    funnel = FunnelStepOutput(many=True)
    national_recovery_rate = serializers.FloatField()
    national_reliable_improvement_rate = serializers.FloatField()


class ReportQuery(StrictInput):
    clinic = serializers.SlugField(required=False, help_text="Your first clinic when omitted.")
    team = serializers.IntegerField(required=False, min_value=1)
    start = serializers.DateField(required=False, help_text="First day; a year before end.")
    end = serializers.DateField(required=False, help_text="Last day included; today by default.")

    def validate(self, attrs):
        # The page's rule (a period no date of which overflows the database's date arithmetic),
        # checked on the period the defaults complete.
        today = timezone.localdate()
        end = attrs.get("end") or today
        # The end alone first: a year before 2 January 0001 is no date at all.
        problem = report_period_problem(end, end, today=today)
        if problem is None:
            start = attrs.get("start") or ReportPeriod.last_twelve_months(end).start
            problem = report_period_problem(start, end, today=today)
        if problem:
            raise serializers.ValidationError({"start" if "start" in attrs else "end": [problem]})
        return {**attrs, "start": start, "end": end}


def _effect(effect) -> dict:
    shown = effect.shown

    def number(value):
        return value if shown and not math.isnan(value) else None

    return {"n": effect.n, "d": number(effect.d), "low": number(effect.low),
            "high": number(effect.high)}  # fmt: skip


#: The counts that are a rate's numerator or denominator, by rate: shown only where the rate is,
#: or a suppressed rate could be read off them (the page shows neither).
RATE_COUNTS = {
    "completion": ("checkins_completed",),
    "dropout": ("dropouts",),
    "recovery": ("cases", "recovered"),
    "reliable_improvement": ("paired",),
}


def _rate(rate) -> dict:
    figures = rate.as_dict()
    if rate.suppressed:
        figures.update(numerator=None, denominator=None)
    return figures


def _row(row) -> dict:
    figures = dict(vars(row))
    for name, value in figures.items():
        if hasattr(value, "as_dict"):
            figures[name] = _rate(value)
    for rate_name, counts in RATE_COUNTS.items():
        if getattr(row, rate_name).suppressed:
            figures.update(dict.fromkeys(counts))
    figures["effect_phq9"] = _effect(row.effect_phq9)
    figures["effect_gad7"] = _effect(row.effect_gad7)
    return figures


class OutcomeReportApi(APIView):
    """Recovery, reliable improvement and deterioration, effect sizes, dropout, completion and
    alert handling for a period (CLINICAL.md §3 and §5). Supervisors see their teams, clinic
    admins the clinic; anyone else gets 404."""

    query_serializer_class = ReportQuery

    @extend_schema(
        parameters=[ReportQuery],
        responses={
            200: ReportOutput,
            404: OpenApiResponse(ErrorSerializer, "You do not report on this clinic or team."),
        },
    )
    def get(self, request):
        query = ReportQuery(data=request.query_params)
        query.is_valid(raise_exception=True)
        scope = report_scope(
            user=request.user,
            clinic_slug=query.validated_data.get("clinic"),
            team_id=query.validated_data.get("team"),
        )
        if scope is None:
            raise Http404
        start, end = query.validated_data["start"], query.validated_data["end"]
        period = ReportPeriod(start=start, end=end)
        report = clinic_report(report_frames(scope=scope, period=period), start=start, end=end)
        audit_record(
            actor=request.user,
            action="report.view",
            clinic=scope.clinic,
            request=request,
            details={"view": "api.report", **period.as_options(), **scope.as_options()},
        )
        body = {
            "clinic": scope.clinic.slug,
            "team": scope.team.pk if scope.team else None,
            "start": start,
            "end": end,
            "total": _row(report.total),
            "teams": [_row(row) for row in report.teams],
            "clinicians": [_row(row) for row in report.clinicians],
            "funnel": [
                {"step": stage.label, "episodes": stage.shown_count, "suppressed": stage.suppressed}
                for stage in report.funnel_stages
            ],
            "national_recovery_rate": report.national_recovery_rate,
            "national_reliable_improvement_rate": report.national_reliable_improvement_rate,
        }
        return Response(ReportOutput(body).data)
