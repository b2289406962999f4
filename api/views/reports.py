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
from audit.services import audit_record
from dashboards.report_selectors import ReportPeriod, report_frames, report_scope
from dashboards.reports import clinic_report


class RateOutput(serializers.Serializer):
    numerator = serializers.IntegerField()
    denominator = serializers.IntegerField()
    value = serializers.FloatField(allow_null=True, help_text="Null when suppressed (n < 10).")
    low = serializers.FloatField(allow_null=True, help_text="95 % Wilson interval.")
    high = serializers.FloatField(allow_null=True)
    suppressed = serializers.BooleanField()


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
    checkins_completed = serializers.IntegerField()
    completion = RateOutput()
    ended = serializers.IntegerField()
    finished = serializers.IntegerField()
    dropouts = serializers.IntegerField()
    dropout = RateOutput()
    paired = serializers.IntegerField()
    cases = serializers.IntegerField()
    recovered = serializers.IntegerField()
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
    episodes = serializers.IntegerField()


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


class ReportQuery(serializers.Serializer):
    clinic = serializers.SlugField(required=False, help_text="Your first clinic when omitted.")
    team = serializers.IntegerField(required=False, min_value=1)
    start = serializers.DateField(required=False, help_text="First day; a year before end.")
    end = serializers.DateField(required=False, help_text="Last day included; today by default.")

    def validate(self, attrs):
        if "start" in attrs and "end" in attrs and attrs["start"] > attrs["end"]:
            raise serializers.ValidationError({"start": ["The start must not be after the end."]})
        return attrs


def _effect(effect) -> dict:
    shown = effect.shown

    def number(value):
        return value if shown and not math.isnan(value) else None

    return {"n": effect.n, "d": number(effect.d), "low": number(effect.low),
            "high": number(effect.high)}  # fmt: skip


def _row(row) -> dict:
    figures = dict(vars(row))
    for name, value in figures.items():
        if hasattr(value, "as_dict"):
            figures[name] = value.as_dict()
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
        end = query.validated_data.get("end") or timezone.localdate()
        start = query.validated_data.get("start") or ReportPeriod.last_twelve_months(end).start
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
            "funnel": [{"step": step, "episodes": n} for step, n in report.funnel],
            "national_recovery_rate": report.national_recovery_rate,
            "national_reliable_improvement_rate": report.national_reliable_improvement_rate,
        }
        return Response(ReportOutput(body).data)
