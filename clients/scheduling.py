"""When check-ins fall due: pure date arithmetic in the client's own time zone (no Django, no DB).

A weekly plan says "Mondays at 09:00" in the client's zone; the stored due time is UTC. The local
wall-clock time is what must stay fixed across daylight-saving changes (09:00 London is 09:00 UTC
in winter and 08:00 UTC in summer), so every step is done on local dates and converted last.

Two wall-clock oddities are resolved deterministically, as Python's ``zoneinfo`` does (PEP 495):

* a time that does not exist (inside the spring-forward gap, e.g. 01:30 in London on the last
  Sunday of March) is read with the offset before the change, which lands it after the gap
  (01:30 GMT = 02:30 BST);
* a time that happens twice (autumn fall-back) takes its first occurrence (``fold=0``).

Either way one local slot maps to exactly one UTC instant, which is what makes the check-in's
unique (episode, kind, due_at) constraint a reliable idempotency key.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo


def _zone(zone_name: str) -> ZoneInfo:
    return ZoneInfo(zone_name)


def local_slot_to_utc(*, day: date, local_time: time, zone_name: str) -> datetime:
    """The UTC instant of ``local_time`` on ``day`` in ``zone_name`` (see the module docstring
    for times that fall in a daylight-saving gap or overlap)."""
    local = datetime.combine(day, local_time.replace(tzinfo=None), tzinfo=_zone(zone_name))
    return local.astimezone(UTC)


def weekly_due_at_or_before(
    *, moment: datetime, weekday: int, local_time: time, zone_name: str
) -> datetime:
    """The latest weekly slot (``weekday`` 0 = Monday, at ``local_time`` local) not after
    ``moment``, in UTC. ``moment`` must be timezone-aware."""
    if moment.tzinfo is None:
        raise ValueError("moment must be timezone-aware")
    local_day = moment.astimezone(_zone(zone_name)).date()
    day = local_day - timedelta(days=(local_day.weekday() - weekday) % 7)
    due = local_slot_to_utc(day=day, local_time=local_time, zone_name=zone_name)
    if due > moment:
        due = local_slot_to_utc(
            day=day - timedelta(days=7), local_time=local_time, zone_name=zone_name
        )
    return due


def next_weekly_due(*, after: datetime, weekday: int, local_time: time, zone_name: str) -> datetime:
    """The first weekly slot strictly after ``after``, in UTC."""
    latest = weekly_due_at_or_before(
        moment=after, weekday=weekday, local_time=local_time, zone_name=zone_name
    )
    latest_day = latest.astimezone(_zone(zone_name)).date()
    # Step a week on the local calendar, never by 7 × 24 h: across a DST change those differ.
    return local_slot_to_utc(
        day=latest_day + timedelta(days=7), local_time=local_time, zone_name=zone_name
    )


def days_after(moment: datetime, days: int) -> datetime:
    """``moment`` plus ``days`` whole days of elapsed time (reminders and expiry are durations the
    client experiences, so 48 hours is "2 days" whatever the clock does in between)."""
    return moment + timedelta(days=days)


def local_moment_in_words(*, moment: datetime, zone_name: str) -> str:
    """``moment`` as the client reads it, with the zone named: "Monday 7 December, 09:00 GMT".

    A bare "09:00" is wrong by an hour or more for a client who is travelling, or whose clinic
    is in another zone. Zones without a lettered abbreviation (zoneinfo gives "-03") are named
    by their offset from UTC instead: "UTC-03:00"."""
    local = moment.astimezone(_zone(zone_name))
    abbreviation = local.tzname() or ""
    if not abbreviation.isalpha():
        offset = local.strftime("%z")  # "-0300"
        abbreviation = f"UTC{offset[0]}{offset[1:3]}:{offset[3:]}"
    return f"{local:%A} {local.day} {local:%B}, {local:%H:%M} {abbreviation}"
