"""Supervisors' outcome reports, computed from DataFrames (no ORM: the loaders are in
``dashboards.report_selectors``).

Definitions (CLINICAL.md §3 and §5):

* Active caseload: episodes open at the end of the period.
* Form completion rate: of the check-ins sent in the period that have closed, the share completed:
  completed / (completed + missed). CLINICAL.md §5 says "forms completed / forms sent"; a check-in
  still open (pending, not yet expired) has not had its chance and a cancelled one (opt-out, plan
  ended) was withdrawn, so neither counts as sent-and-not-completed. The caseload uses the same
  definition (``completion_rate``).
* Ended: episodes that ended in the period. Finished: ended with at least 2 attended treatment
  sessions (NHS Talking Therapies Manual: a finished course of treatment).
* Recovery, reliable improvement, reliable deterioration and reliable recovery: NHS Talking
  Therapies paired outcomes on the first and last paired PHQ-9 and GAD-7 of finished episodes,
  computed by ``measures.change.talking_therapies_frame``. Recovery and reliable recovery are
  defined for cases at the start only (PHQ-9 >= 10 or GAD-7 >= 8).
* Pre-post effect size d = (mean_pre - mean_post) / SD_pre on finished episodes with paired
  scores (``measures.change.pre_post_effect_size``), with a 95 % interval from Becker's (1988)
  large-sample variance of the standardised mean change.
* Dropout: an ended episode with fewer than 2 attended sessions, or ended unplanned (end reason
  "unplanned" or "dropout").
* Any rate on fewer than 10 episodes is suppressed (shown as "n < 10"), for privacy and because
  such rates are mostly noise. So is every funnel stage whose base (the stage before it) is below
  10. Where exactly one row of a breakdown is suppressed and the row it adds up to is shown, the
  next smallest row is withheld too (complementary suppression, ``complementary_suppression``),
  or subtracting the shown rows from the total would give the suppressed one back.
* Proportions carry Wilson score intervals (Wilson 1927), which keep their coverage for small n
  and rates near 0 or 1 where the Wald interval does not (Brown, Cai & DasGupta 2001, Statistical
  Science 16:101-133; Newcombe 1998, Statistics in Medicine 17:857-872).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from datetime import date

import numpy as np
import pandas as pd

from measures.change import pre_post_effect_size, talking_therapies_frame

#: Rates on fewer episodes than this are not shown (CLINICAL.md §5).
SUPPRESS_BELOW = 10
#: qnorm(0.975), the two-sided 95 % normal quantile.
Z_95 = 1.959964
#: National reference, England (NHS Digital, Psychological Therapies annual reports 2017-18 to
#: 2019-20): recovery about 50 %, reliable improvement about two thirds (66.4 % in 2017-18).
NATIONAL_RECOVERY_RATE = 0.50
NATIONAL_RELIABLE_IMPROVEMENT_RATE = 0.664
UNPLANNED_END_REASONS = ("unplanned", "dropout")


# --- intervals ------------------------------------------------------------------------------------


def wilson_interval(successes, trials, *, z: float = Z_95):
    """Wilson score interval for a proportion (Wilson 1927, JASA 22:209-212).

    centre = (p + z²/2n) / (1 + z²/n); half-width = z·√(p(1-p)/n + z²/4n²) / (1 + z²/n).
    Works on numbers and numpy arrays; n = 0 gives NaN.
    """
    successes = np.asarray(successes, dtype=float)
    trials = np.asarray(trials, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        p = successes / trials
        denominator = 1 + z**2 / trials
        centre = (p + z**2 / (2 * trials)) / denominator
        half = z * np.sqrt(p * (1 - p) / trials + z**2 / (4 * trials**2)) / denominator
    low, high = np.clip(centre - half, 0, 1), np.clip(centre + half, 0, 1)
    if low.ndim == 0:
        return float(low), float(high)
    return low, high


def effect_size_interval(pre, post, *, direction: str = "lower_is_better", z: float = Z_95):
    """Pre-post effect size d (CLINICAL.md §5) with its normal-theory interval.

    Var(d) ≈ 2(1 - r)/n + d²/(2n), with r the pre-post correlation: Becker (1988), "Synthesizing
    standardized mean-change measures", Br J Math Stat Psychol 41:257-278 (the variance of the
    standardised mean change with the pre-test SD as the standardiser; Morris & DeShon 2002,
    Psychol Methods 7:105-125, eq. 13). Returns (d, low, high); NaN where d is undefined (fewer
    than two pairs or no spread in the pre scores).
    """
    pre = np.asarray(pre, dtype=float)
    post = np.asarray(post, dtype=float)
    complete = ~np.isnan(pre) & ~np.isnan(post)
    pre, post = pre[complete], post[complete]
    try:
        d = pre_post_effect_size(pre, post, direction=direction)
    except ValueError:
        return math.nan, math.nan, math.nan
    n = len(pre)
    r = float(np.corrcoef(pre, post)[0, 1]) if post.std() > 0 else 0.0
    standard_error = math.sqrt(2 * (1 - r) / n + d**2 / (2 * n))
    return d, d - z * standard_error, d + z * standard_error


# --- results --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Rate:
    """A proportion of episodes (or forms) with its Wilson interval; ``suppressed`` when it rests
    on fewer than ``SUPPRESS_BELOW`` episodes (``too_few``) or is ``withheld`` so that another
    suppressed rate cannot be recovered by subtraction (complementary suppression)."""

    numerator: int
    denominator: int
    episodes: int
    withheld: bool = False

    @property
    def too_few(self) -> bool:
        return self.episodes < SUPPRESS_BELOW

    @property
    def suppressed(self) -> bool:
        return self.too_few or self.withheld

    @property
    def value(self) -> float | None:
        if self.suppressed or self.denominator == 0:
            return None
        return self.numerator / self.denominator

    @property
    def interval(self) -> tuple[float, float] | None:
        if self.value is None:
            return None
        return wilson_interval(self.numerator, self.denominator)

    def as_dict(self) -> dict:
        interval = self.interval
        return {
            "numerator": self.numerator,
            "denominator": self.denominator,
            "value": self.value,
            "low": interval[0] if interval else None,
            "high": interval[1] if interval else None,
            "suppressed": self.suppressed,
            "withheld": self.withheld,
        }


def episode_rate(numerator, denominator) -> Rate:
    return Rate(numerator=int(numerator), denominator=int(denominator), episodes=int(denominator))


def completion_rate(*, completed: int, missed: int) -> float | None:
    """Check-ins completed / check-ins that had their chance (completed + missed); None when none
    has closed yet. Pending check-ins have not closed; cancelled ones were withdrawn."""
    closed = completed + missed
    return completed / closed if closed else None


@dataclass(frozen=True)
class EffectSize:
    n: int
    d: float
    low: float
    high: float

    @property
    def suppressed(self) -> bool:
        return self.n < SUPPRESS_BELOW

    @property
    def shown(self) -> bool:
        return not self.suppressed and not math.isnan(self.d)


@dataclass
class OutcomeRow:
    """The figures of one clinician, one team, or the whole scope."""

    key: str
    label: str
    kind: str  # "clinician", "team" or "total"
    caseload: int = 0
    checkins_sent: int = 0
    checkins_completed: int = 0
    checkins_missed: int = 0
    completion: Rate = field(default_factory=lambda: Rate(0, 0, 0))
    ended: int = 0
    finished: int = 0
    dropouts: int = 0
    dropout: Rate = field(default_factory=lambda: Rate(0, 0, 0))
    paired: int = 0
    cases: int = 0
    recovered: int = 0
    recovery: Rate = field(default_factory=lambda: Rate(0, 0, 0))
    reliable_improvement: Rate = field(default_factory=lambda: Rate(0, 0, 0))
    reliable_deterioration: Rate = field(default_factory=lambda: Rate(0, 0, 0))
    reliable_recovery: Rate = field(default_factory=lambda: Rate(0, 0, 0))
    effect_phq9: EffectSize = field(
        default_factory=lambda: EffectSize(0, math.nan, *(math.nan,) * 2)
    )
    effect_gad7: EffectSize = field(
        default_factory=lambda: EffectSize(0, math.nan, *(math.nan,) * 2)
    )
    alerts: int = 0
    urgent_alerts: int = 0
    urgent_acknowledged: int = 0
    median_hours_to_acknowledge: float | None = None
    # The median is over acknowledged alerts only; these keep it from flattering.
    urgent_unacknowledged: int = 0
    urgent_acknowledged_late: int | None = None  # after the escalation window (None: unknown)


#: The rates of a row that complementary suppression considers (effect sizes and medians are not
#: sums of their rows' parts, so a total minus the shown rows does not give a hidden one back).
RATE_FIGURES = (
    "completion",
    "dropout",
    "recovery",
    "reliable_improvement",
    "reliable_deterioration",
    "reliable_recovery",
)


@dataclass(frozen=True)
class FunnelStage:
    """One stage of the funnel. Each stage is a share of the one before it (its ``base``), so it
    is suppressed, count and percentage, when that base is below ``SUPPRESS_BELOW``: showing it
    would show a rate on fewer than 10 episodes (the first stage has no base and is the table's
    "ended" count)."""

    label: str
    count: int
    base: int | None
    initial: int

    @property
    def suppressed(self) -> bool:
        return self.base is not None and self.base < SUPPRESS_BELOW

    @property
    def shown_count(self) -> int | None:
        return None if self.suppressed else self.count

    @property
    def percent_of_base(self) -> float | None:
        """The share of the stage before, as the funnel shows it. A share of the first stage
        would put "Recovered 13 %" (of referrals) beside the table's recovery rate of 17 % (of
        cases with paired scores) for the same people; a share of the stage before is that rate."""
        if self.suppressed or not self.base:
            return None
        return 100 * self.count / self.base


def funnel_stages(counts: list[tuple[str, int]]) -> list[FunnelStage]:
    initial = counts[0][1] if counts else 0
    return [
        FunnelStage(label, count, counts[index - 1][1] if index else None, initial)
        for index, (label, count) in enumerate(counts)
    ]


@dataclass
class Report:
    start: date
    end: date
    total: OutcomeRow
    teams: list[OutcomeRow]
    clinicians: list[OutcomeRow]
    funnel_stages: list[FunnelStage]
    national_recovery_rate: float = NATIONAL_RECOVERY_RATE
    national_reliable_improvement_rate: float = NATIONAL_RELIABLE_IMPROVEMENT_RATE
    escalation_hours: float | None = None

    @property
    def withheld_any(self) -> bool:
        rows = [self.total, *self.teams, *self.clinicians]
        return any(getattr(row, name).withheld for row in rows for name in RATE_FIGURES)


# --- computation ----------------------------------------------------------------------------------


def episode_outcomes(episodes: pd.DataFrame, *, start: date, end: date) -> pd.DataFrame:
    """Per-episode flags for the period: active, ended, finished, dropout, paired outcomes."""
    ended_on = pd.to_datetime(episodes["ended_on"])
    start_ts, end_ts = pd.Timestamp(start), pd.Timestamp(end)
    attended = episodes["attended_sessions"].to_numpy(dtype=float)
    ended = (ended_on >= start_ts) & (ended_on <= end_ts)
    finished = ended.to_numpy() & (attended >= 2)
    outcome = talking_therapies_frame(episodes)
    flags = pd.DataFrame(
        {
            "therapist_id": episodes["therapist_id"].to_numpy(),
            "active": (ended_on.isna() | (ended_on > end_ts)).to_numpy(),
            "ended": ended.to_numpy(),
            "entered_treatment": ended.to_numpy() & (attended >= 1),
            "finished": finished,
            "dropout": ended.to_numpy()
            & ((attended < 2) | episodes["end_reason"].isin(UNPLANNED_END_REASONS).to_numpy()),
        },
        index=episodes.index,
    )
    # Outcomes count for finished episodes only; a missing pair leaves them undefined (NA).
    defined = finished & outcome["reliable_improvement"].notna().to_numpy()
    flags["paired"] = defined
    for name in ("reliable_improvement", "reliable_deterioration"):
        flags[name] = defined & outcome[name].fillna(False).to_numpy(dtype=bool)
    cases = defined & outcome["case_at_start"].fillna(False).to_numpy(dtype=bool)
    flags["case"] = cases
    flags["recovered"] = cases & outcome["recovery"].fillna(False).to_numpy(dtype=bool)
    flags["reliably_recovered"] = cases & outcome["reliable_recovery"].fillna(False).to_numpy(
        dtype=bool
    )
    for column in ("phq9_first", "phq9_last", "gad7_first", "gad7_last"):
        flags[column] = np.where(defined, episodes[column].to_numpy(dtype=float), np.nan)
    return flags


def clinic_report(frames, *, start: date, end: date) -> Report:
    """Compute the report for ``frames`` (a ``report_selectors.ReportFrames``)."""
    flags = episode_outcomes(frames.episodes, start=start, end=end)
    # Plain arrays and index sets: a hundred clinicians' rows cost a few fancy-indexing steps
    # each instead of a DataFrame filter per figure.
    columns = {name: flags[name].to_numpy() for name in flags.columns}
    therapist_of = columns["therapist_id"]
    checkins, alerts = frames.checkins, frames.alerts
    everyone = np.arange(len(flags))

    escalation_hours = frames.escalation_hours

    def row(episode_index, therapist_ids, *, key, label, kind):
        return _row(
            {name: values[episode_index] for name, values in columns.items()},
            checkins[checkins["therapist_id"].isin(therapist_ids)]
            if therapist_ids is not None
            else checkins,
            alerts[alerts["therapist_id"].isin(therapist_ids)]
            if therapist_ids is not None
            else alerts,
            key=key,
            label=label,
            kind=kind,
            escalation_hours=escalation_hours,
        )

    total = row(everyone, None, key="total", label="All in scope", kind="total")
    by_therapist = flags.groupby("therapist_id", sort=False).indices
    empty = np.array([], dtype=int)
    clinicians = [
        row(
            by_therapist.get(therapist_id, empty),
            [therapist_id],
            key=f"clinician-{therapist_id}",
            label=name,
            kind="clinician",
        )
        for therapist_id, name in zip(
            frames.staff["therapist_id"], frames.staff["name"], strict=True
        )
    ]
    teams = []
    # Each team adds up from its clinicians: a breakdown of its own for complementary suppression.
    breakdowns = [(total, clinicians)]
    clinician_rows = {clinician.key: clinician for clinician in clinicians}
    for (team_id, team_name), team in frames.team_members.groupby(
        ["team_id", "team_name"], sort=True
    ):
        ids = list(set(team["therapist_id"]))
        team_row = row(
            np.flatnonzero(np.isin(therapist_of, ids)),
            ids,
            key=f"team-{team_id}",
            label=team_name,
            kind="team",
        )
        teams.append(team_row)
        members = [clinician_rows.get(f"clinician-{therapist_id}") for therapist_id in ids]
        breakdowns.append((team_row, [member for member in members if member is not None]))
    breakdowns.insert(1, (total, teams))
    complementary_suppression(breakdowns)
    funnel = funnel_stages(
        [
            ("Referrals ended", int(columns["ended"].sum())),
            ("Entered treatment (1+ session)", int(columns["entered_treatment"].sum())),
            ("Finished (2+ sessions)", int(columns["finished"].sum())),
            ("Case at start, paired scores", int(columns["case"].sum())),
            ("Recovered", int(columns["recovered"].sum())),
        ]
    )
    return Report(
        start=start,
        end=end,
        total=total,
        teams=teams,
        clinicians=clinicians,
        funnel_stages=funnel,
        escalation_hours=frames.escalation_hours,
    )


def complementary_suppression(breakdowns: list[tuple[OutcomeRow, list[OutcomeRow]]]) -> None:
    """Withhold rates that would give a suppressed one away by subtraction (in place).

    A breakdown is a shown row and the rows it adds up from (clinicians of the scope, teams of
    the scope, clinicians of a team). If exactly one of those rows is suppressed, the shown total
    minus the other rows is that row's numerator and denominator. Standard statistical disclosure
    control (secondary, or complementary, cell suppression: Hundepool et al., *Statistical
    Disclosure Control*, Wiley 2012, §4.2 and ch. 5; the ONS and NHS Digital small-number
    policies) then suppresses the next smallest row too, so that only the sum of two hidden rows
    can be worked out. Withholding in one breakdown may leave another with a single hidden row
    (a clinician in two teams), so this repeats until nothing changes. Rows with no episodes at
    all carry nothing to give away and do not count as hidden.
    """
    changed = True
    while changed:
        changed = False
        for name in RATE_FIGURES:
            for parent, rows in breakdowns:
                if getattr(parent, name).suppressed:
                    continue
                hidden = [
                    row
                    for row in rows
                    if getattr(row, name).suppressed and getattr(row, name).episodes > 0
                ]
                shown = [row for row in rows if not getattr(row, name).suppressed]
                if len(hidden) != 1 or not shown:
                    continue
                partner = min(shown, key=lambda row: getattr(row, name).episodes)
                setattr(partner, name, replace(getattr(partner, name), withheld=True))
                changed = True


def _row(
    flags: dict, checkins, alerts, *, key: str, label: str, kind: str, escalation_hours=None
) -> OutcomeRow:
    """One row of figures from the per-episode flag arrays of its episodes."""
    ended, finished = int(flags["ended"].sum()), int(flags["finished"].sum())
    paired_mask = flags["paired"].astype(bool)
    paired, cases = int(paired_mask.sum()), int(flags["case"].sum())
    recovered = int(flags["recovered"].sum())
    sent, completed = int(checkins["sent"].sum()), int(checkins["completed"].sum())
    missed = int(checkins["missed"].sum())
    hours = alerts.loc[alerts["urgent"].astype(bool), "hours_to_acknowledge"]
    acknowledged = hours.dropna()
    late = None if escalation_hours is None else int((acknowledged > escalation_hours).sum())

    def effect(measure):
        values = effect_size_interval(
            flags[f"{measure}_first"][paired_mask], flags[f"{measure}_last"][paired_mask]
        )
        return EffectSize(paired, *values)

    return OutcomeRow(
        key=key,
        label=label,
        kind=kind,
        caseload=int(flags["active"].sum()),
        checkins_sent=sent,
        checkins_completed=completed,
        checkins_missed=missed,
        completion=Rate(completed, completed + missed, int(checkins["episodes"].sum())),
        ended=ended,
        finished=finished,
        dropouts=int(flags["dropout"].sum()),
        dropout=episode_rate(flags["dropout"].sum(), ended),
        paired=paired,
        cases=cases,
        recovered=recovered,
        recovery=episode_rate(recovered, cases),
        reliable_improvement=episode_rate(flags["reliable_improvement"].sum(), paired),
        reliable_deterioration=episode_rate(flags["reliable_deterioration"].sum(), paired),
        reliable_recovery=episode_rate(flags["reliably_recovered"].sum(), cases),
        effect_phq9=effect("phq9"),
        effect_gad7=effect("gad7"),
        alerts=len(alerts),
        urgent_alerts=len(hours),
        urgent_acknowledged=len(acknowledged),
        median_hours_to_acknowledge=float(acknowledged.median()) if len(acknowledged) else None,
        urgent_unacknowledged=len(hours) - len(acknowledged),
        urgent_acknowledged_late=late,
    )
