"""Reads for the therapist's pages: the caseload, one client's trajectory, alerts needing action.

Scope comes from ``clients.selectors`` only. The caseload reads a constant number of queries
whatever its size (episodes; their scores; their open alerts; their check-ins, each in one query)
and does the per-client arithmetic in pandas, so 300 clients cost what 5 do.

Why one long module (~720 lines): the caseload, the client page and the alert list share one
scoped episode set and the same per-client summaries; apart, each would re-read them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

import numpy as np
import pandas as pd
from django.db import connection
from django.db.models import (
    BigIntegerField,
    Case,
    Count,
    Exists,
    Func,
    IntegerField,
    Max,
    OuterRef,
    Q,
    QuerySet,
    Value,
    When,
)
from django.shortcuts import get_object_or_404
from django.utils import timezone

from clients.models import (
    CheckIn,
    CheckInStatus,
    Episode,
    EpisodeStatus,
    Membership,
    Role,
    TimelineEvent,
    TreatmentSession,
)
from clients.selectors import caseload_episodes, episode_scope_q, episodes_visible_to
from dashboards import charts, display
from dashboards.alert_words import SEVERITY_RANK, alert_reason_short
from dashboards.report_selectors import CLOSED_CHECKIN_STATUSES
from dashboards.reports import completion_rate
from measures import api
from measures.instruments import Instrument, get_instrument
from measures.trajectories import BandCurve
from outcomes.curves import clinic_curve_overrides
from outcomes.models import (
    Administration,
    Alert,
    AlertNotification,
    AlertSeverity,
    AlertState,
    NotificationChannel,
)
from outcomes.selectors import instruments_available

SESSION_RATING = "session_rating"
# Most urgent first: CLINICAL.md §4 step 4 (red worst); "none" (no scores yet) last.
STATUS_ORDER = {
    EpisodeStatus.RED: 0,
    EpisodeStatus.YELLOW: 1,
    EpisodeStatus.GREEN: 2,
    EpisodeStatus.WHITE: 3,
    EpisodeStatus.NONE: 4,
}
UNRESOLVED = (AlertState.OPEN, AlertState.ACKNOWLEDGED)
EPISODE_URL_PREFIX = "/episodes/"
# Instruments shown first in a row, in this order; others follow alphabetically.
SESSION_MARK_LABELS = {
    "attended": "Session",
    "did_not_attend": "Did not attend",
    "cancelled": "Cancelled",
}
INSTRUMENT_ORDER = {"phq9": 0, "gad7": 1, "who5": 2, "core10": 3, "k10": 4, "ors": 5, "oq45": 6}


def instrument_or_none(code: str) -> Instrument | None:
    try:
        return get_instrument(code)
    except KeyError:
        return None


def instrument_short_name(code: str) -> str:
    instrument = instrument_or_none(code)
    return charts.short_name(instrument) if instrument else code


# --- Caseload -------------------------------------------------------------------------------


@dataclass
class InstrumentSummary:
    code: str
    name: str
    latest: float
    band: str
    intake: float
    change: float
    reliable: str | None  # improved / unchanged / deteriorated; None without a published value
    category: str | None  # recovered / improved / unchanged / deteriorated / harmed
    n_scores: int
    sparkline: str
    # Ready-made words for the caseload row, so 500 rows run no template filter per score.
    latest_text: str = ""
    change_text: str = ""


@dataclass
class CaseloadRow:
    episode: Episode
    label: str
    therapist: str
    weeks_in_care: int
    status: str
    status_label: str
    status_reason: str
    instruments: list[InstrumentSummary] = field(default_factory=list)
    alliance: float | None = None
    alliance_at: datetime | None = None
    last_checkin_at: datetime | None = None
    last_checkin_missed: bool = False
    checkins_completed: int = 0
    checkins_missed: int = 0
    open_alerts: int = 0
    urgent_alerts: int = 0
    # The most pressing open alert, in words, and when it was raised.
    top_alert_reason: str = ""
    top_alert_at: datetime | None = None
    # The row's figures in words, made once in the selector (``display``): the template only
    # places them, which halves the render time of a 500-row page (issue 18).
    alliance_text: str = ""
    alliance_when: str = ""
    last_checkin_when: str = ""
    completion_text: str = ""
    top_alert_when: str = ""

    @property
    def week_of_care(self) -> int:
        return self.weeks_in_care + 1

    @property
    def url(self) -> str:
        # Formatted, not reversed: a 300-row page would otherwise spend its time in reverse().
        return f"{EPISODE_URL_PREFIX}{self.episode.pk}/"

    @property
    def completion_rate(self) -> float | None:
        """Completed / (completed + missed): the report's definition (``reports.completion_rate``),
        CLINICAL.md §5's "forms completed / forms sent" over check-ins that have closed."""
        return completion_rate(completed=self.checkins_completed, missed=self.checkins_missed)

    @property
    def alliance_concern(self) -> bool:
        return self.alliance is not None and self.alliance < charts.SESSION_RATING_CONCERN

    @property
    def sort_key(self):
        return caseload_rank(
            urgent=self.urgent_alerts,
            status=self.status,
            open_alerts=self.open_alerts,
            label=self.label,
        )


