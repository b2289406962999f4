"""Build episodes with sessions, paired scores, check-ins and alerts for the report tests."""

from datetime import UTC, date, datetime, timedelta

from clients.models import CheckIn, CheckInKind, CheckInStatus, Episode, TreatmentSession
from outcomes.models import Administration, Alert, AlertRule, AlertSeverity, ResponseSource
from tests.factories import make_client

PERIOD_START = date(2026, 1, 1)
PERIOD_END = date(2026, 6, 30)


def at(day: date, hour: int = 10) -> datetime:
    return datetime(day.year, day.month, day.day, hour, tzinfo=UTC)


def add_pair(episode, day: date, phq9: float, gad7: float, *, hour: int = 10) -> None:
    for instrument, total in (("phq9", phq9), ("gad7", gad7)):
        Administration.objects.create(
            episode=episode,
            instrument=instrument,
            administered_at=at(day, hour),
            answers=[],
            total=total,
            source=ResponseSource.IN_SESSION,
        )


def finished_episode(
    clinic,
    therapist,
    *,
    first=(16, 12),
    last=(6, 5),
    sessions=4,
    ended_on=date(2026, 3, 1),
    end_reason="planned",
    label=None,
) -> Episode:
    """An episode that ended in the report period, with paired scores at its start and end."""
    client = make_client(clinic, label=label)
    started_on = ended_on - timedelta(weeks=10)
    episode = Episode.objects.create(
        client=client,
        clinic=clinic,
        therapist=therapist,
        started_on=started_on,
        ended_on=ended_on,
        end_reason=end_reason,
    )
    for week in range(sessions):
        TreatmentSession.objects.create(
            episode=episode, starts_at=at(started_on + timedelta(weeks=week)), attended=True
        )
    if first is not None:
        add_pair(episode, started_on, *first)
    if last is not None:
        add_pair(episode, ended_on - timedelta(days=1), *last)
    return episode


def checkin(episode, *, sent_on: date, completed: bool = False, status=None) -> CheckIn:
    """A check-in sent on ``sent_on``: completed, missed (expired), or ``status`` if given."""
    status = status or (CheckInStatus.COMPLETED if completed else CheckInStatus.EXPIRED)
    return CheckIn.objects.create(
        episode=episode,
        kind=CheckInKind.SCHEDULED,
        due_at=at(sent_on),
        instruments=["phq9", "gad7"],
        sent_at=at(sent_on),
        status=status,
        completed_at=at(sent_on, 12) if status == CheckInStatus.COMPLETED else None,
    )


def south_and_north(clinic, *, north, south) -> None:
    """The audit's case: North (``north``'s team) 13 cases, 3 recovered; South (``south``'s) 10
    finished episodes of which 5 were cases at the start, 3 of them recovered. Together 6 of 18
    recovered: shown, while South's recovery (5 cases) is suppressed."""
    for index in range(13):
        finished_episode(clinic, north, last=(6, 5) if index < 3 else (14, 10))
    for index in range(5):
        finished_episode(clinic, south, last=(6, 5) if index < 3 else (14, 10))
    for _ in range(5):
        finished_episode(clinic, south, first=(5, 4), last=(3, 3))


def urgent_alert(episode, *, raised: datetime, acknowledged: datetime | None, trigger="t"):
    return Alert.objects.create(
        episode=episode,
        clinic=episode.clinic,
        rule=AlertRule.RISK_ITEM,
        trigger=trigger,
        severity=AlertSeverity.URGENT,
        message="Risk item endorsed",
        created_at=raised,
        acknowledged_at=acknowledged,
        state="acknowledged" if acknowledged else "open",
    )
