"""Clients: list, create (with the first episode), read, update, bulk create, CSV import."""

from django.db.models import Prefetch
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_field
from rest_framework import serializers, status
from rest_framework.exceptions import ValidationError
from rest_framework.generics import GenericAPIView
from rest_framework.parsers import MultiPartParser
from rest_framework.response import Response
from rest_framework.views import APIView

from api.access_log import audit_api_read
from api.pagination import ApiPagination
from api.scoping import client_for, clinic_for
from api.strict_input import StrictInput
from clients.client_import import ImportInvalid, clients_import_csv
from clients.selectors import (
    clients_visible_to,
    clients_with_contact_visible_to,
    contact_visible_annotation,
    episodes_visible_to,
)
from clients.services import (
    BulkClientsInvalid,
    ClientDataInvalid,
    NewClient,
    client_create,
    client_update,
    clients_bulk_create,
    staff_member_named,
)


class EpisodeSummaryOutput(serializers.Serializer):
    id = serializers.IntegerField()
    therapist = serializers.CharField(source="therapist.username")
    started_on = serializers.DateField()
    ended_on = serializers.DateField(allow_null=True)
    end_reason = serializers.CharField()
    status = serializers.CharField()


class ClientOutput(serializers.Serializer):
    id = serializers.IntegerField()
    clinic = serializers.CharField(source="clinic.slug")
    label = serializers.CharField()
    email = serializers.SerializerMethodField(
        help_text="Null unless you see the client's current episode (a former care team does not)."
    )
    name = serializers.SerializerMethodField(
        help_text="Null unless you see the client's current episode."
    )
    timezone = serializers.CharField()
    language = serializers.CharField()
    opted_out_at = serializers.DateTimeField(allow_null=True)
    created_at = serializers.DateTimeField()
    episodes = EpisodeSummaryOutput(
        many=True, source="visible_episodes", help_text="The episodes you may see, oldest first."
    )

    @extend_schema_field(serializers.CharField(allow_blank=True, allow_null=True))
    def get_email(self, client) -> str | None:
        return client.email if client.contact_visible else None

    @extend_schema_field(serializers.CharField(allow_blank=True, allow_null=True))
    def get_name(self, client) -> str | None:
        return client.name if client.contact_visible else None


def _with_visible_episodes(queryset, user):
    # Only the episodes the user may see: a supervisor must not learn of a client's episode
    # with a therapist outside their teams.
    queryset = queryset.annotate(contact_visible=contact_visible_annotation(user))
    return queryset.select_related("clinic").prefetch_related(
        Prefetch(
            "episodes",
            queryset=episodes_visible_to(user).select_related("therapist").order_by("started_on"),
            to_attr="visible_episodes",
        )
    )


def _client_output(request, client_id) -> dict:
    client = _with_visible_episodes(clients_visible_to(request.user), request.user).get(
        pk=client_id
    )
    return ClientOutput(client).data


class ClientFields(StrictInput):
    label = serializers.CharField(max_length=40, help_text="Pseudonymous label, e.g. C-0042.")
    email = serializers.EmailField(required=False, allow_blank=True, default="")
    name = serializers.CharField(required=False, allow_blank=True, max_length=200, default="")
    timezone = serializers.CharField(required=False, max_length=64, default="Europe/London")
    language = serializers.CharField(required=False, max_length=10, default="en")
    therapist = serializers.CharField(
        required=False,
        max_length=150,
        help_text="Username of the first episode's therapist; yourself when omitted.",
    )
    started_on = serializers.DateField(
        required=False, help_text="Start of the first episode; today when omitted."
    )