def caseload_rank(*, urgent: int, status: str, open_alerts: int, label: str) -> tuple:
    """Most urgent first: open urgent alerts, then red, yellow, green, white, no scores; then
    more open alerts; then the label. One order for the full rows and the paged ranking."""
    return (0 if urgent else 1, STATUS_ORDER.get(status, len(STATUS_ORDER)), -open_alerts, label)


@dataclass(frozen=True)
class CaseloadFilters:
    status: str = ""
    instrument: str = ""
    has_open_alerts: bool = False
    search: str = ""


def status_label(episode: Episode, *, has_scores: bool) -> str:
    """The status in words. "No scores yet" would mislead for an episode whose first scores have
    arrived but whose status the alert evaluation has not stored yet (it runs after each form)."""
    if episode.status == EpisodeStatus.NONE and has_scores:
        return "Awaiting evaluation"
    return episode.get_status_display()


@dataclass(frozen=True)
class CaseloadPage:
    rows: list[CaseloadRow]  # the first ``limit`` of all matching rows, most urgent first
    total: int  # every matching row
    urgent: int  # matching rows with an open urgent alert


def caseload_page(
    *, user, filters: CaseloadFilters = CaseloadFilters(), team: bool = False, limit: int
) -> CaseloadPage:
    """The most urgent ``limit`` rows of ``caseload_rows``, with the counts of all of them.

    A clinic's team view lists thousands of clients; ranking them needs only each episode's
    status, label and open-alert counts (one grouped query), so only the rows shown pay for their
    scores, sparklines, check-ins and HTML. The instrument filter needs the rows' summaries and
    takes the full path.
    """
    episodes = _caseload_episodes(user=user, filters=filters, team=team)
    if filters.instrument:
        rows = caseload_rows(user=user, filters=filters, team=team)
        urgent = sum(1 for row in rows if row.urgent_alerts)
        return CaseloadPage(rows=rows[:limit], total=len(rows), urgent=urgent)
    unresolved = Q(alerts__state__in=UNRESOLVED)
    ranked = [
        (caseload_rank(urgent=urgent, status=status, open_alerts=open_alerts, label=label), pk)
        for pk, status, label, open_alerts, urgent in episodes.annotate(
            open_count=Count("alerts", filter=unresolved),
            urgent_count=Count(
                "alerts", filter=unresolved & Q(alerts__severity=AlertSeverity.URGENT)
            ),
        ).values_list("pk", "status", "client__label", "open_count", "urgent_count")
        if open_alerts or not filters.has_open_alerts
    ]
    ranked.sort()
    shown = [pk for _, pk in ranked[:limit]]
    rows = _caseload_rows_of(episodes.filter(pk__in=shown), filters=filters) if shown else []
    return CaseloadPage(
        rows=rows, total=len(ranked), urgent=sum(1 for rank, _ in ranked if rank[0] == 0)
    )


