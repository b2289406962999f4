"""Scoped reads: what a staff user may see. Every page and API view goes through these, so no
view can forget the scope (a therapist sees only their own clients; a supervisor the clients of
the therapists in the teams they supervise, and their own; a clinic admin the whole clinic)."""

from django.db.models import Q, QuerySet

from clients.models import Client, Clinic, Episode, Membership, Role


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


def caseload_episodes(user) -> QuerySet[Episode]:
    """The active episodes a therapist carries personally (the caseload dashboard)."""
    return Episode.objects.filter(therapist=user, ended_on__isnull=True)


def role_in(user, clinic) -> str | None:
    membership = memberships_of(user).filter(clinic=clinic).first()
    return membership.role if membership else None