def _new_client(request, clinic, fields: dict) -> NewClient:
    username = fields.get("therapist")
    if username is None:
        therapist = request.user
    else:
        therapist = staff_member_named(clinic=clinic, username=username)
    extra = {}
    if therapist is None:
        extra["therapist"] = ["No staff member of this clinic has this username."]
    return NewClient(
        label=fields["label"],
        therapist=therapist,
        email=fields.get("email", ""),
        name=fields.get("name", ""),
        timezone=fields.get("timezone", "Europe/London"),
        language=fields.get("language", "en"),
        started_on=fields.get("started_on"),
        extra_errors=extra,
    )


class ClientFilter(StrictInput):
    label = serializers.CharField(required=False, max_length=40, help_text="Exact label.")
    active = serializers.BooleanField(
        required=False, allow_null=True, default=None, help_text="Has an active episode."
    )


class ClientListCreateApi(GenericAPIView):
    pagination_class = ApiPagination
    serializer_class = ClientOutput
    query_serializer_class = ClientFilter

    class ClientCreateInput(ClientFields):
        clinic = serializers.SlugField(required=False, help_text="Needed if you work in several.")

    @extend_schema(parameters=[ClientFilter], responses=ClientOutput(many=True))
    def get(self, request):
        query = ClientFilter(data=request.query_params)
        query.is_valid(raise_exception=True)
        clients = clients_visible_to(request.user).order_by("label", "pk")
        if "label" in query.validated_data:
            clients = clients.filter(label=query.validated_data["label"])
        active = query.validated_data.get("active")
        if active is not None:
            with_active = episodes_visible_to(request.user).filter(ended_on__isnull=True)
            in_active = clients.filter(pk__in=with_active.values("client_id"))
            clients = in_active if active else clients.exclude(pk__in=in_active.values("pk"))
        page = self.paginate_queryset(_with_visible_episodes(clients, request.user))
        audit_api_read(request, page, what="clients")
        return self.get_paginated_response(ClientOutput(page, many=True).data)

    @extend_schema(request=ClientCreateInput, responses={201: ClientOutput})
    def post(self, request):
        payload = self.ClientCreateInput(data=request.data)
        payload.is_valid(raise_exception=True)
        clinic = clinic_for(request.user, payload.validated_data.get("clinic"))
        new_client = _new_client(request, clinic, payload.validated_data)
        try:
            client = client_create(
                actor=request.user, clinic=clinic, new_client=new_client, request=request
            )
        except ClientDataInvalid as error:
            raise ValidationError(error.errors) from error
        return Response(_client_output(request, client.pk), status=status.HTTP_201_CREATED)


class ClientDetailApi(APIView):
    class ClientUpdateInput(StrictInput):
        label = serializers.CharField(required=False, max_length=40)
        email = serializers.EmailField(required=False, allow_blank=True)
        name = serializers.CharField(required=False, allow_blank=True, max_length=200)
        timezone = serializers.CharField(required=False, max_length=64)
        language = serializers.CharField(required=False, max_length=10)

    @extend_schema(responses=ClientOutput)
    def get(self, request, client_id: int):
        client = client_for(request.user, client_id)
        audit_api_read(request, [client], what="client")
        return Response(_client_output(request, client.pk))

    @extend_schema(request=ClientUpdateInput, responses=ClientOutput)
    def patch(self, request, client_id: int):
        # Only the care team of the current episode changes the record (a former therapist must
        # not redirect the current therapist's links): for anyone else it is not there to change.
        client = get_object_or_404(clients_with_contact_visible_to(request.user), pk=client_id)
        payload = self.ClientUpdateInput(data=request.data)
        payload.is_valid(raise_exception=True)
        try:
            client_update(
                actor=request.user, client=client, request=request, **payload.validated_data
            )
        except ClientDataInvalid as error:
            raise ValidationError(error.errors) from error
        return Response(_client_output(request, client.pk))


class BulkCreateOutput(serializers.Serializer):
    dry_run = serializers.BooleanField()
    count = serializers.IntegerField(help_text="Rows created (in a dry run: that would be).")
    clients = ClientOutput(many=True, help_text="The clients created (empty in a dry run).")