def _caseload_episodes(*, user, filters: CaseloadFilters, team: bool):
    if team:
        episodes = episodes_visible_to(user).filter(ended_on__isnull=True).exclude(therapist=user)
    else:
        episodes = caseload_episodes(user)
    if filters.search:
        episodes = episodes.filter(client__label__icontains=filters.search)
    if filters.status in STATUS_ORDER:
        episodes = episodes.filter(status=filters.status)
    return episodes


def caseload_rows(
    *, user, filters: CaseloadFilters = CaseloadFilters(), team: bool = False
) -> list[CaseloadRow]:
    """One row per active episode, most urgent first (open urgent alerts, then red, yellow,
    green, white, no scores). ``team``: the active episodes ``user`` may see beyond their own
    (supervisors and clinic admins), else the episodes they carry themselves."""
    episodes = _caseload_episodes(user=user, filters=filters, team=team)
    return _caseload_rows_of(episodes, filters=filters)


# Up to this many episode ids go to the score, alert and check-in reads as a list of
# parameters: a page's worth (500 on a therapist's own caseload) and "show more" a few times.
SHOWN_IDS_AS_LIST = 2000


def _caseload_rows_of(episodes, *, filters: CaseloadFilters) -> list[CaseloadRow]:
    episode_list = list(episodes.select_related("client", "therapist"))
    if not episode_list:
        return []
    # The shown rows' ids as a list (already scoped: they come from ``episodes``): with a list
    # PostgreSQL reads the three tables through their episode indexes; with the scoped subquery
    # it scanned every score of the clinic (45 ms against 7 ms for 100 rows of 3,000 clients).
    # The full list (the instrument filter, thousands of rows) stays a subquery: no parameter
    # limit, one round trip per read.
    if len(episode_list) <= SHOWN_IDS_AS_LIST:
        episode_ids = [episode.pk for episode in episode_list]
    else:
        episode_ids = episodes.values("pk")

    scores = _scores_frame(episode_ids)
    alerts = _open_alert_counts(episode_ids)
    checkins = _checkin_counts(episode_ids)
    today = timezone.localdate()

    summaries = _instrument_summaries(scores)
    alliance = _latest_alliance(scores)
    rows = []
    for episode in episode_list:
        open_alerts, urgent, top_reason, top_at = alerts.get(episode.pk, (0, 0, "", None))
        counts = checkins.get(episode.pk, {})
        last_completed, last_missed = counts.get("last_completed"), counts.get("last_missed")
        row = CaseloadRow(
            episode=episode,
            label=episode.client.label,
            therapist=episode.therapist.get_full_name() or episode.therapist.get_username(),
            weeks_in_care=max((today - episode.started_on).days // 7, 0),
            status=episode.status,
            status_label=status_label(episode, has_scores=episode.pk in summaries),
            status_reason=episode.status_reason,
            instruments=summaries.get(episode.pk, []),
            open_alerts=open_alerts,
            urgent_alerts=urgent,
            top_alert_reason=top_reason,
            top_alert_at=top_at,
            checkins_completed=counts.get("completed", 0),
            checkins_missed=counts.get("missed", 0),
            last_checkin_missed=bool(
                last_missed and (last_completed is None or last_missed > last_completed)
            ),
            last_checkin_at=max(filter(None, (last_completed, last_missed)), default=None),
        )
        row.alliance, row.alliance_at = alliance.get(episode.pk, (None, None))
        _put_words(row, today=today)
        rows.append(row)

    if filters.has_open_alerts:
        rows = [row for row in rows if row.open_alerts]
    if filters.instrument:
        rows = [row for row in rows if any(s.code == filters.instrument for s in row.instruments)]
    rows.sort(key=lambda row: row.sort_key)
    return rows


class EpochMicroseconds(Func):
    """A timestamp as whole microseconds since 1970-01-01 UTC, computed by the database.

    Read this way a score's time costs no Python: Django's PostgreSQL backend loads each
    timestamp through psycopg's pure-Python converter, which was most of the caseload's score
    read (issue 18; psycopg issue #1273). SQLite keeps Django's UTC text; ``julianday`` parses it
    (to about 20 µs, far below the day the caseload shows)."""

    output_field = BigIntegerField()

    def as_postgresql(self, compiler, connection, **extra):
        template = "(EXTRACT(EPOCH FROM %(expressions)s) * 1000000)::bigint"
        return self.as_sql(compiler, connection, template=template, **extra)

    def as_sqlite(self, compiler, connection, **extra):
        template = "CAST(ROUND((julianday(%(expressions)s) - 2440587.5) * 86400000000) AS INTEGER)"
        return self.as_sql(compiler, connection, template=template, **extra)


EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def moment_of(microseconds: int) -> datetime:
    """The aware UTC datetime of ``EpochMicroseconds``' integer."""
    return EPOCH + timedelta(microseconds=int(microseconds))


SCORE_COLUMNS = ["episode_id", "instrument", "administered_us", "total", "band"]


def _scores_frame(episode_ids) -> pd.DataFrame:
    """The valid scores of ``episode_ids`` in one raw read, ordered by episode, instrument and
    time; ``administered_us`` is integer microseconds (``EpochMicroseconds``). The statement is
    the ORM's (so scope stays a subquery), run on a plain cursor: no model or row machinery."""
    queryset = (
        Administration.objects.filter(episode_id__in=episode_ids, valid=True, total__isnull=False)
        .order_by("episode_id", "instrument", "administered_at", "pk")
        .values_list(
            "episode_id", "instrument", EpochMicroseconds("administered_at"), "total", "band"
        )
    )
    sql, params = queryset.query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    return pd.DataFrame.from_records(rows, columns=SCORE_COLUMNS)


def _instrument_summaries(scores: pd.DataFrame) -> dict[int, list[InstrumentSummary]]:
    """Per episode, one summary per outcome measure: intake, latest, last band, count, change
    and its classification, and the sparkline of the last 12 scores. ``scores`` is in time
    order within each episode and instrument (the caseload's read, or one episode's frame in
    any instrument order): the groups' bounds come from one stable sort, not a groupby."""
    outcome = scores[scores["instrument"] != SESSION_RATING]
    if outcome.empty:
        return {}
    codes, code_names = pd.factorize(outcome["instrument"])
    episodes = outcome["episode_id"].to_numpy()
    order = np.lexsort((codes, episodes))  # stable: time order kept within each group
    codes, episodes = codes[order], episodes[order]
    totals = outcome["total"].to_numpy(dtype=float)[order]
    bands = outcome["band"].to_numpy(dtype=object)[order]
    starts = np.flatnonzero(
        np.concatenate(([True], (codes[1:] != codes[:-1]) | (episodes[1:] != episodes[:-1])))
    )
    ends = np.append(starts[1:], len(order))
    # The last band that is not missing, as pandas' "last" took it: the newest position with a
    # band at or before each group's end, if it lies inside the group.
    has_band = pd.notna(bands)
    band_at = np.maximum.accumulate(np.where(has_band, np.arange(len(bands)), -1))

    instruments = {code: instrument_or_none(code) for code in code_names}
    summaries: dict[int, list[InstrumentSummary]] = {}
    for start, end in zip(starts.tolist(), ends.tolist(), strict=True):
        code = code_names[codes[start]]
        instrument = instruments[code]
        name = charts.short_name(instrument) if instrument else code
        intake, latest, n_scores = float(totals[start]), float(totals[end - 1]), end - start
        last_band = band_at[end - 1]
        band = bands[last_band] if last_band >= start else None
        reliable = category = None
        if instrument is not None and n_scores > 1:
            changed = api.classify_change(code, intake, latest)
            reliable, category = changed["reliable"], changed["category"]
        series = totals[max(start, end - 12) : end].tolist()
        low = instrument.min_total if instrument else min(totals[start:end])
        high = instrument.max_total if instrument else max(totals[start:end])
        change = latest - intake
        summaries.setdefault(int(episodes[start]), []).append(
            InstrumentSummary(
                code=code,
                name=name,
                latest=latest,
                band=band,
                intake=intake,
                change=change,
                reliable=reliable,
                category=category,
                n_scores=n_scores,
                sparkline=charts.sparkline_svg(series, low=low, high=high, label=name),
                latest_text=display.score_text(latest),
                change_text=display.change_since_intake_text(
                    n_scores=n_scores, change=change, reliable=reliable, category=category
                ),
            )
        )
    for items in summaries.values():
        items.sort(key=lambda s: (INSTRUMENT_ORDER.get(s.code, 99), s.code))
    return summaries


def _latest_alliance(scores: pd.DataFrame) -> dict[int, tuple[float, datetime]]:
    ratings = scores[scores["instrument"] == SESSION_RATING]
    if ratings.empty:
        return {}
    last = ratings.groupby("episode_id", sort=False).tail(1)
    return {
        int(episode_id): (float(total), moment_of(at))
        for episode_id, total, at in zip(
            last["episode_id"], last["total"], last["administered_us"], strict=True
        )
    }


def _put_words(row: CaseloadRow, *, today: date) -> None:
    """The row's figures as the page words them (``display``), computed once per row."""
    if row.alliance is not None:
        row.alliance_text = display.score_text(row.alliance)
        row.alliance_when = display.days_since_text(row.alliance_at, today=today)
    if row.last_checkin_at is not None:
        row.last_checkin_when = display.days_since_text(row.last_checkin_at, today=today)
        closed = row.checkins_completed + row.checkins_missed
        row.completion_text = (
            f"{display.percent_text(row.completion_rate)} completed "
            f"({row.checkins_completed}/{closed})"
        )
    if row.top_alert_at is not None:
        row.top_alert_when = display.days_since_text(row.top_alert_at, today=today)


def _open_alert_counts(episode_ids) -> dict[int, tuple[int, int, str, datetime | None]]:
    """Per episode: open alerts, urgent ones, and the most pressing one in words (most severe,
    then newest) with when it was raised. Unresolved alerts are few per episode: one read."""
    alerts = Alert.objects.filter(episode_id__in=episode_ids, state__in=UNRESOLVED).values_list(
        "episode_id", "rule", "instrument", "severity", "created_at"
    )
    per_episode: dict[int, list] = {}
    for alert in alerts:
        per_episode.setdefault(alert[0], []).append(alert)
    summary = {}
    for episode_id, rows in per_episode.items():
        urgent = sum(1 for row in rows if row[3] == AlertSeverity.URGENT)
        _, rule, code, _, raised_at = min(
            rows, key=lambda row: (SEVERITY_RANK.get(row[3], 9), -row[4].timestamp())
        )
        instrument = instrument_or_none(code) if code else None
        name = charts.short_name(instrument) if instrument else ""
        reason = alert_reason_short(rule=rule, instrument_name=name, instrument=code)
        summary[episode_id] = (len(rows), urgent, reason, raised_at)
    return summary


def _checkin_counts(episode_ids) -> dict[int, dict]:
    counts = (
        CheckIn.objects.filter(episode_id__in=episode_ids, status__in=CLOSED_CHECKIN_STATUSES)
        .values("episode_id")
        .annotate(
            completed=Count("pk", filter=Q(status=CheckInStatus.COMPLETED)),
            missed=Count("pk", filter=Q(status=CheckInStatus.EXPIRED)),
            last_completed=Max("completed_at", filter=Q(status=CheckInStatus.COMPLETED)),
            last_missed=Max("due_at", filter=Q(status=CheckInStatus.EXPIRED)),
        )
    )
    return {row["episode_id"]: row for row in counts}


def instruments_in_use(rows: list[CaseloadRow]) -> list[tuple[str, str]]:
    codes = {summary.code: summary.name for row in rows for summary in row.instruments}
    return sorted(codes.items(), key=lambda item: (INSTRUMENT_ORDER.get(item[0], 99), item[0]))


# --- One client -------------------------------------------------------------------------------


def episode_for(*, user, episode_id: int) -> Episode:
    """The episode if ``user`` may see it, else 404 (never 403: existence is not disclosed)."""
    return get_object_or_404(
        episodes_visible_to(user).select_related("client", "clinic", "therapist", "plan"),
        pk=episode_id,
    )


def clinic_curves(clinic) -> tuple[BandCurve, ...]:
    """The clinic's curves in force, decided in one place for the chart, the API and the alerts
    (``outcomes.curves.clinic_curve_overrides``: the newest row per band, only when it is fitted on
    at least ``clinic.trajectory_min_episodes`` episodes). Other bands use the provisional defaults
    inside ``measures.trajectories``."""
    return clinic_curve_overrides(clinic=clinic)


@dataclass
class InstrumentPanel:
    code: str
    name: str
    instrument: Instrument | None
    figure: dict
    heatmap: dict | None
    latest: InstrumentSummary | None


@dataclass
class EpisodePage:
    episode: Episode
    administrations: list[Administration]
    panels: list[InstrumentPanel]
    session_ratings: dict | None
    alerts: list[Alert]
    events: list[TimelineEvent]
    sessions: list[TreatmentSession]
    checkins_completed: int
    checkins_missed: int
    last_checkin_missed: bool
    missed_streak: int
    curve_sources: set[str]


def episode_page(*, episode: Episode) -> EpisodePage:
    """Everything the client page shows, with the figures already built."""
    administrations = list(
        Administration.objects.filter(episode=episode).order_by("administered_at", "pk")
    )
    alerts = list(
        Alert.objects.filter(episode=episode)
        .select_related("administration", "acknowledged_by", "resolved_by")
        .order_by("-created_at", "-pk")
    )
    events = list(TimelineEvent.objects.filter(episode=episode).order_by("occurred_on", "pk"))
    # Sessions that happened or were missed or cancelled (not those still ahead).
    sessions = [
        session
        for session in TreatmentSession.objects.filter(episode=episode).order_by("starts_at", "pk")
        if session.attendance is not None
    ]
    curves = clinic_curves(episode.clinic)
    frame = pd.DataFrame.from_records(
        [
            {
                "administration_id": a.pk,
                "instrument": a.instrument,
                "administered_at": a.administered_at,
                "total": a.total,
                "band": a.band,
                "answers": a.answers,
            }
            for a in administrations
            if a.valid and a.total is not None
        ],
        columns=["administration_id", "instrument", "administered_at", "total", "band", "answers"],
    )
    event_marks = [
        charts.EventMark(on=event.occurred_on, label=event.get_kind_display()) for event in events
    ] + [
        # Every chart marks the sessions, so a change in scores reads against the care given.
        charts.EventMark(
            on=timezone.localdate(session.starts_at),
            label=SESSION_MARK_LABELS[session.attendance],
        )
        for session in sessions
    ]
    summaries = {
        summary.code: summary
        for summary in _instrument_summaries(
            frame.assign(episode_id=episode.pk)[
                ["episode_id", "instrument", "administered_at", "total", "band"]
            ]
        ).get(episode.pk, [])
    }

    panels = []
    curve_sources: set[str] = set()
    codes = [code for code in frame["instrument"].unique() if code != SESSION_RATING]
    plan_codes = [c for c in _plan_instruments(episode) if c not in codes and c != SESSION_RATING]
    for code in sorted(codes, key=lambda c: (INSTRUMENT_ORDER.get(c, 99), c)) + plan_codes:
        instrument = instrument_or_none(code)
        scores = frame[frame["instrument"] == code]
        if instrument is None:
            panels.append(InstrumentPanel(code, code, None, {}, None, summaries.get(code)))
            continue
        marks = [
            charts.AlertMark(
                at=alert.administration.administered_at,
                total=alert.administration.total,
                label=alert_reason_short(
                    rule=alert.rule, instrument=code, instrument_name=charts.short_name(instrument)
                ),
                severity=alert.severity,
            )
            for alert in alerts
            if alert.administration is not None
            and alert.administration.instrument == code
            and alert.administration.total is not None
        ]
        figure = charts.trajectory_figure(
            instrument,
            scores,
            curves=curves,
            **episode.clinic.curve_limits(),
            alerts=marks,
            events=event_marks,
        )
        if figure["layout"]["meta"].get("curve"):
            curve_sources.add(figure["layout"]["meta"]["curve"])
        heatmap = (
            charts.item_heatmap_figure(instrument, scores)
            if len(scores) and len(instrument.scored_items) > 1
            else None
        )
        panels.append(
            InstrumentPanel(
                code,
                charts.short_name(instrument),
                instrument,
                figure,
                heatmap,
                summaries.get(code),
            )
        )

    ratings = frame[frame["instrument"] == SESSION_RATING]
    session_ratings = None
    if len(ratings):
        rating_instrument = instrument_or_none(SESSION_RATING)
        item_names = (
            [item.label.split(":")[0] for item in rating_instrument.scored_items]
            if rating_instrument
            else []
        )
        session_ratings = charts.session_rating_figure(ratings, items=item_names)

    checkin_rows = list(
        CheckIn.objects.filter(episode=episode, status__in=CLOSED_CHECKIN_STATUSES)
        .order_by("-due_at")
        .values_list("status", flat=True)
    )
    streak = 0
    for status in checkin_rows:
        if status != CheckInStatus.EXPIRED:
            break
        streak += 1
    return EpisodePage(
        episode=episode,
        administrations=administrations,
        panels=panels,
        session_ratings=session_ratings,
        alerts=alerts,
        events=events,
        sessions=sessions,
        checkins_completed=checkin_rows.count(CheckInStatus.COMPLETED),
        checkins_missed=checkin_rows.count(CheckInStatus.EXPIRED),
        last_checkin_missed=bool(checkin_rows) and checkin_rows[0] == CheckInStatus.EXPIRED,
        missed_streak=streak,
        curve_sources=curve_sources,
    )


def sendable_instruments(clinic) -> list[tuple[str, str]]:
    """(code, short name) of the forms ``clinic`` can e-mail to clients for a measurement plan:
    not the session rating (the plan's own switch sends it), not a licensed form whose text pack
    the clinic has not loaded."""
    available = instruments_available(clinic)
    codes = sorted(
        (code for code, instrument in available.items() if code != SESSION_RATING),
        key=lambda code: (INSTRUMENT_ORDER.get(code, 99), code),
    )
    return [
        (code, charts.short_name(available[code])) for code in codes if available[code].can_be_sent
    ]


def _plan_instruments(episode: Episode) -> list[str]:
    plan = getattr(episode, "plan", None)
    return list(plan.instruments) if plan is not None and plan.instruments else []


@dataclass
class ReviewPanel:
    code: str
    name: str
    figure: dict
    n_scores: int
    first: float | None
    latest: float | None
    higher_is_better: bool
    # Where the dashed "people who started where you did" line comes from: "fitted" on this
    # clinic's episodes, "default" (provisional), or None when there is no line.
    expected_curve: str | None = None


def review_panels(*, episode: Episode) -> list[ReviewPanel]:
    """The client-facing charts: this episode's outcome scores only (no alerts, no other client)."""
    rows = (
        Administration.objects.filter(episode=episode, valid=True, total__isnull=False)
        .exclude(instrument=SESSION_RATING)
        .order_by("administered_at", "pk")
        .values_list("instrument", "administered_at", "total")
    )
    frame = pd.DataFrame.from_records(
        list(rows), columns=["instrument", "administered_at", "total"]
    )
    curves = clinic_curves(episode.clinic)
    panels = []
    codes = sorted(frame["instrument"].unique(), key=lambda c: (INSTRUMENT_ORDER.get(c, 99), c))
    for code in codes:
        instrument = instrument_or_none(code)
        if instrument is None:
            continue
        scores = frame[frame["instrument"] == code]
        figure = charts.review_figure(instrument, scores, curves=curves)
        panels.append(
            ReviewPanel(
                code=code,
                name=charts.short_name(instrument),
                figure=figure,
                n_scores=len(scores),
                first=float(scores["total"].iloc[0]),
                latest=float(scores["total"].iloc[-1]),
                higher_is_better=instrument.higher_is_better,
                expected_curve=figure["layout"]["meta"]["curve"],
            )
        )
    return panels


# --- Alerts needing attention (notifications page and badge) ----------------------------------


def _attention_q(user) -> Q:
    """Alerts on the active episodes a user carries (their caseload), and alerts they were
    notified of in the app (escalations to a supervisor or clinic admin)."""
    notified = AlertNotification.objects.filter(
        recipient=user, channel=NotificationChannel.IN_APP
    ).values("alert_id")
    return Q(episode__therapist=user, episode__ended_on__isnull=True) | Q(pk__in=notified)


def alerts_for_attention(*, user) -> QuerySet[Alert]:
    """Unresolved alerts for ``user``: urgent first, then newest first."""
    if not user.is_authenticated:
        return Alert.objects.none()
    scoped = Episode.objects.filter(episode_scope_q(user)).values("pk")
    return (
        Alert.objects.filter(_attention_q(user), state__in=UNRESOLVED, episode_id__in=scoped)
        .select_related("episode__client", "episode__therapist", "administration")
        .order_by(_severity_rank(), "-created_at", "-pk")
    )


def _severity_rank():
    return Case(
        When(severity=AlertSeverity.URGENT, then=Value(0)),
        When(severity=AlertSeverity.HIGH, then=Value(1)),
        default=Value(2),
        output_field=IntegerField(),
    )


def open_alert_badge_count(*, user) -> int:
    """How many alerts wait for ``user`` to acknowledge them: one COUNT query on every page.

    Counts exactly what ``alerts_for_attention`` lists as open (the same attention rule and the
    same episode scope), so the badge never promises an alert the list does not show (one
    notified to a supervisor who has since lost the team, say). The scope is
    :func:`_episode_scope_exists_q`, the SQL form of ``clients.selectors.episode_scope_q``, so it
    costs no membership lookups before the count, and is checked only for the few open alerts
    the attention rule leaves.
    """
    if not user.is_authenticated:
        return 0
    return Alert.objects.filter(
        _attention_q(user),
        _episode_scope_exists_q(user, episode="episode__"),
        state=AlertState.OPEN,
    ).count()


def _episode_scope_exists_q(user, *, episode: str = "") -> Q:
    """``clients.selectors.episode_scope_q`` as correlated EXISTS conditions, with no query run
    to build it: their own clients; a clinic admin's clinic; the clients of therapists who share
    a team with the user's supervisor membership in that clinic. ``episode``: the path from the
    filtered model to the episode ("" on Episode, "episode__" on Alert).
    ``tests/integration/test_dashboard_alert_badge.py`` checks that both give the same episodes."""
    clinic, therapist = OuterRef(f"{episode}clinic"), OuterRef(f"{episode}therapist")
    admin = Membership.objects.filter(user=user, role=Role.ADMIN, clinic=clinic)
    supervised = Membership.objects.filter(
        user=user,
        role=Role.SUPERVISOR,
        clinic=clinic,
        teams__memberships__user=therapist,
        teams__memberships__clinic=clinic,
    )
    return Q(**{f"{episode}therapist": user}) | Q(Exists(admin)) | Q(Exists(supervised))


def alert_for(*, user, alert_id: int) -> Alert:
    """An alert on an episode ``user`` may see, else 404."""
    scoped = Episode.objects.filter(episode_scope_q(user)).values("pk")
    return get_object_or_404(
        Alert.objects.select_related("episode__client", "episode__clinic").filter(
            episode_id__in=scoped
        ),
        pk=alert_id,
    )


def days_ago(moment: datetime | date | None) -> int | None:
    if moment is None:
        return None
    day = timezone.localdate(moment) if isinstance(moment, datetime) else moment
    return (timezone.localdate() - day).days
