"""Episodes of care: list, open, read, update, close; their measurement plan and trajectory."""

import re
from datetime import time

from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_field
from rest_framework import serializers, status
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.generics import GenericAPIView
from rest_framework.response import Response
from rest_framework.views import APIView

from api.access_log import audit_api_read
from api.pagination import ApiPagination
from api.schema import ErrorSerializer
from api.scoping import client_for, episode_for
from api.selectors import episode_trajectory
from api.strict_input import StrictInput
from clients.checkins import PlanInvalid, plan_pause, plan_resume, plan_set
from clients.models import EndReason, EpisodeStatus, MeasurementPlan, Schedule
from clients.selectors import episodes_visible_to
from clients.services import (
    ClientDataInvalid,
    episode_close,
    episode_create,
    episode_update,
    staff_member_named,
)

LOCAL_TIME = re.compile(r"^([01][0-9]|2[0-3]):[0-5][0-9]$")


class EpisodeOutput(serializers.Serializer):
    id = serializers.IntegerField()
    client = serializers.IntegerField(source="client_id")
    client_label = serializers.CharField(source="client.label")
    clinic = serializers.CharField(source="clinic.slug")
    therapist = serializers.CharField(source="therapist.username")
    started_on = serializers.DateField()
    ended_on = serializers.DateField(allow_null=True)
    end_reason = serializers.CharField(help_text="Empty while the episode is active.")
    is_active = serializers.BooleanField()
    status = serializers.ChoiceField(choices=EpisodeStatus.choices)
    status_reason = serializers.CharField()
    status_updated_at = serializers.DateTimeField(allow_null=True)


def _episodes(user):
    return episodes_visible_to(user).select_related("client", "clinic", "therapist")


def _therapist(episode_or_client_clinic, username):
    therapist = staff_member_named(clinic=episode_or_client_clinic, username=username)
    if therapist is None:
        raise ValidationError({"therapist": ["No staff member of this clinic has this username."]})
    return therapist


def _invalid(error: ClientDataInvalid | PlanInvalid):
    if isinstance(error, PlanInvalid):
        return ValidationError({"non_field_errors": error.errors})
    return ValidationError(error.errors)


class EpisodeFilter(StrictInput):
    client = serializers.IntegerField(required=False, min_value=1)
    active = serializers.BooleanField(required=False, allow_null=True, default=None)
    status = serializers.ChoiceField(choices=EpisodeStatus.choices, required=False)


class EpisodeListCreateApi(GenericAPIView):
    pagination_class = ApiPagination
    serializer_class = EpisodeOutput
    query_serializer_class = EpisodeFilter

    class EpisodeCreateInput(StrictInput):
        client = serializers.IntegerField(min_value=1, max_value=2**63 - 1)
        therapist = serializers.CharField(
            required=False, max_length=150, help_text="Username; yourself when omitted."
        )
        started_on = serializers.DateField(required=False)

    @extend_schema(parameters=[EpisodeFilter], responses=EpisodeOutput(many=True))
    def get(self, request):
        query = EpisodeFilter(data=request.query_params)
        query.is_valid(raise_exception=True)
        episodes = _episodes(request.user).order_by("-started_on", "-pk")
        if "client" in query.validated_data:
            episodes = episodes.filter(client_id=query.validated_data["client"])
        if query.validated_data.get("active") is not None:
            episodes = episodes.filter(ended_on__isnull=query.validated_data["active"])
        if "status" in query.validated_data:
            episodes = episodes.filter(status=query.validated_data["status"])
        page = self.paginate_queryset(episodes)
        audit_api_read(request, [episode.client for episode in page], what="episodes")
        return self.get_paginated_response(EpisodeOutput(page, many=True).data)

    @extend_schema(
        request=EpisodeCreateInput,
        responses={
            201: EpisodeOutput,
            404: OpenApiResponse(ErrorSerializer, "No such client within your scope."),
        },
    )
    def post(self, request):
        payload = self.EpisodeCreateInput(data=request.data)
        payload.is_valid(raise_exception=True)
        # Out of scope answers 404, as the client's own URL does: nothing says it exists.
        client = client_for(request.user, payload.validated_data["client"])
        username = payload.validated_data.get("therapist")
        therapist = request.user if username is None else _therapist(client.clinic, username)
        try:
            episode = episode_create(
                actor=request.user,
                client=client,
                therapist=therapist,
                started_on=payload.validated_data.get("started_on"),
                request=request,
            )
        except ClientDataInvalid as error:
            raise _invalid(error) from error
        return Response(
            EpisodeOutput(_episodes(request.user).get(pk=episode.pk)).data,
            status=status.HTTP_201_CREATED,
        )


