"""Onboarding a client from the staff pages: the client, their first episode, its measurement
plan (the clinic default or the forms and schedule chosen) and, when asked, the first check-in
sent at once, all or nothing.

Each step is the service the API uses (``client_create``, ``plan_set``,
``checkin_create_one_off``); this module only chains them in one transaction, so a form that
fails at the plan or the mail leaves no half-made client behind to be found under its label.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import time

from django.db import transaction

from clients.checkins import (
    CheckInInvalid,
    PlanInvalid,
    checkin_create_one_off,
    plan_instruments_errors,
    plan_set,
)
from clients.models import Client, Clinic, Schedule
from clients.services import ClientDataInvalid, NewClient, client_create, new_client_errors


@dataclass(frozen=True)
class PlanChoice:
    """Forms and schedule chosen instead of the clinic default."""

    instruments: tuple[str, ...]
    schedule: str = Schedule.WEEKLY
    weekday: int = 0
    local_time: time | None = None
    session_rating_after_sessions: bool = True


def client_onboard(
    *,
    actor,
    clinic: Clinic,
    new_client: NewClient,
    plan: PlanChoice | None = None,
    send_first_checkin_now: bool = False,
    request=None,
) -> Client:
    """Create the client with their first episode; ``plan`` replaces the clinic default; with
    ``send_first_checkin_now`` the plan's forms are e-mailed at once (the outbox sends the mail
    after commit). Raises ClientDataInvalid with every field's errors; nothing is saved then."""
    errors = new_client_errors(actor=actor, clinic=clinic, new_client=new_client)
    if plan is not None:
        plan_errors = plan_instruments_errors(clinic=clinic, codes=list(plan.instruments))
        if plan_errors:
            errors.setdefault("instruments", []).extend(plan_errors)
    if send_first_checkin_now and not new_client.email:
        errors.setdefault("email", []).append(
            "An e-mail address is needed to send the first check-in now."
        )
    if errors:
        raise ClientDataInvalid(errors)
    with transaction.atomic():
        client = client_create(actor=actor, clinic=clinic, new_client=new_client, request=request)
        episode = client.episodes.get()
        if plan is not None:
            try:
                plan_set(
                    episode=episode,
                    instruments=list(plan.instruments),
                    schedule=plan.schedule,
                    weekday=plan.weekday,
                    local_time=plan.local_time,
                    session_rating_after_sessions=plan.session_rating_after_sessions,
                    actor=actor,
                )
            except PlanInvalid as error:
                raise ClientDataInvalid({"instruments": error.errors}) from error
        if send_first_checkin_now:
            try:
                checkin_create_one_off(episode=episode, actor=actor, request=request)
            except CheckInInvalid as error:
                messages = [message for group in error.errors.values() for message in group]
                raise ClientDataInvalid({"send_first_checkin_now": messages}) from error
    return client
