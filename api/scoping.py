"""Lookups for API views, always through the scoping selectors of ``clients.selectors``, so an
object outside the user's scope (another clinic's, another therapist's) answers 404 exactly like
one that does not exist."""

from django.shortcuts import get_object_or_404
from rest_framework.exceptions import ValidationError

from clients.models import CheckIn, Client, Clinic, Episode
from clients.selectors import clients_visible_to, clinics_of, episodes_visible_to
from outcomes.models import Administration, Alert


def episode_for(user, episode_id) -> Episode:
    return get_object_or_404(
        episodes_visible_to(user).select_related("client", "clinic", "therapist"), pk=episode_id
    )


def client_for(user, client_id) -> Client:
    return get_object_or_404(clients_visible_to(user).select_related("clinic"), pk=client_id)


def alerts_visible_to(user):
    return Alert.objects.filter(episode__in=episodes_visible_to(user))


def alert_for(user, alert_id) -> Alert:
    return get_object_or_404(
        alerts_visible_to(user).select_related("episode__client", "episode__clinic"), pk=alert_id
    )


def checkins_visible_to(user):
    return CheckIn.objects.filter(episode__in=episodes_visible_to(user))


def administrations_visible_to(user):
    return Administration.objects.filter(episode__in=episodes_visible_to(user))


def clinic_for(user, slug: str | None) -> Clinic:
    """The clinic named by ``slug`` among the user's own, or their only clinic when none is
    named. A 400 (it is input, like any other field) when the slug is not one of theirs, without
    saying whether such a clinic exists, or when they must choose."""
    clinics = clinics_of(user)
    if slug:
        clinic = clinics.filter(slug=slug).first()
        if clinic is None:
            raise ValidationError({"clinic": ["You are not a member of a clinic with this slug."]})
        return clinic
    mine = list(clinics[:2])
    if len(mine) == 1:
        return mine[0]
    if not mine:
        raise ValidationError({"clinic": ["You are not a member of any clinic."]})
    raise ValidationError({"clinic": ["You work in several clinics: name one (its slug)."]})