class EpisodeDetailApi(APIView):
    class EpisodeUpdateInput(StrictInput):
        therapist = serializers.CharField(required=False, max_length=150)
        started_on = serializers.DateField(required=False)

    @extend_schema(responses=EpisodeOutput)
    def get(self, request, episode_id: int):
        episode = episode_for(request.user, episode_id)
        audit_api_read(request, [episode.client], what="episode")
        return Response(EpisodeOutput(episode).data)

    @extend_schema(request=EpisodeUpdateInput, responses=EpisodeOutput)
    def patch(self, request, episode_id: int):
        episode = episode_for(request.user, episode_id)
        payload = self.EpisodeUpdateInput(data=request.data)
        payload.is_valid(raise_exception=True)
        username = payload.validated_data.get("therapist")
        try:
            episode_update(
                actor=request.user,
                episode=episode,
                therapist=None if username is None else _therapist(episode.clinic, username),
                started_on=payload.validated_data.get("started_on"),
                request=request,
            )
        except ClientDataInvalid as error:
            raise _invalid(error) from error
        # Moved to a therapist outside the user's scope: the answer is all they may still see.
        return Response(EpisodeOutput(episode).data)


class EpisodeCloseApi(APIView):
    class EpisodeCloseInput(StrictInput):
        end_reason = serializers.ChoiceField(choices=EndReason.choices)
        ended_on = serializers.DateField(required=False, help_text="Today when omitted.")

    @extend_schema(request=EpisodeCloseInput, responses=EpisodeOutput)
    def post(self, request, episode_id: int):
        episode = episode_for(request.user, episode_id)
        payload = self.EpisodeCloseInput(data=request.data)
        payload.is_valid(raise_exception=True)
        try:
            episode_close(
                episode=episode,
                ended_on=payload.validated_data.get("ended_on"),
                end_reason=payload.validated_data["end_reason"],
                user=request.user,
                request=request,
            )
        except ClientDataInvalid as error:
            raise _invalid(error) from error
        return Response(EpisodeOutput(episode).data)


# --- Measurement plan ---------------------------------------------------------------------------


@extend_schema_field({"type": "string", "pattern": r"^([01][0-9]|2[0-3]):[0-5][0-9]$"})
class LocalTimeField(serializers.Field):
    """A wall-clock time "HH:MM" in the client's own time zone. Not OpenAPI's ``time`` format,
    which requires an offset: the offset changes with daylight saving, the wall-clock time
    does not."""

    default_error_messages = {"invalid": "Use the form HH:MM (24-hour)."}

    def to_internal_value(self, data):
        if not isinstance(data, str) or not LOCAL_TIME.match(data):
            self.fail("invalid")
        return time(int(data[:2]), int(data[3:5]))

    def to_representation(self, value):
        return value.strftime("%H:%M") if isinstance(value, time) else str(value)[:5]


class PlanOutput(serializers.Serializer):
    episode = serializers.IntegerField(source="episode_id")
    instruments = serializers.ListField(child=serializers.CharField())
    schedule = serializers.ChoiceField(choices=Schedule.choices)
    weekday = serializers.IntegerField(help_text="0 = Monday … 6 = Sunday")
    local_time = LocalTimeField(help_text="In the client's time zone.")
    session_rating_after_sessions = serializers.BooleanField()
    is_running = serializers.BooleanField()
    paused_at = serializers.DateTimeField(allow_null=True)
    ended_at = serializers.DateTimeField(allow_null=True)


