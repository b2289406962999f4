"""Helpers for the alert tests: answers with a chosen total, stored through the real front door."""

from datetime import timedelta

from django.utils import timezone

from clients.models import CheckIn, CheckInKind, CheckInStatus
from outcomes.models import ResponseSource
from outcomes.services import administration_record


def phq9(total: int, *, item9: int | None = 0) -> list:
    """PHQ-9 answers summing to ``total`` (item 9 as given, item 10 unscored)."""
    rest = total - (item9 or 0)
    items = []
    for _ in range(8):
        value = min(3, max(0, rest))
        items.append(value)
        rest -= value
    assert rest == 0, "total out of range for eight items plus item 9"
    return [*items, item9, 0]


def gad7(total: int) -> list:
    items, rest = [], total
    for _ in range(7):
        items.append(min(3, rest))
        rest -= items[-1]
    return items


def record(episode, code: str, answers: list, *, weeks_ago: float, now=None):
    """Store a form as if it had been returned ``weeks_ago`` weeks before ``now``."""
    now = now or timezone.now()
    return administration_record(
        episode=episode,
        instrument_code=code,
        answers=answers,
        source=ResponseSource.PAPER,
        administered_at=now - timedelta(weeks=weeks_ago),
    ).administration


def phq9_course(episode, totals, *, now=None):
    """Weekly PHQ-9 totals, the last one this week."""
    last = len(totals) - 1
    return [
        record(episode, "phq9", phq9(total), weeks_ago=last - week, now=now)
        for week, total in enumerate(totals)
    ]


def checkin(episode, *, status, weeks_ago: float, kind=CheckInKind.SCHEDULED):
    due = timezone.now() - timedelta(weeks=weeks_ago)
    return CheckIn.objects.create(
        episode=episode,
        kind=kind,
        due_at=due,
        instruments=["phq9", "gad7"],
        status=status,
        sent_at=due,
        expires_at=due + timedelta(days=4),
        completed_at=due if status == CheckInStatus.COMPLETED else None,
    )