class ClientBulkCreateApi(APIView):
    """Create many clients at once, all or none: if any row is invalid, nothing is created and
    ``clients`` in the 400 answer lists each row's errors at its position."""

    class ClientBulkInput(StrictInput):
        clinic = serializers.SlugField(required=False)
        dry_run = serializers.BooleanField(required=False, default=False)
        clients = ClientFields(many=True, allow_empty=False, max_length=5000)

    @extend_schema(
        request=ClientBulkInput, responses={201: BulkCreateOutput, 200: BulkCreateOutput}
    )
    def post(self, request):
        payload = self.ClientBulkInput(data=request.data)
        payload.is_valid(raise_exception=True)
        clinic = clinic_for(request.user, payload.validated_data.get("clinic"))
        rows = payload.validated_data["clients"]
        dry_run = payload.validated_data["dry_run"]
        try:
            created = clients_bulk_create(
                actor=request.user,
                clinic=clinic,
                new_clients=[_new_client(request, clinic, row) for row in rows],
                dry_run=dry_run,
                request=request,
            )
        except BulkClientsInvalid as error:
            raise ValidationError(
                {"clients": [error.row_errors.get(index, {}) for index in range(len(rows))]}
            ) from error
        except ClientDataInvalid as error:
            raise ValidationError(error.errors) from error
        clients = _with_visible_episodes(
            clients_visible_to(request.user).filter(pk__in=[c.pk for c in created]), request.user
        ).order_by("pk")
        body = {"dry_run": dry_run, "count": len(rows), "clients": clients}
        return Response(
            BulkCreateOutput(body).data,
            status=status.HTTP_200_OK if dry_run else status.HTTP_201_CREATED,
        )


class ImportOutput(serializers.Serializer):
    dry_run = serializers.BooleanField()
    count = serializers.IntegerField()


class RowErrorOutput(serializers.Serializer):
    line = serializers.IntegerField(help_text="Line of the file (the header is line 1).")
    errors = serializers.DictField(child=serializers.ListField(child=serializers.CharField()))


class ImportErrorOutput(serializers.Serializer):
    rows = RowErrorOutput(many=True, required=False)
    file = serializers.ListField(child=serializers.CharField(), required=False)


class ClientImportApi(APIView):
    """Import clients from a CSV file (UTF-8, a header row with the columns ``label`` and
    ``therapist`` (username), and optionally ``email``, ``name``, ``timezone``, ``language``,
    ``started_on`` (YYYY-MM-DD)). All rows or none: any invalid row makes the answer a 400 with
    every invalid row's errors, and nothing is created."""

    parser_classes = [MultiPartParser]

    class ClientImportInput(StrictInput):
        file = serializers.FileField()
        clinic = serializers.SlugField(required=False)
        dry_run = serializers.BooleanField(required=False, default=False)

    @extend_schema(
        request={"multipart/form-data": ClientImportInput},
        responses={
            201: ImportOutput,
            200: ImportOutput,
            400: OpenApiResponse(ImportErrorOutput, "Per-row errors; nothing was created."),
        },
    )
    def post(self, request):
        payload = self.ClientImportInput(data=request.data)
        payload.is_valid(raise_exception=True)
        clinic = clinic_for(request.user, payload.validated_data.get("clinic"))
        dry_run = payload.validated_data["dry_run"]
        try:
            result = clients_import_csv(
                actor=request.user,
                clinic=clinic,
                stream=payload.validated_data["file"],
                dry_run=dry_run,
                request=request,
            )
        except ImportInvalid as error:
            # Not a ValidationError: that would turn the line numbers into strings.
            return Response(
                ImportErrorOutput(error.as_dict()).data, status=status.HTTP_400_BAD_REQUEST
            )
        return Response(
            ImportOutput({"dry_run": dry_run, "count": result.count}).data,
            status=status.HTTP_200_OK if dry_run else status.HTTP_201_CREATED,
        )
