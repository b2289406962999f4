"""Answers for an episode, e.g. from a kiosk or an EHR: the same door as the web form
(``outcomes.services.administration_record``), so the same validation, scoring, audit and the
same alerts (a risk answer raises the urgent alert in the same transaction)."""

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import ValidationError
from rest_framework.generics import GenericAPIView
from rest_framework.response import Response

from api.access_log import audit_api_read
from api.pagination import ApiPagination
from api.scoping import episode_for
from api.strict_input import StrictInput
from outcomes.models import Administration, ResponseSource, RiskState
from outcomes.services import AdministeredAtInvalid, AnswersInvalid, administration_record


class AnswerValueField(serializers.FloatField):
    """A number as given: whole numbers stay integers (choice items, stored as before), decimals
    are kept for visual-analogue items; the scoring rules decide what each item accepts."""

    def to_internal_value(self, data):
        if isinstance(data, bool):
            self.fail("invalid")
        value = super().to_internal_value(data)
        return int(value) if value.is_integer() else value

    def to_representation(self, value):
        # 8.6 stays 8.6 and 2 stays 2 (an IntegerField would floor the mark to 8).
        return int(value) if float(value).is_integer() else float(value)


class AdministrationOutput(serializers.Serializer):
    id = serializers.IntegerField()
    episode = serializers.IntegerField(source="episode_id")
    instrument = serializers.CharField()
    instrument_version = serializers.CharField()
    administered_at = serializers.DateTimeField()
    answers = serializers.ListField(child=AnswerValueField(allow_null=True))
    total = serializers.FloatField(allow_null=True)
    band = serializers.CharField()
    caseness = serializers.BooleanField(allow_null=True)
    risk = serializers.ChoiceField(choices=RiskState.choices)
    source = serializers.ChoiceField(choices=ResponseSource.choices)
    checkin = serializers.IntegerField(source="checkin_id", allow_null=True)


class RecordedOutput(serializers.Serializer):
    administration = AdministrationOutput()
    risk_alert = serializers.IntegerField(
        allow_null=True, help_text="The urgent alert raised by a risk answer, if any."
    )


class ResponseFilter(StrictInput):
    instrument = serializers.CharField(required=False, max_length=40)


class EpisodeResponsesApi(GenericAPIView):
    pagination_class = ApiPagination
    serializer_class = AdministrationOutput
    query_serializer_class = ResponseFilter

    class ResponseRecordInput(StrictInput):
        instrument = serializers.CharField(max_length=40, help_text="e.g. phq9")
        answers = serializers.ListField(
            child=AnswerValueField(allow_null=True, min_value=-1000, max_value=1000),
            max_length=200,
            help_text="Option values in item order (as printed on the form); null if unanswered. "
            "Visual-analogue items (ORS, SRS, session rating) take one decimal, e.g. 4.2.",
        )
        administered_at = serializers.DateTimeField(
            required=False,
            help_text="When the client filled it; now when omitted. Not in the future (a few "
            "minutes of clock skew aside), not before the episode's start.",
        )

    @extend_schema(parameters=[ResponseFilter], responses=AdministrationOutput(many=True))
    def get(self, request, episode_id: int):
        episode = episode_for(request.user, episode_id)
        query = ResponseFilter(data=request.query_params)
        query.is_valid(raise_exception=True)
        administrations = Administration.objects.filter(episode=episode).order_by(
            "administered_at", "pk"
        )
        if "instrument" in query.validated_data:
            administrations = administrations.filter(instrument=query.validated_data["instrument"])
        page = self.paginate_queryset(administrations)
        audit_api_read(request, [episode.client], what="responses")
        return self.get_paginated_response(AdministrationOutput(page, many=True).data)

    @extend_schema(request=ResponseRecordInput, responses={201: RecordedOutput})
    def post(self, request, episode_id: int):
        episode = episode_for(request.user, episode_id)
        payload = self.ResponseRecordInput(data=request.data)
        payload.is_valid(raise_exception=True)
        try:
            recorded = administration_record(
                episode=episode,
                instrument_code=payload.validated_data["instrument"],
                answers=payload.validated_data["answers"],
                source=ResponseSource.API,
                entered_by=request.user,
                administered_at=payload.validated_data.get("administered_at"),
            )
        except AdministeredAtInvalid as error:
            raise ValidationError({"administered_at": error.errors}) from error
        except AnswersInvalid as error:
            raise ValidationError({"answers": error.errors}) from error
        body = {
            "administration": recorded.administration,
            "risk_alert": recorded.risk_alert.pk if recorded.risk_alert else None,
        }
        return Response(RecordedOutput(body).data, status=status.HTTP_201_CREATED)
