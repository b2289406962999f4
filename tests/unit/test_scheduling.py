"""Weekly due times stay at the client's local wall-clock time across daylight-saving changes."""

from datetime import UTC, date, datetime, time, timedelta

import pytest

from clients.scheduling import (
    days_after,
    local_moment_in_words,
    local_slot_to_utc,
    next_weekly_due,
    weekly_due_at_or_before,
)

LONDON = "Europe/London"
MONDAY = 0
SUNDAY = 6
NINE = time(9, 0)


def utc(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


def test_nine_in_london_is_nine_utc_in_winter_and_eight_utc_in_summer():
    assert local_slot_to_utc(day=date(2026, 1, 5), local_time=NINE, zone_name=LONDON) == utc(
        2026, 1, 5, 9
    )
    assert local_slot_to_utc(day=date(2026, 7, 6), local_time=NINE, zone_name=LONDON) == utc(
        2026, 7, 6, 8
    )


def test_weekly_sunday_nine_keeps_its_local_time_across_the_march_change():
    # Clocks go forward at 01:00 UTC on Sunday 29 March 2026.
    before = weekly_due_at_or_before(
        moment=utc(2026, 3, 28, 12), weekday=SUNDAY, local_time=NINE, zone_name=LONDON
    )
    assert before == utc(2026, 3, 22, 9)
    after = next_weekly_due(after=before, weekday=SUNDAY, local_time=NINE, zone_name=LONDON)
    assert after == utc(2026, 3, 29, 8)  # 09:00 BST on the very day of the change
    assert after - before == timedelta(days=7, hours=-1)  # one local week is 167 hours here
    assert next_weekly_due(after=after, weekday=SUNDAY, local_time=NINE, zone_name=LONDON) == utc(
        2026, 4, 5, 8
    )


def test_weekly_sunday_nine_keeps_its_local_time_across_the_october_change():
    # Clocks go back at 01:00 UTC on Sunday 25 October 2026.
    last_summer = utc(2026, 10, 18, 8)
    change_day = next_weekly_due(
        after=last_summer, weekday=SUNDAY, local_time=NINE, zone_name=LONDON
    )
    assert change_day == utc(2026, 10, 25, 9)  # 09:00 GMT
    assert change_day - last_summer == timedelta(days=7, hours=1)
    assert next_weekly_due(
        after=change_day, weekday=SUNDAY, local_time=NINE, zone_name=LONDON
    ) == utc(2026, 11, 1, 9)


def test_every_due_time_of_a_year_is_nine_local_and_on_the_chosen_weekday():
    from zoneinfo import ZoneInfo

    due = weekly_due_at_or_before(
        moment=utc(2026, 1, 1), weekday=MONDAY, local_time=NINE, zone_name=LONDON
    )
    for _ in range(60):
        local = due.astimezone(ZoneInfo(LONDON))
        assert (local.weekday(), local.hour, local.minute) == (MONDAY, 9, 0)
        assert due.tzinfo == UTC
        due = next_weekly_due(after=due, weekday=MONDAY, local_time=NINE, zone_name=LONDON)


def test_the_slot_at_or_before_a_moment_includes_the_moment_itself():
    slot = utc(2026, 3, 30, 8)  # Monday 09:00 BST
    assert (
        weekly_due_at_or_before(moment=slot, weekday=MONDAY, local_time=NINE, zone_name=LONDON)
        == slot
    )
    one_second_early = slot - timedelta(seconds=1)
    assert weekly_due_at_or_before(
        moment=one_second_early, weekday=MONDAY, local_time=NINE, zone_name=LONDON
    ) == utc(2026, 3, 23, 9)


def test_a_time_in_the_spring_gap_moves_past_the_gap():
    # 01:30 on 29 March 2026 does not exist in London; it is read as 01:30 GMT = 02:30 BST.
    due = local_slot_to_utc(day=date(2026, 3, 29), local_time=time(1, 30), zone_name=LONDON)
    assert due == utc(2026, 3, 29, 1, 30)


def test_a_time_that_happens_twice_in_autumn_takes_the_first():
    # 01:30 on 25 October 2026 happens at 00:30 UTC (BST) and again at 01:30 UTC (GMT).
    due = local_slot_to_utc(day=date(2026, 10, 25), local_time=time(1, 30), zone_name=LONDON)
    assert due == utc(2026, 10, 25, 0, 30)


def test_the_local_weekday_decides_not_the_utc_one():
    # Monday 09:00 in Auckland (NZDT, +13) is Sunday 20:00 UTC.
    due = weekly_due_at_or_before(
        moment=utc(2026, 1, 5, 0), weekday=MONDAY, local_time=NINE, zone_name="Pacific/Auckland"
    )
    assert due == utc(2026, 1, 4, 20)


def test_new_york_changes_on_its_own_dates():
    # US clocks go forward on 8 March 2026, three weeks before Europe's.
    before = next_weekly_due(
        after=utc(2026, 3, 1, 12), weekday=MONDAY, local_time=NINE, zone_name="America/New_York"
    )
    assert before == utc(2026, 3, 2, 14)
    assert next_weekly_due(
        after=before, weekday=MONDAY, local_time=NINE, zone_name="America/New_York"
    ) == utc(2026, 3, 9, 13)


def test_a_naive_moment_is_refused():
    with pytest.raises(ValueError):
        weekly_due_at_or_before(
            moment=datetime(2026, 1, 1), weekday=MONDAY, local_time=NINE, zone_name=LONDON
        )


def test_reminder_and_expiry_count_elapsed_days():
    sent = utc(2026, 3, 28, 9)
    assert days_after(sent, 2) == utc(2026, 3, 30, 9)


@pytest.mark.parametrize(
    ("moment", "zone", "words"),
    [
        (datetime(2026, 12, 7, 9, 0, tzinfo=UTC), "Europe/London", "Monday 7 December, 09:00 GMT"),
        (datetime(2026, 7, 6, 8, 0, tzinfo=UTC), "Europe/London", "Monday 6 July, 09:00 BST"),
        (datetime(2026, 12, 7, 9, 0, tzinfo=UTC), "Europe/Berlin", "Monday 7 December, 10:00 CET"),
        # zoneinfo has no letters for São Paulo ("-03"): the offset says it.
        (
            datetime(2026, 12, 7, 9, 0, tzinfo=UTC),
            "America/Sao_Paulo",
            "Monday 7 December, 06:00 UTC-03:00",
        ),
        (
            datetime(2026, 12, 7, 9, 0, tzinfo=UTC),
            "Asia/Kolkata",
            "Monday 7 December, 14:30 IST",
        ),
    ],
)
def test_a_moment_is_told_in_the_clients_zone_with_the_zone_named(moment, zone, words):
    assert local_moment_in_words(moment=moment, zone_name=zone) == words
