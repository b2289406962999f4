"""Check-ins: what was sent, when, and whether it came back; a one-off check-in on request."""

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import ValidationError
from rest_framework.generics import GenericAPIView
from rest_framework.response import Response

from api.access_log import audit_api_read
from api.pagination import ApiPagination
from api.schema import ErrorSerializer
from api.scoping import checkins_visible_to, episode_for
from api.strict_input import StrictInput
from clients.checkins import CheckInInvalid, checkin_create_one_off
from clients.models import CheckInKind, CheckInStatus

# Ids beyond the database's 64-bit integers are simply not found (and must not reach it).
MAX_ID = 2**63 - 1


class CheckInOutput(serializers.Serializer):
    id = serializers.IntegerField()
    episode = serializers.IntegerField(source="episode_id")
    kind = serializers.ChoiceField(choices=CheckInKind.choices)
    due_at = serializers.DateTimeField()
    instruments = serializers.ListField(child=serializers.CharField())
    status = serializers.ChoiceField(choices=CheckInStatus.choices)
    sent_at = serializers.DateTimeField(allow_null=True)
    reminded_at = serializers.DateTimeField(allow_null=True)
    expires_at = serializers.DateTimeField(allow_null=True)
    completed_at = serializers.DateTimeField(allow_null=True)


class CheckInFilter(StrictInput):
    episode = serializers.IntegerField(required=False, min_value=1)
    status = serializers.ChoiceField(choices=CheckInStatus.choices, required=False)
    kind = serializers.ChoiceField(choices=CheckInKind.choices, required=False)


class CheckInListCreateApi(GenericAPIView):
    pagination_class = ApiPagination
    serializer_class = CheckInOutput
    query_serializer_class = CheckInFilter

    class CheckInCreateInput(StrictInput):
        episode = serializers.IntegerField(min_value=1, max_value=MAX_ID)
        instruments = serializers.ListField(
            child=serializers.CharField(max_length=40),
            required=False,
            allow_empty=False,
            max_length=20,
            help_text="Instrument codes, e.g. [\"phq9\"]; the episode's plan's when omitted.",
        )
        due_at = serializers.DateTimeField(
            required=False,
            help_text="When to send the link; now when omitted. Up to a year ahead (sent by the "
            "five-minute sweep once due); not in the past.",
        )

    @extend_schema(parameters=[CheckInFilter], responses=CheckInOutput(many=True))
    def get(self, request):
        query = CheckInFilter(data=request.query_params)
        query.is_valid(raise_exception=True)
        checkins = checkins_visible_to(request.user).select_related("episode__client")
        for name in ("status", "kind"):
            if name in query.validated_data:
                checkins = checkins.filter(**{name: query.validated_data[name]})
        if "episode" in query.validated_data:
            checkins = checkins.filter(episode_id=query.validated_data["episode"])
        page = self.paginate_queryset(checkins.order_by("-due_at", "-pk"))
        audit_api_read(request, [checkin.episode.client for checkin in page], what="checkins")
        return self.get_paginated_response(CheckInOutput(page, many=True).data)

    @extend_schema(
        request=CheckInCreateInput,
        responses={
            201: CheckInOutput,
            404: OpenApiResponse(ErrorSerializer, "No such episode within your scope."),
        },
    )
    def post(self, request):
        payload = self.CheckInCreateInput(data=request.data)
        payload.is_valid(raise_exception=True)
        # Out of scope answers 404, like the episode's own URL: nothing says it exists.
        episode = episode_for(request.user, payload.validated_data["episode"])
        try:
            checkin = checkin_create_one_off(
                episode=episode,
                actor=request.user,
                instruments=payload.validated_data.get("instruments"),
                due_at=payload.validated_data.get("due_at"),
                request=request,
            )
        except CheckInInvalid as error:
            raise ValidationError(error.errors) from error
        return Response(CheckInOutput(checkin).data, status=status.HTTP_201_CREATED)
