"""Small factories for the fixed cast of tests (no factory library: plain functions are enough)."""

import itertools
from datetime import timedelta

from django.contrib.auth import get_user_model
from django.utils import timezone

from clients.models import Client, Clinic, Episode, Membership, Role, Team

_counter = itertools.count(1)


def make_clinic(name="Riverside Therapies", **fields) -> Clinic:
    slug = fields.pop("slug", f"clinic-{next(_counter)}")
    return Clinic.objects.create(name=name, slug=slug, **fields)


def make_staff(clinic, *, role=Role.THERAPIST, teams=(), username=None, password="pw-Test-12345"):
    username = username or f"{role}{next(_counter)}"
    user = get_user_model().objects.create_user(username=username, password=password)
    membership = Membership.objects.create(user=user, clinic=clinic, role=role)
    membership.teams.set(teams)
    return user


def make_client(clinic, *, label=None, **fields) -> Client:
    label = label or f"C-{next(_counter):04d}"
    fields.setdefault("email", f"{label.lower()}@example.org")
    return Client.objects.create(clinic=clinic, label=label, **fields)


def make_episode(client, therapist, *, weeks_ago=6, **fields) -> Episode:
    fields.setdefault("started_on", (timezone.now() - timedelta(weeks=weeks_ago)).date())
    return Episode.objects.create(
        client=client, clinic=client.clinic, therapist=therapist, **fields
    )


def make_team(clinic, name=None) -> Team:
    return Team.objects.create(clinic=clinic, name=name or f"Team {next(_counter)}")
