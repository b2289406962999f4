"""Check-ins: what was sent, when, and whether it came back."""

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.generics import GenericAPIView

from api.access_log import audit_api_read
from api.pagination import ApiPagination
from api.scoping import checkins_visible_to
from clients.models import CheckInKind, CheckInStatus


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


class CheckInFilter(serializers.Serializer):
    episode = serializers.IntegerField(required=False, min_value=1)
    status = serializers.ChoiceField(choices=CheckInStatus.choices, required=False)
    kind = serializers.ChoiceField(choices=CheckInKind.choices, required=False)


class CheckInListApi(GenericAPIView):
    pagination_class = ApiPagination
    serializer_class = CheckInOutput
    query_serializer_class = CheckInFilter

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
