"""Alerts: list (filter by state, rule, severity, episode), read, acknowledge, resolve. The
lifecycle rules (who, when, audit, what may follow what) are those of ``outcomes.services``."""

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.exceptions import ValidationError
from rest_framework.generics import GenericAPIView
from rest_framework.response import Response
from rest_framework.views import APIView

from api.access_log import audit_api_read
from api.pagination import ApiPagination
from api.scoping import alert_for, alerts_visible_to
from api.strict_input import StrictInput
from outcomes import services as outcome_services
from outcomes.models import AlertAction, AlertRule, AlertSeverity, AlertState


class AlertOutput(serializers.Serializer):
    id = serializers.IntegerField()
    episode = serializers.IntegerField(source="episode_id")
    client_label = serializers.CharField(source="episode.client.label")
    rule = serializers.ChoiceField(choices=AlertRule.choices)
    severity = serializers.ChoiceField(choices=AlertSeverity.choices)
    state = serializers.ChoiceField(choices=AlertState.choices)
    instrument = serializers.CharField()
    administration = serializers.IntegerField(source="administration_id", allow_null=True)
    message = serializers.CharField()
    created_at = serializers.DateTimeField()
    acknowledged_at = serializers.DateTimeField(allow_null=True)
    acknowledged_by = serializers.CharField(
        source="acknowledged_by.username", allow_null=True, default=None
    )
    resolved_at = serializers.DateTimeField(allow_null=True)
    resolved_by = serializers.CharField(
        source="resolved_by.username", allow_null=True, default=None
    )
    action = serializers.CharField(help_text="The action taken; empty until resolved.")
    resolution_note = serializers.CharField()
    escalation_level = serializers.IntegerField(
        help_text="0: therapist only; 1: escalated to the supervisor; 2: to the clinic admin."
    )
    escalated_at = serializers.DateTimeField(allow_null=True)


class AlertFilter(StrictInput):
    state = serializers.ChoiceField(choices=AlertState.choices, required=False)
    rule = serializers.ChoiceField(choices=AlertRule.choices, required=False)
    severity = serializers.ChoiceField(choices=AlertSeverity.choices, required=False)
    episode = serializers.IntegerField(required=False, min_value=1)


def _alerts(user):
    return alerts_visible_to(user).select_related(
        "episode__client", "acknowledged_by", "resolved_by"
    )


def _reloaded(user, alert_id):
    return _alerts(user).get(pk=alert_id)


class AlertListApi(GenericAPIView):
    pagination_class = ApiPagination
    serializer_class = AlertOutput
    query_serializer_class = AlertFilter

    @extend_schema(parameters=[AlertFilter], responses=AlertOutput(many=True))
    def get(self, request):
        query = AlertFilter(data=request.query_params)
        query.is_valid(raise_exception=True)
        alerts = _alerts(request.user)
        for name in ("state", "rule", "severity"):
            if name in query.validated_data:
                alerts = alerts.filter(**{name: query.validated_data[name]})
        if "episode" in query.validated_data:
            alerts = alerts.filter(episode_id=query.validated_data["episode"])
        page = self.paginate_queryset(alerts.order_by("-created_at", "-pk"))
        audit_api_read(request, [alert.episode.client for alert in page], what="alerts")
        return self.get_paginated_response(AlertOutput(page, many=True).data)


class AlertDetailApi(APIView):
    @extend_schema(responses=AlertOutput)
    def get(self, request, alert_id: int):
        alert = alert_for(request.user, alert_id)
        audit_api_read(request, [alert.episode.client], what="alert")
        return Response(AlertOutput(_reloaded(request.user, alert.pk)).data)


class AlertAcknowledgeApi(APIView):
    @extend_schema(request=None, responses=AlertOutput)
    def post(self, request, alert_id: int):
        alert = alert_for(request.user, alert_id)
        try:
            outcome_services.alert_acknowledge(alert=alert, user=request.user, request=request)
        except outcome_services.AlertTransitionInvalid as error:
            raise ValidationError({"non_field_errors": [str(error)]}) from error
        return Response(AlertOutput(_reloaded(request.user, alert.pk)).data)


class AlertResolveApi(APIView):
    class AlertResolveInput(StrictInput):
        action = serializers.ChoiceField(choices=AlertAction.choices)
        note = serializers.CharField(required=False, allow_blank=True, default="", max_length=2000)

    @extend_schema(request=AlertResolveInput, responses=AlertOutput)
    def post(self, request, alert_id: int):
        alert = alert_for(request.user, alert_id)
        payload = self.AlertResolveInput(data=request.data)
        payload.is_valid(raise_exception=True)
        try:
            outcome_services.alert_resolve(
                alert=alert,
                user=request.user,
                action=payload.validated_data["action"],
                note=payload.validated_data["note"],
                request=request,
            )
        except outcome_services.AlertTransitionInvalid as error:
            raise ValidationError({"non_field_errors": [str(error)]}) from error
        return Response(AlertOutput(_reloaded(request.user, alert.pk)).data)
