"""Write audit events. Details must carry identifiers only: no health data, no client names."""

import json

from django.db import connection
from django.utils import timezone

from audit.models import AuditEvent
from lib.request_address import client_ip


def audit_record(
    *,
    actor,
    action: str,
    obj=None,
    clinic=None,
    client=None,
    request=None,
    details: dict | None = None,
) -> AuditEvent:
    return audit_records(
        actor=actor,
        action=action,
        objects=[(obj, details)],
        clinic=clinic,
        client=client,
        request=request,
    )[0]


def audit_records(
    *,
    actor,
    action: str,
    objects: list[tuple[object, dict | None]],
    clinic=None,
    client=None,
    request=None,
) -> list[AuditEvent]:
    """``audit_record`` for several objects that one write touched (a check-in's forms): one event
    per ``(object, details)`` pair, the same actor, action, clinic and client, in one insert."""
    is_user = actor is not None and getattr(actor, "is_authenticated", False)
    # Behind a proxy REMOTE_ADDR is the proxy's: the same rule as the sign-in lockout.
    ip_address = client_ip(request) if request is not None else None
    events = [
        AuditEvent(
            actor=actor if is_user else None,
            actor_label=actor.get_username() if is_user else "system",
            action=action,
            object_type=obj._meta.label_lower if obj is not None else "",
            object_id=str(obj.pk) if obj is not None else "",
            clinic=clinic,
            client=client,
            ip_address=ip_address,
            details=details or {},
        )
        for obj, details in objects
    ]
    if len(events) == 1:
        events[0].save(force_insert=True)
        return events
    return AuditEvent.objects.bulk_create(events)


def audit_client_view(request, client, *, what: str = "client") -> AuditEvent:
    """Record that the signed-in user viewed ``client``'s data on a page or API call.

    ``what`` names the surface (``"client"``, ``"trajectory"``, ``"api.client"``...), never data.
    """
    return audit_record(
        actor=request.user,
        action="client.view",
        obj=client,
        clinic=client.clinic,
        client=client,
        request=request,
        details={"view": what},
    )


def audit_clients_listed(*, actor, clients, request=None, surface: str) -> int:
    """Record that ``actor`` saw these clients on a list page (the caseload, the alerts page): a
    ``client.view`` entry per client, as if each had been opened, since labels, scores and
    alerts are on the page. Written with one bulk insert, so a 300-client caseload costs one
    query (Django splits it only past the database's parameter limit), not one per client.
    Returns the number of entries."""
    if actor is None or not getattr(actor, "is_authenticated", False):
        return 0
    unique = {client.pk: client for client in clients}
    if not unique:
        return 0
    at = timezone.now()
    ip_address = client_ip(request) if request is not None else None
    if connection.vendor == "sqlite":
        return _clients_listed_insert_sqlite(
            actor=actor, clients=unique.values(), at=at, ip_address=ip_address, surface=surface
        )
    if connection.vendor == "postgresql":
        return _clients_listed_insert_postgresql(
            actor=actor, clients=unique.values(), at=at, ip_address=ip_address, surface=surface
        )
    events = [
        AuditEvent(
            at=at,
            actor=actor,
            actor_label=actor.get_username(),
            action="client.view",
            object_type=client._meta.label_lower,
            object_id=str(client.pk),
            clinic_id=client.clinic_id,
            client_id=client.pk,
            ip_address=ip_address,
            details={"view": surface},
        )
        for client in unique.values()
    ]
    AuditEvent.objects.bulk_create(events)
    return len(events)


def _clients_listed_insert_sqlite(*, actor, clients, at, ip_address, surface: str) -> int:
    """The same rows in one INSERT ... SELECT over a JSON array of (client, clinic) ids.

    Django (5.2) caps an SQLite statement at 999 bound values, so ``bulk_create`` of these
    ten-column rows takes one query per 99 clients: 44 queries for a 3,000-client clinic page.
    Only the two ids vary per row; everything else is bound once.
    """
    clients = list(clients)
    ids = [[client.pk, client.clinic_id] for client in clients]
    fields = {field.name: field for field in AuditEvent._meta.fields}
    constants = [
        fields["at"].get_db_prep_save(at, connection),
        actor.pk,
        actor.get_username(),
        "client.view",
        clients[0]._meta.label_lower,
        fields["ip_address"].get_db_prep_save(ip_address, connection),
        fields["details"].get_db_prep_save({"view": surface}, connection),
    ]
    table = connection.ops.quote_name(AuditEvent._meta.db_table)
    with connection.cursor() as cursor:
        # Only the quoted table name is formatted in; every value is bound.
        cursor.execute(
            f"INSERT INTO {table} (at, actor_id, actor_label, action, object_type, "  # noqa: S608
            "ip_address, details, object_id, client_id, clinic_id) "
            "SELECT %s, %s, %s, %s, %s, %s, %s, CAST(json_extract(value, '$[0]') AS TEXT), "
            "json_extract(value, '$[0]'), json_extract(value, '$[1]') FROM json_each(%s)",
            [*constants, json.dumps(ids)],
        )
    return len(ids)


def _clients_listed_insert_postgresql(*, actor, clients, at, ip_address, surface: str) -> int:
    """The same rows in one INSERT ... SELECT over two arrays (client ids, clinic ids).

    ``bulk_create`` binds ten values per row, each prepared in Python: a 500-client caseload
    spent ~30 ms of its page preparing 5,000 parameters (issue 18). Here only the two id arrays
    vary; the other columns are bound once, with casts, since a bare parameter in a SELECT list
    would be read as text.
    """
    clients = list(clients)
    fields = {field.name: field for field in AuditEvent._meta.fields}
    table = connection.ops.quote_name(AuditEvent._meta.db_table)
    with connection.cursor() as cursor:
        # Only the quoted table name is formatted in; every value is bound.
        cursor.execute(
            f"INSERT INTO {table} (at, actor_id, actor_label, action, object_type, "  # noqa: S608
            "ip_address, details, object_id, client_id, clinic_id) "
            "SELECT %s::timestamptz, %s, %s, %s, %s, %s::inet, %s::jsonb, listed.client::text, "
            "listed.client, listed.clinic FROM unnest(%s::bigint[], %s::bigint[]) "
            "AS listed(client, clinic)",
            [
                at,
                actor.pk,
                actor.get_username(),
                "client.view",
                clients[0]._meta.label_lower,
                ip_address,
                fields["details"].get_db_prep_save({"view": surface}, connection),
                [client.pk for client in clients],
                [client.clinic_id for client in clients],
            ],
        )
    return len(clients)
