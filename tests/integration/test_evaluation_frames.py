"""The sweep's frames, read as integer microseconds without Django's per-value timestamp
converter, hold exactly what the ORM reads, to the microsecond, on SQLite and PostgreSQL, by
either reader: plain rows (one submission's episode) and, on PostgreSQL, COPY (a sweep's chunk)."""

from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest
from django.db import connection

from clients.models import CheckIn, CheckInStatus
from outcomes import evaluation
from outcomes.evaluation import (
    CHECKIN_STATUS_FOR_RULES,
    _copy_frame,
    administrations_frame,
    checkins_frame,
)
from outcomes.models import Administration
from tests.integration.evaluation_support import checkin, phq9


@pytest.fixture(params=["rows", "copy", "rows, one episode a batch", "copy, one episode a batch"])
def reader(request, monkeypatch):
    """Which reader the frames use: COPY from one episode on, or plain rows for any number; and
    the whole id list in one statement, or one statement per episode (``READ_BATCH``, as a sweep
    chunk is read), the pieces joined, an episode with no rows among them."""
    if request.param.startswith("copy"):
        if connection.vendor != "postgresql":
            pytest.skip("COPY is PostgreSQL's")
        monkeypatch.setattr(evaluation, "COPY_FROM_EPISODES", 1)
    else:
        monkeypatch.setattr(evaluation, "COPY_FROM_EPISODES", 10**9)
    if request.param.endswith("batch"):
        monkeypatch.setattr(evaluation, "READ_BATCH", 1)
    return request.param


def orm_times(queryset, field):
    return pd.to_datetime(list(queryset.order_by("pk").values_list(field, flat=True)), utc=True)


def stored_form(episode, administered_at):
    return Administration.objects.create(
        episode=episode,
        instrument="phq9",
        instrument_version="1",
        administered_at=administered_at,
        answers=phq9(5),
        total=5,
        valid=True,
    )


def test_the_frames_hold_the_orms_timestamps_to_the_microsecond(cast, reader):
    late = datetime(2026, 3, 29, 1, 59, 59, 999999, tzinfo=UTC)  # just before a DST change
    for moment in (
        late,
        late - timedelta(microseconds=1),
        late + timedelta(microseconds=1),  # whole seconds: no fraction stored
        datetime(1999, 12, 31, 23, 59, 59, 1, tzinfo=UTC),
        datetime(2001, 1, 1, tzinfo=UTC),
        datetime(2026, 7, 1, 12, 0, 0, 123456, tzinfo=UTC),
    ):
        stored_form(cast.episode, moment)
    stored_form(cast.other_episode, late - timedelta(days=3, microseconds=10))
    for weeks_ago, status in ((1, CheckInStatus.EXPIRED), (2.000001, CheckInStatus.COMPLETED)):
        checkin(cast.episode, status=status, weeks_ago=weeks_ago)
    episodes = [cast.episode.pk, cast.other_episode.pk]

    administrations = administrations_frame(episode_ids=episodes).sort_values("administration_id")
    expected = orm_times(Administration.objects.all(), "administered_at")
    assert list(administrations["administered_at"]) == list(expected)
    assert str(administrations["administered_at"].dtype) == "datetime64[us, UTC]"

    checkins = checkins_frame(episode_ids=episodes).sort_values("checkin_id")
    stored = CheckIn.objects.filter(status__in=list(CHECKIN_STATUS_FOR_RULES))
    assert list(checkins["due_at"]) == list(orm_times(stored, "due_at"))


def test_the_frames_hold_every_column_the_orm_reads_missing_scores_included(cast, reader):
    # On PostgreSQL the frames come from COPY's text format: a null total, each risk state and
    # each check-in status must survive the parse.
    at = datetime(2026, 3, 1, 9, 30, tzinfo=UTC)
    scored = stored_form(cast.episode, at)
    unscored = stored_form(cast.episode, at + timedelta(days=7))
    Administration.objects.filter(pk=unscored.pk).update(total=None, valid=False, risk="unknown")
    Administration.objects.filter(pk=scored.pk).update(risk="yes")
    for weeks_ago, status in (
        (3, CheckInStatus.COMPLETED),
        (2, CheckInStatus.EXPIRED),
        (1, CheckInStatus.PENDING),
        (0.5, CheckInStatus.CANCELLED),
    ):
        checkin(cast.episode, status=status, weeks_ago=weeks_ago)
    episodes = [cast.episode.pk, cast.other_episode.pk]

    administrations = administrations_frame(episode_ids=episodes)
    administrations = administrations.sort_values("administration_id")
    expected = list(
        Administration.objects.order_by("pk").values_list("episode_id", "pk", "instrument", "risk")
    )
    assert (
        list(
            administrations[["episode_id", "administration_id", "instrument", "risk"]].itertuples(
                index=False, name=None
            )
        )
        == expected
    )
    assert administrations["total"].tolist()[0] == 5.0
    assert pd.isna(administrations["total"].tolist()[1])

    checkins = checkins_frame(episode_ids=episodes).sort_values("checkin_id")
    assert checkins["status"].tolist() == ["completed", "missed", "pending"]
    assert checkins["episode_id"].tolist() == [cast.episode.pk] * 3
    assert checkins_frame(episode_ids=[cast.other_episode.pk]).empty
    assert administrations_frame(episode_ids=[cast.other_episode.pk]).empty
    assert administrations["total"].dtype == "float64"
    assert administrations["episode_id"].dtype == checkins["checkin_id"].dtype == "int64"


@pytest.mark.postgres
@pytest.mark.django_db
def test_copy_refuses_text_it_cannot_parse_rather_than_misreading_it():
    number, missing = _copy_frame("SELECT 1, NULL::float", dtypes=["int64", "float64"])
    assert number.tolist() == [1] and pd.isna(missing[0])
    with pytest.raises(ValueError, match="escaped text"):
        _copy_frame("SELECT 1, E'adm:1\\t2'", dtypes=["int64", "str"])
