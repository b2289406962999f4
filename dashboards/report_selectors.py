"""Reads for supervisors' reports and exports.

Who may see what is decided once, in :func:`report_scope`: a supervisor the teams of their
membership, a clinic admin the whole clinic, a therapist nothing (the views answer 404). Episodes
come from ``clients.selectors.episodes_visible_to``, so a report can never reach further than the
pages do. The loaders return DataFrames (one row per episode, check-in count, alert) that the pure
code in ``dashboards.reports`` turns into figures.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date, timedelta

import numpy as np
import pandas as pd
from django.contrib.auth import get_user_model
from django.db.models import Count, Q, QuerySet

from clients.models import CheckIn, CheckInStatus, Clinic, Episode, Membership, Role, Team
from clients.selectors import episodes_visible_to, memberships_of
from outcomes.models import Administration, Alert, AlertSeverity

REPORTING_ROLES = (Role.SUPERVISOR, Role.ADMIN)
PAIRED_INSTRUMENTS = ("phq9", "gad7")
FETCH_CHUNK = 20_000


@dataclass(frozen=True)
class ReportPeriod:
    """A closed interval of calendar days, ``start`` and ``end`` both included."""

    start: date
    end: date

    @classmethod
    def last_twelve_months(cls, today: date) -> ReportPeriod:
        return cls(start=today - timedelta(days=364), end=today)

    @classmethod
    def month_before(cls, today: date) -> ReportPeriod:
        end = today.replace(day=1) - timedelta(days=1)
        return cls(start=end.replace(day=1), end=end)

    def as_options(self) -> dict:
        return {"start": self.start.isoformat(), "end": self.end.isoformat()}


@dataclass(frozen=True)
class ReportScope:
    """What one user may report on in one clinic, optionally narrowed to one team."""

    user: object
    clinic: Clinic
    role: str
    teams: tuple[Team, ...]
    team: Team | None = None
    other_clinics: tuple[Clinic, ...] = field(default=())

    def episodes(self) -> QuerySet[Episode]:
        episodes = episodes_visible_to(self.user).filter(clinic=self.clinic)
        if self.team is not None:
            episodes = episodes.filter(
                therapist__memberships__clinic=self.clinic,
                therapist__memberships__teams=self.team,
            )
        return episodes

    def teams_filter(self) -> tuple[Team, ...]:
        """The teams the report covers: the chosen one, or every team in scope."""
        return (self.team,) if self.team is not None else self.teams

    def as_options(self) -> dict:
        return {"team": self.team.pk if self.team else None}


def report_clinics_for(user) -> list[Clinic]:
    """Clinics in which ``user`` is a supervisor or clinic admin."""
    return [
        membership.clinic
        for membership in memberships_of(user)
        .filter(role__in=REPORTING_ROLES)
        .order_by("clinic__name")
    ]


def report_scope(*, user, clinic_slug: str | None = None, team_id=None) -> ReportScope | None:
    """The reporting scope of ``user``, or None when they may not see reports here.

    A team outside the user's scope, or a clinic where they do not report, gives None too, so
    the view answers 404 and reveals nothing about other teams or clinics.
    """
    memberships = list(
        memberships_of(user)
        .filter(role__in=REPORTING_ROLES)
        .prefetch_related("teams")
        .order_by("clinic__name")
    )
    if not memberships:
        return None
    if clinic_slug:
        chosen = next((m for m in memberships if m.clinic.slug == clinic_slug), None)
        if chosen is None:
            return None
    else:
        chosen = memberships[0]
    if chosen.role == Role.ADMIN:
        teams = tuple(Team.objects.filter(clinic=chosen.clinic).order_by("name"))
    else:
        teams = tuple(sorted(chosen.teams.all(), key=lambda team: team.name))
    team = None
    if team_id not in (None, ""):
        team = next((t for t in teams if str(t.pk) == str(team_id)), None)
        if team is None:
            return None
    return ReportScope(
        user=user,
        clinic=chosen.clinic,
        role=chosen.role,
        teams=teams,
        team=team,
        other_clinics=tuple(m.clinic for m in memberships if m.clinic != chosen.clinic),
    )


@dataclass
class ReportFrames:
    """Everything a report is computed from (see ``dashboards.reports.clinic_report``)."""

    episodes: pd.DataFrame  # one row per episode open at some time in the period
    checkins: pd.DataFrame  # per therapist: sent, completed, episodes with a sent check-in
    alerts: pd.DataFrame  # one row per alert raised in the period
    staff: pd.DataFrame  # therapist_id, name
    team_members: pd.DataFrame  # team_id, team_name, therapist_id (a therapist may be in two)


def report_frames(*, scope: ReportScope, period: ReportPeriod) -> ReportFrames:
    """Load what a clinic or team report needs for ``period``, scoped to ``scope``."""
    episodes_in_scope = scope.episodes()
    episodes = episode_frame(
        episodes=episodes_in_scope.filter(started_on__lte=period.end).filter(
            Q(ended_on__isnull=True) | Q(ended_on__gte=period.start)
        ),
        clinic=scope.clinic,
        scores_for=Q(ended_on__gte=period.start, ended_on__lte=period.end),
    )
    return ReportFrames(
        episodes=episodes,
        checkins=_checkin_frame(episodes=episodes_in_scope, period=period),
        alerts=_alert_frame(episodes=episodes_in_scope, period=period),
        staff=_staff_frame(scope=scope, therapist_ids=episodes["therapist_id"].unique()),
        team_members=_team_member_frame(scope=scope),
    )


EPISODE_COLUMNS = [
    "episode_id",
    "therapist_id",
    "started_on",
    "ended_on",
    "end_reason",
    "attended_sessions",
]
SCORE_COLUMNS = ["phq9_first", "phq9_last", "gad7_first", "gad7_last"]


def episode_frame(*, episodes: QuerySet[Episode], clinic: Clinic, scores_for: Q | None = None):
    """One row per episode: therapist, dates, end reason, attended sessions and the first and
    last paired PHQ-9/GAD-7 totals (NaN where the episode has no pair, or is outside
    ``scores_for``: only ended episodes need them, so open ones are not loaded)."""
    rows = (
        episodes.annotate(attended_sessions=Count("sessions", filter=Q(sessions__attended=True)))
        .order_by()
        .values_list(
            "pk", "therapist_id", "started_on", "ended_on", "end_reason", "attended_sessions"
        )
    )
    frame = pd.DataFrame.from_records(
        list(rows.iterator(chunk_size=FETCH_CHUNK)), columns=EPISODE_COLUMNS
    )
    frame["started_on"] = pd.to_datetime(frame["started_on"])
    frame["ended_on"] = pd.to_datetime(frame["ended_on"])
    frame["attended_sessions"] = frame["attended_sessions"].astype("int64")
    scored = episodes if scores_for is None else episodes.filter(scores_for)
    pairs = paired_scores(
        administrations=Administration.objects.filter(episode__in=scored.values("pk")),
        timezone=clinic.timezone,
    )
    frame = frame.merge(pairs, how="left", left_on="episode_id", right_index=True)
    return frame.reset_index(drop=True)


def paired_scores(*, administrations: QuerySet[Administration], timezone: str) -> pd.DataFrame:
    """First and last paired PHQ-9 and GAD-7 totals per episode (index: episode id).

    NHS Talking Therapies outcomes use paired scores: both measures taken at the same contact
    (CLINICAL.md §3). A pair here is a valid PHQ-9 and a valid GAD-7 of the episode on the same
    calendar day in the clinic's time zone (a weekly check-in carries both; so does a session);
    when a measure was taken twice that day, the first counts. An episode with a single paired
    contact has no first-and-last pair and gets no scores here.
    """
    rows = (
        administrations.filter(instrument__in=PAIRED_INSTRUMENTS, valid=True, total__isnull=False)
        .order_by()
        .values_list("episode_id", "instrument", "administered_at", "total")
    )
    chunks = [
        pd.DataFrame.from_records(batch, columns=["episode_id", "instrument", "at", "total"])
        for batch in _batched(rows.iterator(chunk_size=FETCH_CHUNK), FETCH_CHUNK)
    ]
    if not chunks:
        return pd.DataFrame(columns=SCORE_COLUMNS, dtype=float)
    scores = pd.concat(chunks, ignore_index=True)
    scores["day"] = (
        pd.to_datetime(scores["at"], utc=True).dt.tz_convert(timezone).dt.tz_localize(None)
    ).dt.floor("D")
    scores = scores.sort_values(["episode_id", "at"], kind="stable").drop_duplicates(
        ["episode_id", "instrument", "day"], keep="first"
    )
    wide = scores.set_index(["episode_id", "day", "instrument"])["total"].unstack("instrument")
    wide = wide.reindex(columns=list(PAIRED_INSTRUMENTS)).dropna().sort_index()
    if wide.empty:
        return pd.DataFrame(columns=SCORE_COLUMNS, dtype=float)
    # One paired contact is no change to measure: an outcome needs a first and a last pair.
    contacts = wide.groupby(level="episode_id")["phq9"].transform("size")
    grouped = wide[contacts.to_numpy() >= 2].groupby(level="episode_id")
    first, last = grouped.head(1).droplevel("day"), grouped.tail(1).droplevel("day")
    return pd.DataFrame(
        {
            "phq9_first": first["phq9"],
            "phq9_last": last["phq9"],
            "gad7_first": first["gad7"],
            "gad7_last": last["gad7"],
        }
    ).astype(float)


def _batched(iterable: Iterable, size: int) -> Iterator[list]:
    batch = []
    for item in iterable:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def _checkin_frame(*, episodes: QuerySet[Episode], period: ReportPeriod) -> pd.DataFrame:
    """Per therapist: check-ins sent in the period, how many were completed, from how many
    episodes (completion rate = forms completed / forms sent, CLINICAL.md §5)."""
    rows = (
        CheckIn.objects.filter(
            episode__in=episodes.values("pk"),
            sent_at__date__gte=period.start,
            sent_at__date__lte=period.end,
        )
        .values("episode__therapist_id")
        .annotate(
            sent=Count("pk"),
            completed=Count("pk", filter=Q(status=CheckInStatus.COMPLETED)),
            episodes=Count("episode_id", distinct=True),
        )
        .order_by()
    )
    frame = pd.DataFrame.from_records(
        list(rows), columns=["episode__therapist_id", "sent", "completed", "episodes"]
    )
    return frame.rename(columns={"episode__therapist_id": "therapist_id"})


def _alert_frame(*, episodes: QuerySet[Episode], period: ReportPeriod) -> pd.DataFrame:
    rows = (
        Alert.objects.filter(
            episode__in=episodes.values("pk"),
            created_at__date__gte=period.start,
            created_at__date__lte=period.end,
        )
        .order_by()
        .values_list("episode__therapist_id", "severity", "created_at", "acknowledged_at")
    )
    frame = pd.DataFrame.from_records(
        list(rows), columns=["therapist_id", "severity", "created_at", "acknowledged_at"]
    )
    frame["urgent"] = frame["severity"] == AlertSeverity.URGENT
    acknowledged = pd.to_datetime(frame["acknowledged_at"], utc=True)
    created = pd.to_datetime(frame["created_at"], utc=True)
    frame["hours_to_acknowledge"] = (acknowledged - created).dt.total_seconds() / 3600
    return frame.drop(columns=["created_at", "acknowledged_at"])


def _staff_frame(*, scope: ReportScope, therapist_ids: np.ndarray) -> pd.DataFrame:
    """Therapists whose episodes are in the report, and the members of the visible teams (a
    clinician with no finished episode yet still gets a row)."""
    member_ids = Membership.objects.filter(
        clinic=scope.clinic, role=Role.THERAPIST, teams__in=scope.teams_filter()
    ).values_list("user_id", flat=True)
    ids = {int(pk) for pk in therapist_ids} | set(member_ids)
    users = get_user_model().objects.filter(pk__in=ids).order_by("last_name", "username")
    return pd.DataFrame.from_records(
        [(user.pk, user.get_full_name() or user.get_username()) for user in users],
        columns=["therapist_id", "name"],
    )


def _team_member_frame(*, scope: ReportScope) -> pd.DataFrame:
    rows = Membership.objects.filter(
        clinic=scope.clinic, teams__in=scope.teams_filter()
    ).values_list("teams__pk", "teams__name", "user_id")
    return pd.DataFrame.from_records(list(rows), columns=["team_id", "team_name", "therapist_id"])
