"""Writes made from the therapist's pages that no other app owns yet: timeline events.

Alerts change state through ``outcomes.services``, measurement plans through ``clients.checkins``
and episodes close through ``clients.services.episode_close``; the views call those directly.
"""

from datetime import date

from django.db import transaction
from django.utils import timezone

from audit.services import audit_record
from clients.models import EventKind, TimelineEvent


class TimelineEventInvalid(ValueError):
    def __init__(self, errors: dict[str, list[str]]):
        super().__init__("; ".join(" ".join(messages) for messages in errors.values()))
        self.errors = errors


def timeline_event_create(
    *, episode, occurred_on: date, kind: str, note: str = "", user, request=None
) -> TimelineEvent:
    """Mark something that happened in the episode (a medication change...) so that charts show
    it next to the scores. The audit entry names the kind only: the note may hold health data."""
    errors: dict[str, list[str]] = {}
    if kind not in EventKind.values:
        errors["kind"] = ["Choose a kind of event."]
    if occurred_on > timezone.localdate():
        errors["occurred_on"] = ["The date cannot be in the future."]
    elif occurred_on < episode.started_on:
        errors["occurred_on"] = ["The date cannot be before the episode started."]
    if errors:
        raise TimelineEventInvalid(errors)
    with transaction.atomic():
        event = TimelineEvent.objects.create(
            episode=episode, occurred_on=occurred_on, kind=kind, note=note, created_by=user
        )
        audit_record(actor=user, action="timeline_event.create", obj=event, clinic=episode.clinic,
                     client=episode.client, request=request, details={"kind": kind})  # fmt: skip
    return event
