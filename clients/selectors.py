"""Scoped reads: what a staff user may see. Every page and API view goes through these, so no
view can forget the scope (a therapist sees only their own clients; a supervisor the clients of
the therapists in the teams they supervise, and their own; a clinic admin the whole clinic)."""

import dataclasses
import math

from django.db.models import Exists, F, OuterRef, Q, QuerySet, Subquery

from clients.models import Client, Clinic, Episode, Membership, Role
from measures.rules import OPERATING_POINTS


def memberships_of(user) -> QuerySet[Membership]:
    if not user.is_authenticated:
        return Membership.objects.none()
    return Membership.objects.filter(user=user).select_related("clinic")


def clinics_of(user) -> QuerySet[Clinic]:
    return Clinic.objects.filter(memberships__user=user).distinct()


def episode_scope_q(user) -> Q:
    """A Q over Episode for everything ``user`` may see (an empty match for strangers)."""
    if not user.is_authenticated:
        return Q(pk__in=[])
    scope = Q(therapist=user)
    for membership in memberships_of(user).prefetch_related("teams"):
        if membership.role == Role.ADMIN:
            scope |= Q(clinic=membership.clinic)
        elif membership.role == Role.SUPERVISOR:
            team_ids = [team.pk for team in membership.teams.all()]
            scope |= Q(
                clinic=membership.clinic,
                therapist__memberships__clinic=membership.clinic,
                therapist__memberships__teams__in=team_ids,
            )
    return scope


def episodes_visible_to(user) -> QuerySet[Episode]:
    return Episode.objects.filter(pk__in=Episode.objects.filter(episode_scope_q(user)).values("pk"))


def clients_visible_to(user) -> QuerySet[Client]:
    return Client.objects.filter(
        pk__in=Episode.objects.filter(episode_scope_q(user)).values("client_id")
    )


def current_episode_id_subquery() -> Subquery:
    """Per client (as ``OuterRef("pk")``): its current episode, the active one, or when none is
    active the one that ended last."""
    return Subquery(
        Episode.objects.filter(client=OuterRef("pk"))
        .order_by(F("ended_on").desc(nulls_first=True), "-started_on", "-pk")
        .values("pk")[:1]
    )


def clients_with_contact_visible_to(user) -> QuerySet[Client]:
    """Clients whose contact details (e-mail, name) ``user`` may read and change: those whose
    *current* episode they see. A former care team keeps its own episodes' history, but the
    address the current therapist's links go to is not theirs to read or redirect."""
    return Client.objects.annotate(current_episode_id=current_episode_id_subquery()).filter(
        current_episode_id__in=Episode.objects.filter(episode_scope_q(user)).values("pk")
    )


def contact_visible_annotation(user) -> Exists:
    """For annotating a Client queryset: may ``user`` see this client's contact details?"""
    return Exists(clients_with_contact_visible_to(user).filter(pk=OuterRef("pk")))


def caseload_episodes(user) -> QuerySet[Episode]:
    """The active episodes a therapist carries personally (the caseload dashboard)."""
    return Episode.objects.filter(therapist=user, ended_on__isnull=True)


def role_in(user, clinic) -> str | None:
    membership = memberships_of(user).filter(clinic=clinic).first()
    return membership.role if membership else None


def clinics_administered_by(user) -> QuerySet[Clinic]:
    """The clinics where ``user`` is a clinic admin, by name: whose alert settings they choose."""
    ids = memberships_of(user).filter(role=Role.ADMIN).values("clinic_id")
    return Clinic.objects.filter(pk__in=ids).order_by("name")


def operating_point_settings(point) -> dict:
    """The Clinic fields an operating point (``measures.rules.OperatingPoint``) sets, by name:
    every field of the point but its description, so a field added to the points is applied and
    compared without a change here (each has a Clinic field of the same name)."""
    return {
        field.name: getattr(point, field.name)
        for field in dataclasses.fields(point)
        if field.name != "description"
    }


def clinic_operating_point(clinic: Clinic) -> str | None:
    """The name of the operating point the clinic's alert settings are, or None when they were
    set one by one (in the Django admin) and match no point."""
    for name, point in OPERATING_POINTS.items():
        wanted = operating_point_settings(point)
        if all(_same_setting(getattr(clinic, key), value) for key, value in wanted.items()):
            return name
    return None


def _same_setting(stored, wanted) -> bool:
    # z values are floats stored as typed (1.6449): equal to the point's within rounding.
    if isinstance(wanted, float) and stored is not None:
        return math.isclose(stored, wanted, abs_tol=1e-6)
    return stored == wanted
