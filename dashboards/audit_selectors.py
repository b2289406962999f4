"""Reads for the audit log page: a clinic admin sees the events of the clinics they administer."""

from datetime import date

from django.db.models import QuerySet

from audit.models import AuditEvent
from clients.models import Role
from clients.selectors import memberships_of


def audit_clinic_ids_for(user) -> list[int]:
    return list(memberships_of(user).filter(role=Role.ADMIN).values_list("clinic_id", flat=True))


def audit_events_visible_to(user) -> QuerySet[AuditEvent]:
    return AuditEvent.objects.filter(clinic_id__in=audit_clinic_ids_for(user)).select_related(
        "client"
    )


def audit_events_filter(
    events: QuerySet[AuditEvent],
    *,
    actor: str = "",
    action: str = "",
    client_label: str = "",
    date_from: date | None = None,
    date_to: date | None = None,
) -> QuerySet[AuditEvent]:
    if actor:
        events = events.filter(actor_label__iexact=actor)
    if action:
        events = events.filter(action=action)
    if client_label:
        events = events.filter(client__label__iexact=client_label)
    if date_from:
        events = events.filter(at__date__gte=date_from)
    if date_to:
        events = events.filter(at__date__lte=date_to)
    return events


def audit_actions_in(events: QuerySet[AuditEvent]) -> list[str]:
    return sorted(set(events.order_by().values_list("action", flat=True).distinct()))