def _plan_of(episode) -> MeasurementPlan:
    plan = MeasurementPlan.objects.filter(episode=episode).select_related("episode").first()
    if plan is None:
        raise NotFound("This episode has no measurement plan.")
    return plan


class EpisodePlanApi(APIView):
    class PlanSetInput(StrictInput):
        instruments = serializers.ListField(
            child=serializers.CharField(max_length=40), allow_empty=False, max_length=20
        )
        schedule = serializers.ChoiceField(choices=Schedule.choices, default=Schedule.WEEKLY)
        weekday = serializers.IntegerField(min_value=0, max_value=6, default=0)
        local_time = LocalTimeField(required=False, help_text="In the client's time zone.")
        session_rating_after_sessions = serializers.BooleanField(default=True)

    @extend_schema(responses=PlanOutput)
    def get(self, request, episode_id: int):
        episode = episode_for(request.user, episode_id)
        plan = _plan_of(episode)
        audit_api_read(request, [episode.client], what="plan")
        return Response(PlanOutput(plan).data)

    @extend_schema(request=PlanSetInput, responses=PlanOutput)
    def put(self, request, episode_id: int):
        episode = episode_for(request.user, episode_id)
        payload = self.PlanSetInput(data=request.data)
        payload.is_valid(raise_exception=True)
        try:
            plan = plan_set(episode=episode, actor=request.user, **payload.validated_data)
        except PlanInvalid as error:
            raise _invalid(error) from error
        return Response(PlanOutput(plan).data)


class EpisodePlanPauseApi(APIView):
    @extend_schema(request=None, responses=PlanOutput)
    def post(self, request, episode_id: int):
        plan = _plan_of(episode_for(request.user, episode_id))
        return Response(PlanOutput(plan_pause(plan=plan, actor=request.user)).data)


class EpisodePlanResumeApi(APIView):
    @extend_schema(request=None, responses=PlanOutput)
    def post(self, request, episode_id: int):
        plan = _plan_of(episode_for(request.user, episode_id))
        return Response(PlanOutput(plan_resume(plan=plan, actor=request.user)).data)


# --- Trajectory ---------------------------------------------------------------------------------


class ScorePointOutput(serializers.Serializer):
    administration = serializers.IntegerField()
    administered_at = serializers.DateTimeField()
    week = serializers.IntegerField(help_text="Treatment week; 1 at the first score.")
    total = serializers.FloatField()
    band = serializers.CharField()
    risk = serializers.CharField()
    expected = serializers.FloatField(allow_null=True)
    yellow_limit = serializers.FloatField(allow_null=True)
    red_limit = serializers.FloatField(allow_null=True)
    status = serializers.CharField(allow_null=True, help_text="white, green, yellow or red.")
    reason = serializers.CharField()


class ExpectedPointOutput(serializers.Serializer):
    week = serializers.IntegerField()
    at = serializers.DateTimeField()
    expected = serializers.FloatField(allow_null=True)
    yellow_limit = serializers.FloatField(allow_null=True)
    red_limit = serializers.FloatField(allow_null=True)


class InstrumentTrajectoryOutput(serializers.Serializer):
    instrument = serializers.CharField()
    name = serializers.CharField()
    direction = serializers.CharField()
    caseness_cutoff = serializers.FloatField(allow_null=True)
    reliable_change = serializers.FloatField(allow_null=True)
    curve_source = serializers.CharField(
        allow_null=True,
        help_text="'fitted' (this clinic's episodes) or 'default' (provisional); null: no curve.",
    )
    scores = ScorePointOutput(many=True)
    expected = ExpectedPointOutput(many=True)


class TrajectoryOutput(serializers.Serializer):
    episode = EpisodeOutput()
    instruments = InstrumentTrajectoryOutput(many=True)


class EpisodeTrajectoryApi(APIView):
    @extend_schema(responses=TrajectoryOutput)
    def get(self, request, episode_id: int):
        episode = episode_for(request.user, episode_id)
        audit_api_read(request, [episode.client], what="trajectory")
        body = {"episode": episode, "instruments": episode_trajectory(episode=episode)}
        return Response(TrajectoryOutput(body).data)
