"""Reads for supervisors' reports and exports.

Who may see what is decided once, in :func:`report_scope`: a supervisor the teams of their
membership, a clinic admin the whole clinic, a therapist nothing (the views answer 404). Episodes
come from ``clients.selectors.episodes_visible_to``, so a report can never reach further than the
pages do. The loaders return DataFrames (one row per episode, check-in count, alert) that the pure
code in ``dashboards.reports`` turns into figures.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
from django.contrib.auth import get_user_model
from django.db import connections
from django.db.models import Count, OuterRef, Q, QuerySet, Subquery

from clients.models import CheckIn, CheckInStatus, Clinic, Episode, Membership, Role, Team
from clients.selectors import episodes_visible_to, memberships_of
from dashboards.models import EXPORT_LIFETIME, ExportJob
from outcomes.models import Administration, Alert, AlertSeverity

REPORTING_ROLES = (Role.SUPERVISOR, Role.ADMIN)
PAIRED_INSTRUMENTS = ("phq9", "gad7")
FETCH_CHUNK = 20_000
#: Check-ins that have had their chance: the completion rate is completed / (completed + missed)
#: in the report and on the caseload. Pending ones are still open; cancelled ones were withdrawn.
CLOSED_CHECKIN_STATUSES = (CheckInStatus.COMPLETED, CheckInStatus.EXPIRED)
#: The range a report period may cover: nothing in this service predates 1990, and a year ahead
#: is the furthest a planned period reaches. Beyond, dates are mistakes (and 9999-12-31 + 1 day
#: overflows ``datetime``).
EARLIEST_REPORT_DAY = date(1990, 1, 1)
LATEST_REPORT_AHEAD = timedelta(days=365)


def report_period_problem(start: date, end: date, *, today: date) -> str | None:
    """Why ``start``..``end`` is not a period a report can cover, or None when it is."""
    latest = today + LATEST_REPORT_AHEAD
    if start < EARLIEST_REPORT_DAY or end > latest:
        return f"Choose dates between {_day(EARLIEST_REPORT_DAY)} and {_day(latest)}."
    if start > end:
        return "The period must start before it ends."
    return None


def _day(day: date) -> str:
    return f"{day.day} {day:%B %Y}"


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

    def bounds(self, timezone: str) -> tuple[datetime, datetime]:
        """The period as [first instant, instant after the last day) in ``timezone``: filtering
        timestamps by range uses their index (``__date`` lookups compute a date per row)."""
        zone = ZoneInfo(timezone)
        return (
            datetime.combine(self.start, time.min, tzinfo=zone),
            datetime.combine(self.end + timedelta(days=1), time.min, tzinfo=zone),
        )

    def timestamps_q(self, field: str, timezone: str) -> Q:
        first, after = self.bounds(timezone)
        return Q(**{f"{field}__gte": first, f"{field}__lt": after})


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
    # The clinic's window for acknowledging an urgent alert before it escalates (hours).
    escalation_hours: float | None = None


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
        checkins=_checkin_frame(episodes=episodes_in_scope, period=period, clinic=scope.clinic),
        alerts=_alert_frame(episodes=episodes_in_scope, period=period, clinic=scope.clinic),
        staff=_staff_frame(scope=scope, therapist_ids=episodes["therapist_id"].unique()),
        team_members=_team_member_frame(scope=scope),
        escalation_hours=float(scope.clinic.urgent_escalation_hours),
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
    )  # fmt: skip
    frame = fetch_frame(rows, EPISODE_COLUMNS)
    frame["started_on"] = pd.to_datetime(frame["started_on"], format="ISO8601")
    frame["ended_on"] = pd.to_datetime(frame["ended_on"], format="ISO8601")
    frame["attended_sessions"] = frame["attended_sessions"].astype("int64")
    scored = episodes if scores_for is None else episodes.filter(scores_for)
    pairs = paired_scores(episodes=scored, timezone=clinic.timezone)
    frame = frame.merge(pairs, how="left", left_on="episode_id", right_index=True)
    return frame.reset_index(drop=True)


def paired_scores(*, episodes: QuerySet[Episode], timezone: str) -> pd.DataFrame:
    """First and last paired PHQ-9 and GAD-7 totals per episode (index: episode id).

    NHS Talking Therapies outcomes use paired scores: both measures taken at the same contact
    (CLINICAL.md §3). A pair here is a valid PHQ-9 and a valid GAD-7 of the episode on the same
    calendar day in the clinic's time zone (a weekly check-in carries both; so does a session).
    The first pair takes each measure's earliest form of the first paired day, the last pair its
    latest form of the last paired day. An episode with a single paired day has no change to
    measure and gets no scores.

    Fast path: the database gives each episode's earliest and latest form of each measure (an
    index seek each). Where the earliest PHQ-9 and GAD-7 fall on one day, and the latest ones
    too, those days are the first and last paired days; only the other episodes (a measure
    missed at the first or last contact) have all their forms loaded and paired in pandas.
    """
    annotations = {}
    for code in PAIRED_INSTRUMENTS:
        for edge, order in (("first", "administered_at"), ("last", "-administered_at")):
            forms = Administration.objects.filter(
                episode=OuterRef("pk"), instrument=code, valid=True, total__isnull=False
            ).order_by(order, "-pk" if order.startswith("-") else "pk")
            annotations[f"{code}_{edge}"] = Subquery(forms.values("total")[:1])
            annotations[f"{code}_{edge}_at"] = Subquery(forms.values("administered_at")[:1])
    rows = episodes.order_by().annotate(**annotations).values_list("pk", *annotations)
    edges = fetch_frame(rows, ["episode_id", *annotations]).set_index("episode_id")
    if edges.empty:
        return pd.DataFrame(columns=SCORE_COLUMNS, dtype=float)
    days = {
        column: _local_days(edges[f"{column}_at"], timezone)
        for column in ("phq9_first", "gad7_first", "phq9_last", "gad7_last")
    }
    complete = edges[SCORE_COLUMNS].notna().all(axis=1).to_numpy()
    simple = (
        complete
        & (days["phq9_first"] == days["gad7_first"]).to_numpy()
        & (days["phq9_last"] == days["gad7_last"]).to_numpy()
    )
    two_days = (days["phq9_first"] != days["phq9_last"]).to_numpy()
    pairs = [edges.loc[simple & two_days, SCORE_COLUMNS].astype(float)]
    others = edges.index[complete & ~simple].tolist()
    for start in range(0, len(others), 5000):
        administrations = Administration.objects.filter(episode_id__in=others[start : start + 5000])
        pairs.append(_paired_scores_from_forms(administrations=administrations, timezone=timezone))
    return pd.concat(pairs).astype(float)


def _local_days(values: pd.Series, timezone: str) -> pd.Series:
    stamps = pd.to_datetime(values, utc=True, format="ISO8601")
    return stamps.dt.tz_convert(timezone).dt.tz_localize(None).dt.floor("D")


def _paired_scores_from_forms(*, administrations, timezone: str) -> pd.DataFrame:
    """:func:`paired_scores` from every form of the episodes (the general case)."""
    rows = (
        administrations.filter(instrument__in=PAIRED_INSTRUMENTS, valid=True, total__isnull=False)
        .order_by()
        .values_list("episode_id", "instrument", "administered_at", "pk", "total")
    )
    scores = fetch_frame(rows, ["episode_id", "instrument", "at", "pk", "total"])
    if scores.empty:
        return pd.DataFrame(columns=SCORE_COLUMNS, dtype=float)
    scores["day"] = _local_days(scores["at"], timezone)
    scores["at"] = pd.to_datetime(scores["at"], utc=True, format="ISO8601")
    scores = scores.sort_values(["episode_id", "at", "pk"], kind="stable")
    keys = ["episode_id", "instrument", "day"]

    def wide(keep: str) -> pd.DataFrame:
        one_a_day = scores.drop_duplicates(keys, keep=keep)
        table = one_a_day.set_index(["episode_id", "day", "instrument"])["total"]
        table = table.unstack("instrument").reindex(columns=list(PAIRED_INSTRUMENTS))
        return table.dropna().sort_index()

    earliest, latest = wide("first"), wide("last")
    if earliest.empty:
        return pd.DataFrame(columns=SCORE_COLUMNS, dtype=float)
    # One paired contact is no change to measure: an outcome needs a first and a last pair.
    contacts = earliest.groupby(level="episode_id")["phq9"].transform("size").to_numpy()
    first = earliest[contacts >= 2].groupby(level="episode_id").head(1).droplevel("day")
    last = latest[contacts >= 2].groupby(level="episode_id").tail(1).droplevel("day")
    return pd.DataFrame(
        {
            "phq9_first": first["phq9"],
            "phq9_last": last["phq9"],
            "gad7_first": first["gad7"],
            "gad7_last": last["gad7"],
        }
    ).astype(float)


def episode_batches(queryset: QuerySet, *, episodes_per_batch: int) -> Iterator[QuerySet]:
    """``queryset`` (ordered by ``episode_id`` first) cut into queries of a few episodes each,
    in episode order. For reads too large to hold at once that write as they go.

    Read each batch whole (``list()``, :func:`rows_by_episode`) before writing anything: a cursor
    left open while the caller writes (an export's progress) holds a read lock on SQLite, and a
    second connection writing meanwhile ends in "database is locked" for one of them.
    """
    episode_ids = list(
        queryset.order_by("episode_id").values_list("episode_id", flat=True).distinct()
    )
    for start in range(0, len(episode_ids), episodes_per_batch):
        yield queryset.filter(episode_id__in=episode_ids[start : start + episodes_per_batch])


def rows_by_episode(queryset: QuerySet, *, episodes_per_batch: int) -> Iterator[tuple]:
    """The rows of a ``values_list`` query by :func:`episode_batches`, as the driver returns them
    (see :func:`fetch_frame` for why the ORM's converters are skipped; callers convert). Each
    batch's cursor is closed before its first row is yielded."""
    connection = connections[queryset.db]
    for batch in episode_batches(queryset, episodes_per_batch=episodes_per_batch):
        sql, params = batch.query.sql_with_params()
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            rows = cursor.fetchall()
        yield from rows


def fetch_frame(queryset: QuerySet, columns: list[str]) -> pd.DataFrame:
    """Run a ``values_list`` query and return its rows as a DataFrame, in chunks.

    The SQL is the ORM's; the rows skip the ORM's per-value converters, which cost more than
    the query itself for a million timestamps (they parse each one in Python). Timestamps come
    back as the driver gives them (ISO text on SQLite, datetimes on PostgreSQL): convert them
    with ``pd.to_datetime(..., format="ISO8601")``.
    """
    sql, params = queryset.query.sql_with_params()
    chunks = []
    with connections[queryset.db].cursor() as cursor:
        cursor.execute(sql, params)
        while rows := cursor.fetchmany(FETCH_CHUNK):
            chunks.append(pd.DataFrame.from_records(rows, columns=columns))
    if not chunks:
        return pd.DataFrame(columns=columns)
    return pd.concat(chunks, ignore_index=True)


def _checkin_frame(*, episodes: QuerySet[Episode], period: ReportPeriod, clinic) -> pd.DataFrame:
    """Per therapist: check-ins sent in the period, how many were completed and missed, and from
    how many episodes a check-in closed (completion rate = completed / (completed + missed),
    CLINICAL.md §5's "forms completed / forms sent" over the forms that have had their chance)."""
    closed = Q(status__in=CLOSED_CHECKIN_STATUSES)
    rows = (
        CheckIn.objects.filter(
            episode__in=episodes.values("pk"),
        )
        .filter(period.timestamps_q("sent_at", clinic.timezone))
        .values("episode__therapist_id")
        .annotate(
            sent=Count("pk"),
            completed=Count("pk", filter=Q(status=CheckInStatus.COMPLETED)),
            missed=Count("pk", filter=Q(status=CheckInStatus.EXPIRED)),
            episodes=Count("episode_id", filter=closed, distinct=True),
        )
        .order_by()
    )
    frame = pd.DataFrame.from_records(
        list(rows), columns=["episode__therapist_id", "sent", "completed", "missed", "episodes"]
    )
    return frame.rename(columns={"episode__therapist_id": "therapist_id"})


def _alert_frame(*, episodes: QuerySet[Episode], period: ReportPeriod, clinic) -> pd.DataFrame:
    rows = (
        Alert.objects.filter(
            episode__in=episodes.values("pk"),
        )
        .filter(period.timestamps_q("created_at", clinic.timezone))
        .order_by()
        .values_list("episode__therapist_id", "severity", "created_at", "acknowledged_at")
    )
    frame = fetch_frame(rows, ["therapist_id", "severity", "created_at", "acknowledged_at"])
    frame["urgent"] = (frame["severity"] == AlertSeverity.URGENT).astype(bool)
    acknowledged = pd.to_datetime(frame["acknowledged_at"], utc=True, format="ISO8601")
    created = pd.to_datetime(frame["created_at"], utc=True, format="ISO8601")
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


def export_jobs_listed(*, user, clinic: Clinic, now: datetime, limit: int = 10):
    """The user's exports of ``clinic`` worth listing on the report page, newest first: those
    still being made, those whose file can still be downloaded (a file lives ``EXPORT_LIFETIME``
    after the job *finished*, so a job asked for 30 hours ago may still be there), and those that
    failed within that lifetime, so the user sees what became of them."""
    return (
        ExportJob.objects.filter(requested_by=user, clinic=clinic)
        .filter(
            Q(status__in=(ExportJob.Status.QUEUED, ExportJob.Status.RUNNING))
            | Q(status=ExportJob.Status.DONE, expires_at__gt=now)
            | Q(status=ExportJob.Status.FAILED, finished_at__gt=now - EXPORT_LIFETIME)
        )
        .order_by("-created_at")[:limit]
    )


# --- Alert mails that may not have reached their recipient ---------------------------------------

UNDELIVERED_SHOWN = 50


@dataclass(frozen=True)
class UndeliveredAlertMail:
    """One alert e-mail to warn a supervisor about: who should have been told, of what kind of
    alert and since when. Nothing about the client (no label, no rule, no score)."""

    raised_at: datetime
    severity: str
    notice: str
    recipient: str
    state: str


def alert_mails_undelivered_for(*, scope: ReportScope, now: datetime) -> list[UndeliveredAlertMail]:
    """Alert mails overdue or failed (``outcomes.notifications.alert_mails_undelivered``) on the
    episodes the user may see in the scope's clinic, oldest first. Not narrowed to the chosen
    team: a warning must not hide behind a filter."""
    from outcomes.notifications import alert_mails_undelivered

    reachable = episodes_visible_to(scope.user).filter(clinic=scope.clinic).values("pk")
    notifications = (
        alert_mails_undelivered(now=now)
        .filter(alert__clinic=scope.clinic, alert__episode_id__in=reachable)
        .select_related("alert", "recipient", "email")
        .order_by("created_at", "pk")[:UNDELIVERED_SHOWN]
    )
    return [
        UndeliveredAlertMail(
            raised_at=notification.created_at,
            severity=notification.alert.get_severity_display(),
            notice=notification.get_kind_display(),
            recipient=notification.recipient.get_full_name() or notification.recipient.username,
            state=_undelivered_state(notification),
        )
        for notification in notifications
    ]


def _undelivered_state(notification) -> str:
    if notification.status == "failed":
        return "Failed: not sent"
    if notification.email is None:
        return "Not yet handed to the outbox"
    attempts = notification.email.attempts
    if attempts == 0:
        return "Waiting to be sent"
    times = f"{attempts} time{'s' if attempts != 1 else ''}"
    return f"Refused by the mail server {times}; still retrying"
