"""Deterioration alert rules: pure functions over DataFrames (issue 5, CLINICAL.md §1, §2, §4, §5).

Input contract:

- ``administrations``: episode_id (int), administration_id (int), instrument (code, e.g. "phq9"),
  administered_at (tz-aware UTC), total (float, NaN when the form could not be scored), risk
  ("yes" | "no" | "unknown"). Pass each episode's FULL history: baselines and transitions depend on
  it.
- ``checkins``: episode_id, checkin_id, due_at (UTC), status ("completed" | "missed" | "pending").
- ``params``: instrument code → ``InstrumentParams``. Instruments missing from ``params`` are
  ignored, except that an endorsed risk item always alerts.

``evaluate`` returns every alert the history supports, each keyed by a stable trigger ("adm:<id>" or
"checkin:<id>"), so the database layer can insert-if-absent on (episode, rule, trigger) and a rerun,
or two concurrent runs, create nothing new. Event rules (risk item, sudden loss, alliance concern,
disengagement) alert on every triggering event. State rules (reliable deterioration, not on track)
alert only on the administration where the state BEGINS (not met → met), so a client who stays worse
is one alert, not one a week; a new onset after recovery is a new alert, and so is each further
reliable-change step of worsening while the state lasts (``_further_worsening``).

Severities: "urgent" for an endorsed risk item; "high" for reliable deterioration, sudden loss and
a not-on-track that persists, rises steeply late in care or comes with an alliance concern;
"warning" (a watch) for the first score off the curve, alliance concern, disengagement and an
unanswered risk item (issue 16; see ``not_on_track``). A client's request to be contacted is no
rule over scores: the check-in raises it ("high", ``clients.checkins``).

Why one long module (~800 lines): every rule reads the same per-episode frame and shares the
baseline, transition and trigger helpers; the onset logic is only checkable with all rules in view.

Signals are prompts for review, never diagnoses (CLINICAL.md §4 step 6).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from measures.trajectories import (
    CURVE_LEVEL_NONE,
    CURVE_LEVEL_RED,
    FIRST_LIMIT_WEEK,
    HIGHER_IS_BETTER,
    LOWER_IS_BETTER,
    NOT_IMPROVING_SHARE,
    SIGMA_FLOOR,
    SIGMA_FLOORS,
    STATUS_RANK,
    Z_RED,
    Z_YELLOW,
    BandCurve,
    classify_arrays,
    concat_text,
    datetime_values,
    distinct_rows,
    format_one_decimal,
    format_scores,
    not_improving_note,
    status_reasons,
    status_text,
    treatment_weeks,
)

ALERT_COLUMNS = [
    "episode_id",
    "rule",
    "trigger",
    "administration_id",
    "severity",
    "instrument",
    "message",
]
STATUS_COLUMNS = ["episode_id", "status", "reason"]

RULES = (
    "risk_item",
    "reliable_deterioration",
    "not_on_track",
    "sudden_loss",
    "alliance_concern",
    "disengagement",
)

# Tang & DeRubeis 1999, criterion 3: two-tailed t test of the three scores before versus the three
# after, df = 4, critical value 2.776.
TANG_DERUBEIS_CRITICAL_T = 2.776
# Tang & DeRubeis 1999, criterion 2: at least 25 % of the pre-gain score.
TANG_DERUBEIS_SHARE_OF_PRE_SCORE = 0.25

_FLOAT_TOLERANCE = 1e-9

# Defaults of clinic settings (``RuleSettings``), local choices measured in
# bench/bench_early_warning.py. Not on track in the first four weeks is graded as a watch until it
# persists: a transient early worsening that resolves ("worse before better") is common and most
# change comes by session 4–6 (Delgadillo et al. 2014).
EARLY_IN_CARE_WEEKS = 4
# An alliance concern this recent raises a not-on-track onset to high (Whipple et al. 2003).
ALLIANCE_WINDOW_DAYS = 14
# Issue 16: a new not-on-track onset only after this many consecutive scores of the measure back on
# track (hysteresis against repeated onsets of a score wandering in and out of the band; 1 = any
# score back on track re-arms, the behaviour before the setting). 3 by default: with the
# sensitive curve settings below, a client hovering near the yellow line would otherwise raise a
# new watch every other week. See ``not_on_track``.
NOT_ON_TRACK_REARM_SCORES = 3
ALLIANCE_WINDOW = pd.Timedelta(days=ALLIANCE_WINDOW_DAYS)
SUDDEN_LOSS_CRITERIA = ("tang_derubeis", "reliable_change")
# The shipped curve defaults (issue 16), chosen together on the ``heldout`` profile of
# bench/bench_early_warning.py, the proxy of the issue author's cohort on which the goals are judged
# (docs/alerts.md, "Why these defaults"): the yellow line at z 0.6 (about the 73rd percentile of the
# band, a local choice below CLINICAL.md §4's 90th percentile line, 1.2816), judged from week 4;
# from week 3 any score worse than intake by more than 0.05 of the reliable change (PHQ-9: any
# rise) is "not improving". On heldout seeds 201-210 these warn 77.0 % of eventual deteriorators
# before they are reliably worse (the previous defaults, z 1.6449 / week 5 / 0.3 / K 1: 65.6 %)
# for 9.7 % of improvers flagged; on the default profile, whose improvers improve more slowly,
# they flag 35.4 % of improvers: a clinic like that chooses "fewer false alarms".
DEFAULT_Z_YELLOW = 0.6
DEFAULT_FIRST_LIMIT_WEEK = 4
DEFAULT_NOT_IMPROVING_SHARE = 0.05
# The defaults before these (issue 16, first round), kept as the "fewer false alarms" point (clinics
# still on all four were moved to the new ones by migration clients/0012).
PREVIOUS_Z_YELLOW = Z_RED
PREVIOUS_FIRST_LIMIT_WEEK = FIRST_LIMIT_WEEK
PREVIOUS_NOT_IMPROVING_SHARE = NOT_IMPROVING_SHARE
PREVIOUS_NOT_ON_TRACK_REARM_SCORES = 1


@dataclass(frozen=True)
class InstrumentParams:
    """What the rules need to know about an instrument (CLINICAL.md §1).

    ``reliable_change``: the published reliable-change value; a change of at least that many points
    is reliable (NHS Talking Therapies usage, CLINICAL.md §2); None when there is none.
    ``functional_cutoff``: the caseness cutoff. Lower is better: not a case below it (PHQ-9 < 10).
    Higher is better: functional at or above it (WHO-5 ≥ 52 %).
    ``has_curve``: watched by the expected-recovery-curve rule. ``measures``: "outcome" (feeds the
    status) or "alliance" (feeds the alliance rule). ``risk_item``: how to name the critical item to
    staff, empty when the instrument has none.
    """

    reliable_change: float | None
    direction: str
    functional_cutoff: float | None
    has_curve: bool = False
    label: str = ""
    measures: str = "outcome"
    risk_item: str = ""


# CLINICAL.md §1. Sources: Kroenke, Spitzer & Williams 2001 (PHQ-9); Spitzer et al. 2006 (GAD-7);
# NHS Talking Therapies Manual (caseness PHQ-9 ≥ 10 / GAD-7 ≥ 8, reliable change 6 / 4); Topp et al.
# 2015 (WHO-5 < 52 %, 10 points); Barkham et al. 2013 (CORE-10 clinical ≥ 11, RC ≈ 6, item 6);
# Miller et al. 2003 and Duncan 2003 (ORS cutoff 25, RC 5; SRS cutoff 36); Lambert et al., OQ-45.2
# manual (cutoff 64, RC 14). The session rating is our own 0–40 form; < 36 is a concern.
DEFAULT_PARAMS: Mapping[str, InstrumentParams] = {
    "phq9": InstrumentParams(
        6,
        LOWER_IS_BETTER,
        10,
        has_curve=True,
        label="PHQ-9",
        risk_item="item 9 (thoughts of being better off dead or of self-harm)",
    ),
    "gad7": InstrumentParams(4, LOWER_IS_BETTER, 8, has_curve=True, label="GAD-7"),
    "who5": InstrumentParams(10, HIGHER_IS_BETTER, 52, label="WHO-5"),
    "core10": InstrumentParams(
        6, LOWER_IS_BETTER, 11, label="CORE-10", risk_item="item 6 (plans to end life)"
    ),
    "ors": InstrumentParams(5, HIGHER_IS_BETTER, 25, label="ORS"),
    "oq45": InstrumentParams(14, LOWER_IS_BETTER, 64, label="OQ-45"),
    "session_rating": InstrumentParams(
        None, HIGHER_IS_BETTER, 36, label="Session rating", measures="alliance"
    ),
    "srs": InstrumentParams(None, HIGHER_IS_BETTER, 36, label="SRS", measures="alliance"),
}


@dataclass(frozen=True)
class RuleSettings:
    """Clinic settings. The z values, the first week judged and the not-improving share are local
    choices to calibrate; their defaults are measured (``DEFAULT_Z_YELLOW``, docs/alerts.md).

    ``curve_overrides``: band curves from ``trajectories.fit_curves``; only those with source
    "fitted" replace the provisional defaults. ``sudden_loss_criteria``: "tang_derubeis" (the
    default: the full mirror of Tang & DeRubeis 1999 that CLINICAL.md §5 specifies; see
    ``sudden_loss``) or "reliable_change" (any worsening of at least the reliable-change value
    between consecutive scores, issue 5: it flagged a quarter of clients who went on to improve).
    ``alert_on_unanswered_risk_item``: a skipped risk item is "unknown", never "no risk"
    (CLINICAL.md §1), so by default it raises a warning to ask directly.

    Curve settings (issue 16; CLINICAL.md asks for settings where these were constants):
    ``first_limit_week``: the first treatment week judged against the tolerance limits (default 4,
    ``DEFAULT_FIRST_LIMIT_WEEK``; see ``trajectories.FIRST_LIMIT_WEEK``; 2 judges every score after
    intake, as CLINICAL.md §4 reads). ``sigma_floor``: the continuous default's σ_t floor,
    "sqrt2_sem" (default, √2·SEM, Jacobson & Truax 1991) or "sem" (CLINICAL.md §4 step 5); see
    ``trajectories.SIGMA_FLOORS``.
    ``not_improving_share``: from week 3 the yellow limit is at most intake + this share of the
    reliable-change value (default 0.05: any PHQ-9 or GAD-7 rise above intake; 0 = the curve's
    band alone, as CLINICAL.md §4 reads); see ``trajectories.NOT_IMPROVING_SHARE``.
    ``early_in_care_weeks``: up to this week a first score off the curve stays a watch even when it
    rises steeply (Delgadillo et al. 2014). ``alliance_window_days``: an alliance concern this many
    days before a first score off the curve makes it high (Whipple et al. 2003).
    ``not_on_track_rearm_scores``: after a run off the curve, a new onset alerts only once the
    measure has been back on track for this many consecutive scores (default 3; 1: any score on
    track re-arms); see ``not_on_track``.
    """

    z_yellow: float = DEFAULT_Z_YELLOW
    z_red: float = Z_RED
    missed_checkins_for_disengagement: int = 2
    alliance_cutoff: float = 36.0
    alliance_drop: float = 1.0
    curve_overrides: tuple[BandCurve, ...] = ()
    sudden_loss_criteria: str = "tang_derubeis"
    alert_on_unanswered_risk_item: bool = True
    first_limit_week: int = DEFAULT_FIRST_LIMIT_WEEK
    sigma_floor: str = SIGMA_FLOOR
    not_improving_share: float = DEFAULT_NOT_IMPROVING_SHARE
    early_in_care_weeks: int = EARLY_IN_CARE_WEEKS
    alliance_window_days: int = ALLIANCE_WINDOW_DAYS
    not_on_track_rearm_scores: int = NOT_ON_TRACK_REARM_SCORES

    def __post_init__(self):
        if not 2 <= self.first_limit_week <= 12:
            # Week 1 is the intake itself; the curves are held flat after week 12.
            raise ValueError(f"first_limit_week must be 2–12, not {self.first_limit_week!r}")
        if self.sigma_floor not in SIGMA_FLOORS:
            raise ValueError(f"sigma_floor must be one of {sorted(SIGMA_FLOORS)}")
        if not 0 <= self.not_improving_share < 1:
            # At a whole reliable change the client is reliably worse: red, not a warning.
            raise ValueError("not_improving_share must be at least 0 and below 1")
        if self.early_in_care_weeks < 0:
            raise ValueError("early_in_care_weeks must be at least 0")
        if self.alliance_window_days < 0:
            raise ValueError("alliance_window_days must be at least 0")
        if self.not_on_track_rearm_scores < 1:
            raise ValueError("not_on_track_rearm_scores must be at least 1")
        if self.sudden_loss_criteria not in SUDDEN_LOSS_CRITERIA:
            raise ValueError(f"sudden_loss_criteria must be one of {SUDDEN_LOSS_CRITERIA}")
        if not 0 < self.z_yellow <= self.z_red:
            raise ValueError("z values must satisfy 0 < z_yellow ≤ z_red")

    def curve_options(self) -> dict:
        """The settings that decide the curve and its limits, as the keyword arguments of
        ``trajectories.classify_administrations``, ``calibrate`` and the chart: one decision for
        the alerts, the chart and the calibration."""
        return {
            "curves": self.curve_overrides,
            "z_yellow": self.z_yellow,
            "z_red": self.z_red,
            "first_limit_week": self.first_limit_week,
            "sigma_floor": self.sigma_floor,
            "not_improving_share": self.not_improving_share,
        }


@dataclass(frozen=True)
class OperatingPoint:
    """Curve settings a clinic can choose together, with what they trade (issue 16). Every field
    but the description is a Clinic field of the same name (``clients.selectors
    .operating_point_settings`` applies them generically)."""

    z_yellow: float
    z_red: float
    description: str
    not_improving_share: float = DEFAULT_NOT_IMPROVING_SHARE
    first_limit_week: int = DEFAULT_FIRST_LIMIT_WEEK
    sigma_floor: str = SIGMA_FLOOR
    not_on_track_rearm_scores: int = NOT_ON_TRACK_REARM_SCORES

    def settings(self, base: RuleSettings | None = None) -> RuleSettings:
        """``base`` (the shipped defaults when None) with this point's curve settings."""
        return dataclasses.replace(
            base or RuleSettings(),
            z_yellow=self.z_yellow,
            z_red=self.z_red,
            not_improving_share=self.not_improving_share,
            first_limit_week=self.first_limit_week,
            sigma_floor=self.sigma_floor,
            not_on_track_rearm_scores=self.not_on_track_rearm_scores,
        )


# From quiet to sensitive. Figures: bench/bench_early_warning.py, seeds 201-210, means; "heldout"
# is the profile calibrated to the issue author's cohort, "slow improvers" the default profile,
# whose improvers improve more slowly (docs/alerts.md). More sensitive points warn more
# deteriorators earlier and flag more clients who go on to improve.
OPERATING_POINTS: Mapping[str, OperatingPoint] = {
    "fewer false alarms": OperatingPoint(
        PREVIOUS_Z_YELLOW,
        Z_RED,
        "The previous defaults: not improving only when PHQ-9 is 2 points above intake from "
        "week 3, the 95th percentile line from week 5. Warns fewer deteriorating clients before "
        "they are reliably worse (65.6 %, 2.5 weeks ahead) but flags few clients who go on to "
        "improve: 2.7 %, and 9.6 % where clients improve slowly.",
        not_improving_share=PREVIOUS_NOT_IMPROVING_SHARE,
        first_limit_week=PREVIOUS_FIRST_LIMIT_WEEK,
        not_on_track_rearm_scores=PREVIOUS_NOT_ON_TRACK_REARM_SCORES,
    ),
    "balanced (default)": OperatingPoint(
        DEFAULT_Z_YELLOW,
        Z_RED,
        "The shipped default: any rise above intake from week 3, a yellow line at z 0.6 from "
        "week 4, a new alert only after 3 scores back on track. Warns 77.0 % of deteriorating "
        "clients before they are reliably worse, 3.8 weeks ahead; flags 9.7 % of clients who go "
        "on to improve, but 35.4 % where clients improve slowly.",
    ),
    "more sensitive": OperatingPoint(
        0.5,
        Z_RED,
        "The yellow line at z 0.5 from week 3. Warns the most deteriorating clients (80.9 %, "
        "4.3 weeks ahead) at the cost of more false alarms: 14.7 % of clients who go on to "
        "improve, 44.3 % where clients improve slowly, and more dips that resolve given a high "
        "alert (29.1 %).",
        first_limit_week=3,
    ),
    "CLINICAL.md as written": OperatingPoint(
        Z_YELLOW,
        Z_RED,
        "The 90th/95th percentile lines from week 2 with the SEM floor and no not-improving "
        "limit, as CLINICAL.md §4 reads.",
        not_improving_share=0.0,
        first_limit_week=2,
        sigma_floor="sem",
        not_on_track_rearm_scores=1,
    ),
}


@dataclass(frozen=True)
class RuleResult:
    alerts: pd.DataFrame
    status: pd.DataFrame


def evaluate(
    administrations: pd.DataFrame,
    checkins: pd.DataFrame,
    params: Mapping[str, InstrumentParams] = DEFAULT_PARAMS,
    *,
    settings: RuleSettings = RuleSettings(),  # noqa: B008 (frozen, so a shared default is safe)
) -> RuleResult:
    """Run every rule and the per-episode status over whole caseloads, vectorised.

    One small episode (a submission's evaluation) takes ``measures.rules_small``: the same
    output on arrays, without the fixed cost of pandas operations (issue 18)."""
    from measures import rules_small  # imported here: rules_small builds on this module

    if rules_small.handles(administrations, checkins):
        return rules_small.evaluate(administrations, checkins, params, settings=settings)
    history = score_history(administrations, params, settings=settings)
    alerts = [
        risk_item(administrations, params, settings=settings),
        reliable_deterioration(administrations, params, settings=settings, history=history),
        not_on_track(administrations, params, settings=settings, history=history),
        sudden_loss(administrations, params, settings=settings, history=history),
        alliance_concern(administrations, params, settings=settings, history=history),
        disengagement(checkins, missed_in_a_row=settings.missed_checkins_for_disengagement),
    ]
    episode_ids = _episode_ids(administrations["episode_id"], checkins["episode_id"])
    return RuleResult(
        alerts=_sorted_alerts(_alerts_concat(alerts)),
        status=episode_status(history, params, episode_ids=episode_ids),
    )


def _episode_ids(*columns: pd.Series) -> np.ndarray:
    """Every episode id in ``columns``, once. The status keeps only which ids there are (it sorts
    by id), so int64 ids in a compact range are marked in a boolean array: hashing 1.4 M ids to
    find 50,000 cost several times that."""
    arrays = [column.to_numpy() for column in columns]
    present = [values for values in arrays if len(values)]
    if present and all(values.dtype == np.int64 for values in arrays):
        low = min(int(values.min()) for values in present)
        span = max(int(values.max()) for values in present) - low + 1
        if span <= 4 * sum(len(values) for values in present) + 1_000_000:
            seen = np.zeros(span, dtype=bool)
            for values in present:
                seen[values - low] = True
            return np.flatnonzero(seen).astype(np.int64) + low
    return pd.concat(list(columns), ignore_index=True).unique()


def score_history(
    administrations: pd.DataFrame,
    params: Mapping[str, InstrumentParams] = DEFAULT_PARAMS,
    *,
    settings: RuleSettings = RuleSettings(),  # noqa: B008
) -> pd.DataFrame:
    """Every valid score of a known instrument, classified, with the previous score of its series.

    One row per administration with a total (missing totals are ignored), sorted by instrument,
    episode and time, so each (episode, instrument) series is contiguous. Columns of
    ``trajectories.classify_administrations`` plus measures, previous_total, previous_curve_level
    and previous_reliably_worse (the previous valid score of the same series; none at the baseline).
    """
    columns = history_columns(administrations, params, settings=settings)
    if columns is None:
        return _empty_history()
    # Object columns stay plain objects: pandas would otherwise infer and validate a string
    # column from each (a third of a second a million rows). Not copied: the arrays are new, and
    # copying consolidates them into blocks, which cost more than the whole classification.
    return pd.DataFrame(
        {
            name: pd.Series(values, dtype=object, copy=False)
            if isinstance(values, np.ndarray) and values.dtype == object
            else values
            for name, values in columns.items()
        },
        copy=False,
    )


def history_columns(
    administrations: pd.DataFrame,
    params: Mapping[str, InstrumentParams] = DEFAULT_PARAMS,
    *,
    settings: RuleSettings = RuleSettings(),  # noqa: B008
) -> dict | None:
    """``score_history``'s columns as arrays (None when no instrument is known): the frame costs
    more than the arithmetic on one small episode, which ``measures.rules_small`` reads as arrays.
    """
    # One sort of every valid score of a known instrument by (instrument, episode, time, id), and
    # the classification on arrays per instrument's slice: a sort, a frame and a string column per
    # instrument cost several times the arithmetic. Instruments in name order, as they always were.
    # Factorized as plain objects: pandas' string column factorizes at half that speed (a
    # million rows: 0.04 against 0.09 s); missing instruments are −1 either way.
    codes, instruments = pd.factorize(administrations["instrument"].to_numpy(dtype=object))
    known = sorted(code for code in instruments if code in params)
    if not known:
        return None
    rank_of_code = np.full(len(instruments) + 1, -1)  # the last slot: a missing instrument (−1)
    code_of = {instrument: code for code, instrument in enumerate(instruments)}
    for rank, instrument in enumerate(known):
        rank_of_code[code_of[instrument]] = rank
    rank = rank_of_code[codes]
    total = administrations["total"].to_numpy(dtype=float)
    rows = np.flatnonzero((rank >= 0) & ~np.isnan(total))
    at = datetime_values(administrations["administered_at"])
    episode = administrations["episode_id"].to_numpy()
    administration = administrations["administration_id"].to_numpy()
    rows = rows[_series_order(rank[rows], episode[rows], at.asi8[rows], administration[rows])]
    rank, total, episode, at = rank[rows], total[rows], episode[rows], at.take(rows)
    first = np.ones(len(rows), dtype=bool)
    first[1:] = (episode[1:] != episode[:-1]) | (rank[1:] != rank[:-1])
    week, intake = treatment_weeks(first, at, total)
    columns = {
        "episode_id": episode,
        "administration_id": administration[rows],
        "administered_at": at,
        "total": total,
        "week": week,
        "intake": intake,
        "is_baseline": first,
        "instrument": pd.Series(known).array.take(rank),
    }
    classified: dict[str, np.ndarray] = {}
    bounds = np.searchsorted(rank, np.arange(len(known) + 1))
    for position, instrument in enumerate(known):
        instrument_params = params[instrument]
        part = slice(bounds[position], bounds[position + 1])
        arrays = classify_arrays(
            instrument,
            total[part],
            intake[part],
            week[part],
            reliable_change=instrument_params.reliable_change,
            direction=instrument_params.direction,
            functional_cutoff=instrument_params.functional_cutoff,
            has_curve=instrument_params.has_curve,
            **settings.curve_options(),
        )
        for name, values in arrays.items():
            if name not in classified:
                classified[name] = np.empty(len(rows), dtype=values.dtype)
            classified[name][part] = values
    columns.update(classified)
    columns["status"] = status_text(columns["status"])
    # Per-instrument constants as columns, so the rules below stay vectorised. The rows are in
    # instrument blocks, so each constant fills its block's slice: a take of a million objects
    # cost three times that.
    for name, values in _instrument_constants(params, known).items():
        column = np.empty(len(rows), dtype=values.dtype)
        for position in range(len(known)):
            column[bounds[position] : bounds[position + 1]] = values[position]
        columns[name] = column
    columns["previous_total"] = _previous(total, first, np.nan)
    columns["previous_week"] = _previous(week.astype(float), first, np.nan)
    columns["previous_curve_level"] = _previous(columns["curve_level"], first, CURVE_LEVEL_NONE)
    columns["previous_reliably_worse"] = _previous(columns["reliably_worse"], first, False)
    columns["series"] = np.cumsum(first)
    return columns


def _series_order(rank, episode, ticks, administration) -> np.ndarray:
    """The stable order by (rank, episode, time, administration id), as ``np.lexsort`` gives it.

    Rows usually come in time order within each episode (read in the order they were stored),
    so one stable sort by (rank, episode) is checked and kept when it leaves every series in
    (time, id) order; a general sort of four keys only when it does not (three times the time).
    """
    low, high = (int(episode.min()), int(episode.max())) if len(episode) else (0, 0)
    span = high - low + 1
    if span * (int(rank.max(initial=0)) + 1) >= 2**62:  # the pair does not fit one int64
        return np.lexsort((administration, ticks, episode, rank))
    key = rank * span + (episode - low)
    order = np.argsort(key, kind="stable")
    key_in_order, ticks_in_order, ids = key[order], ticks[order], administration[order]
    same_series = key_in_order[1:] == key_in_order[:-1]
    earlier = ticks_in_order[1:] < ticks_in_order[:-1]
    tie = (ticks_in_order[1:] == ticks_in_order[:-1]) & (ids[1:] < ids[:-1])
    if (same_series & (earlier | tie)).any():
        return np.lexsort((administration, ticks, key))
    return order


def _instrument_constants(params, instruments) -> dict[str, np.ndarray]:
    """What the rules read of each instrument's params, one entry per instrument."""
    constants = {name: [] for name in ("measures", "label", "reliable_change", "worse_sign")}
    constants.update(moved=[], worse_side=[])
    for instrument in instruments:
        instrument_params = params[instrument]
        lower_is_better = instrument_params.direction == LOWER_IS_BETTER
        reliable_change = instrument_params.reliable_change
        constants["measures"].append(instrument_params.measures)
        constants["label"].append(_label(params, instrument))
        constants["reliable_change"].append(np.nan if reliable_change is None else reliable_change)
        constants["worse_sign"].append(1.0 if lower_is_better else -1.0)
        constants["moved"].append(" rose from " if lower_is_better else " fell from ")
        constants["worse_side"].append(" above " if lower_is_better else " below ")
    numbers = ("reliable_change", "worse_sign")
    return {
        name: np.array(values, dtype=float if name in numbers else object)
        for name, values in constants.items()
    }


def _previous(values: np.ndarray, first: np.ndarray, fill) -> np.ndarray:
    """Each row's previous value in its series; ``fill`` at the series' first row."""
    previous = np.empty_like(values, dtype=np.result_type(values, np.asarray(fill)))
    previous[1:] = values[:-1]
    previous[first] = fill
    return previous


def risk_item(
    administrations: pd.DataFrame,
    params: Mapping[str, InstrumentParams] = DEFAULT_PARAMS,
    *,
    settings: RuleSettings = RuleSettings(),  # noqa: B008
) -> pd.DataFrame:
    """A critical item endorsed: urgent, whatever the total (CLINICAL.md §1).

    PHQ-9 item 9 (Kroenke, Spitzer & Williams 2001) or CORE-10 item 6 (Barkham et al. 2013) answered
    above 0 arrives as risk "yes", and alerts even when the total could not be scored. A risk item
    is never imputed: "unknown" (left unanswered) raises a warning to ask directly, for instruments
    that have a risk item, unless ``settings.alert_on_unanswered_risk_item`` is off.
    """
    # Compared as a numpy object array: pandas' string comparison is several times slower, and
    # the instrument is looked at only on the few rows left unanswered.
    risk = administrations["risk"].to_numpy()
    endorsed = administrations[risk == "yes"]
    alerts = [
        _risk_alerts(endorsed, params, severity="urgent", what="was endorsed: review risk today")
    ]
    if settings.alert_on_unanswered_risk_item:
        with_risk_item = [code for code, p in params.items() if p.risk_item]
        unanswered = administrations[risk == "unknown"]
        unanswered = unanswered[unanswered["instrument"].isin(with_risk_item)]
        alerts.append(
            _risk_alerts(
                unanswered, params, severity="warning", what="was left unanswered: ask directly"
            )
        )
    return _alerts_concat(alerts)


def _risk_alerts(rows, params, *, severity, what) -> pd.DataFrame:
    def describe(instrument):
        instrument_params = params.get(instrument)
        label = _label(params, instrument)
        item = instrument_params.risk_item if instrument_params else ""
        return f"{label} {item or 'risk item'} {what}"

    # A plain list of the codes: iterating a pandas string column fetches each through pandas.
    instruments = rows["instrument"].to_numpy(dtype=object).tolist()
    messages = {code: describe(code) for code in set(instruments)}
    return _alerts(
        rows,
        rule="risk_item",
        severity=severity,
        messages=[messages[code] for code in instruments],
    )


def reliable_deterioration(
    administrations: pd.DataFrame,
    params: Mapping[str, InstrumentParams] = DEFAULT_PARAMS,
    *,
    settings: RuleSettings = RuleSettings(),  # noqa: B008
    history: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Reliably worse than the episode's baseline (Jacobson & Truax 1991; CLINICAL.md §2).

    Baseline: the first valid administration of that instrument in the episode. Worse by at least
    the instrument's published reliable-change value (PHQ-9 6, GAD-7 4: NHS Talking Therapies
    Manual; OQ-45 14: Lambert et al.), mirrored for higher-is-better measures. Alerts where the
    state begins: the first administration reliably worse after one that was not.
    """
    history = _history(history, administrations, params, settings)
    worse = history["reliably_worse"]
    if not worse.any():  # most episodes: skip building empty messages (a fixed cost per rule)
        return _no_alerts()
    begins = worse & ~history["previous_reliably_worse"]
    onset = history[begins]
    messages = concat_text(
        onset["label"], onset["moved"], format_scores(onset["intake"]), " at intake to ",
        format_scores(onset["total"]), " at week ", format_scores(onset["week"]),
        ": a reliable worsening (at least ", format_scores(onset["reliable_change"]), " points)",
    )  # fmt: skip
    further = _further_worsening(history, in_state=worse, anchor=begins)
    again = history.loc[further.index]
    again_messages = concat_text(
        again["label"], again["moved"], format_scores(further["from_total"]), " at week ",
        format_scores(further["from_week"]), ", where the reliable worsening began, to ",
        format_scores(again["total"]), " at week ", format_scores(again["week"]), ": ",
        format_scores(further["worsening"]), " points worse since (reliable change ",
        format_scores(again["reliable_change"]), ")",
    )  # fmt: skip
    return _alerts_concat(
        [
            _alerts(onset, rule="reliable_deterioration", severity="high", messages=messages),
            _alerts(again, rule="reliable_deterioration", severity="high", messages=again_messages),
        ]
    )


def _further_worsening(history: pd.DataFrame, *, in_state, anchor) -> pd.DataFrame:
    """Scores that, while a state persists, are worse than where it began by a further whole
    reliable-change step not reached before in that run (``from_total``/``from_week``: the score
    it began at).

    A state rule alerts where its state begins; without this a client who goes on getting worse
    would stay one alert, already acknowledged and perhaps resolved, however far the score goes
    (an alert resolved as "discussed" at PHQ-9 16 says nothing about 22 and then 27). Each further
    step of the instrument's reliable-change value (Jacobson & Truax 1991; PHQ-9 6 points, NHS
    Talking Therapies Manual) is itself a reliable worsening, so it is a new alert. ``anchor``
    must be true on the first row of every run of ``in_state`` (each run starts where the state
    begins); a run is contiguous because the history is sorted by series and time.
    """
    if not in_state.any():  # one small episode, mostly: skip three grouped passes over nothing
        empty = pd.Series(dtype=float)
        return pd.DataFrame({"from_total": empty, "from_week": empty, "worsening": empty})
    # On arrays, by position: the runs are contiguous, so each run's first row is its anchor.
    positions = np.flatnonzero(np.asarray(in_state))

    def column(name):
        # The rows in the state first, then floats: converting a whole integer column (the
        # week) to keep a fraction of it copied a million values.
        return history[name].to_numpy()[positions].astype(float)

    total, week = column("total"), column("week")
    run = np.cumsum(np.asarray(anchor)[positions])
    new_run = np.ones(len(positions), dtype=bool)
    new_run[1:] = run[1:] != run[:-1]
    place = np.arange(len(positions))
    first = np.maximum.accumulate(np.where(new_run, place, 0))
    anchored = run > 0  # rows in the state before any anchor have nothing to compare with
    from_total = np.where(anchored, total[first], np.nan)
    from_week = np.where(anchored, week[first], np.nan)
    worsening = column("worse_sign") * (total - from_total)
    steps = np.floor(worsening / column("reliable_change") + _FLOAT_TOLERANCE)
    reached = pd.Series(steps).groupby(run).cummax().to_numpy()
    reached_before = np.empty_like(reached)
    reached_before[1:] = reached[:-1]
    reached_before[new_run] = np.nan
    with np.errstate(invalid="ignore"):
        further = (steps >= 1) & (steps > reached_before)
    return pd.DataFrame(
        {
            "from_total": from_total[further],
            "from_week": from_week[further],
            "worsening": worsening[further],
        },
        index=history.index[positions[further]],
    )


def not_on_track(
    administrations: pd.DataFrame,
    params: Mapping[str, InstrumentParams] = DEFAULT_PARAMS,
    *,
    settings: RuleSettings = RuleSettings(),  # noqa: B008 (frozen, so a shared default is safe)
    history: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Outside the expected recovery curve's tolerance band (Finch, Lambert & Schaalje 2001; Lambert
    et al. 2002; CLINICAL.md §4; see ``measures.trajectories``), graded by persistence (issue 16).

    Off the curve: above ŷ + z_yellow·σ_t (yellow) or ŷ + z_red·σ_t (red), strictly; mirrored for
    higher-is-better; judged from ``settings.first_limit_week``. Only instruments with a curve
    and intakes at or above caseness are watched.

    - The first score off the curve is a "warning" (watch): one score beyond a tolerance line is
      expected of many clients in any week (one in ten at the 90th percentile line, about one in
      four at the default yellow z 0.6), and a transient early worsening
      that resolves is common and is not a worse outcome (worse before better; Lambert et al. 2002
      count a single signal as a prompt, not a verdict).
    - It is "high" at once when it is red and rose by at least half the reliable-change value since
      the previous score after week ``settings.early_in_care_weeks`` (a steep late fall is the
      pattern of deterioration, Finch, Lambert & Schaalje 2001), or when an alliance concern was
      rated in the ``settings.alliance_window_days`` before it (a weak or falling alliance predicts
      deterioration and is part of the Clinical Support Tools, Whipple et al. 2003; Lambert et al.
      2002).
    - A second score in a row off the curve is a new "high" alert ("off the curve for 2 scores"),
      unless the first one already was high.
    - While off the curve, each further reliable-change step alerts again (``_further_worsening``).
    - Re-arming (``settings.not_on_track_rearm_scores``, K): after a run off the curve, the first
      score of a new run alerts only when the K scores of the measure before it were all on track
      (hysteresis, the usual remedy for alarm fatigue: a score wandering in and out of the band is
      one state, not a new onset each time). Within each run the second-score escalation and the
      further steps behave as above. K = 1: any score back on track re-arms.

    The message says which of these applied.
    """
    history = _history(history, administrations, params, settings)
    off = history["curve_level"] > CURVE_LEVEL_NONE
    if not off.any():
        return _no_alerts()
    onset = off & (history["previous_curve_level"] == CURVE_LEVEL_NONE)
    # Each run off the curve, numbered from its onset, and each row's place in its run; then only
    # the onsets and second rows, with only the columns read below (on arrays: grouping and
    # filtering the whole history cost more than the rule).
    off_rows = np.flatnonzero(off.to_numpy())
    onset_of_off = onset.to_numpy()[off_rows]
    run_of_off = np.cumsum(onset_of_off)
    new_run = np.ones(len(off_rows), dtype=bool)
    new_run[1:] = run_of_off[1:] != run_of_off[:-1]
    steps = np.arange(len(off_rows))
    position = steps - np.maximum.accumulate(np.where(new_run, steps, 0))
    chosen = onset_of_off | (position == 1)
    rows = history.iloc[
        off_rows[chosen], [history.columns.get_loc(name) for name in _NOT_ON_TRACK_READS]
    ]
    is_onset = onset_of_off[chosen]
    red = (rows["curve_level"] == CURVE_LEVEL_RED).to_numpy()
    rise = (rows["worse_sign"] * (rows["total"] - rows["previous_total"])).to_numpy()
    steep = (
        red
        & (rise >= rows["reliable_change"].to_numpy() / 2 - _FLOAT_TOLERANCE)
        & (rows["week"].to_numpy() > settings.early_in_care_weeks)
    )
    alliance = _alliance_concern_before(rows, history, settings)
    onset_high = is_onset & (steep | alliance)
    # The second score of a run alerts only when the run's first one was a watch.
    run_of_row = run_of_off[chosen]
    high_runs = set(run_of_row[onset_high])
    keep = is_onset | ~np.isin(run_of_row, list(high_runs))
    if settings.not_on_track_rearm_scores > 1:
        keep &= ~is_onset | _rearmed(off_rows[chosen], history, off, settings)
    rows, is_onset, red, rise = rows[keep], is_onset[keep], red[keep], rise[keep]
    steep, alliance = steep[keep], alliance[keep]
    severity = np.where(is_onset & ~steep & ~alliance, "warning", "high")
    messages = _not_on_track_messages(
        rows, rows["week"].to_numpy(), red, rise, is_onset, steep, alliance, settings
    )
    further = _further_worsening(history, in_state=off, anchor=onset)
    # A score that is both the run's second (the persistence alert, already high) and a further
    # reliable step raises one alert, not two with the same trigger (the second would be lost
    # to the alert table's unique key, and the pair depended on the rows' order).
    further = further[
        ~history.loc[further.index, "administration_id"].isin(rows["administration_id"])
    ]
    again = history.loc[further.index]
    again_messages = _worse_again_messages(
        again, further["from_total"], further["from_week"], further["worsening"]
    )
    return _alerts_concat(
        [
            _alerts(rows, rule="not_on_track", severity=severity, messages=messages),
            _alerts(again, rule="not_on_track", severity="high", messages=again_messages),
        ]
    )


def _not_on_track_messages(
    rows, week, red, rise, is_onset, steep, alliance, settings: RuleSettings
) -> np.ndarray:
    """The not-on-track sentence staff see, saying why its severity is what it is. ``rows``: the
    alerting rows as a frame, or a dict of column arrays (the small-episode path, rules_small)."""
    limit = np.where(red, rows["red_limit"], rows["yellow_limit"])
    provisional = np.where(rows["curve_source"] == "default", ", provisional default curve", "")
    why = np.select(
        [~is_onset, steep, alliance, week <= settings.early_in_care_weeks],
        [
            "; off the curve for 2 scores in a row",
            "; rose " + format_scores(rise) + " points since the previous score",
            f"; with an alliance concern in the past {_days(settings.alliance_window_days)}",
            "; first score off the curve, early in care: watch, review if it persists",
        ],
        default="; first score off the curve: watch, review if it persists",
    ).astype(object)
    return concat_text(
        "Not on track: ", rows["label"], " ", format_scores(rows["total"]), " is",
        rows["worse_side"], "the expected ", format_one_decimal(rows["expected"]), " (",
        np.where(red, "red", "yellow"), " limit ", format_one_decimal(limit),
        np.where(red, "", not_improving_note(rows)), provisional, ") at week ",
        format_scores(week), why,
    )  # fmt: skip


def _worse_again_messages(again, from_total, from_week, worsening) -> np.ndarray:
    """A further reliable step while off the curve; ``again``: its rows, frame or dict of arrays."""
    return concat_text(
        "Not on track and worse again: ", again["label"], " ", format_scores(again["total"]),
        " at week ", format_scores(again["week"]), " against ", format_scores(from_total),
        " at week ", format_scores(from_week), ", where it left the curve: ",
        format_scores(worsening), " points worse (reliable change ",
        format_scores(again["reliable_change"]), "; expected ",
        format_one_decimal(again["expected"]), ")",
    )  # fmt: skip


def _alliance_messages(
    label, total, worse_side, previous_total, below_cutoff, dropped, settings: RuleSettings
) -> np.ndarray:
    """The alliance-concern sentence: below the cutoff, dropped since the previous rating, or
    both. ``label`` and ``total`` are already text."""
    below_text = concat_text(
        label, " ", total, " is", worse_side, "the cutoff ",
        format_scores([settings.alliance_cutoff])[0],
    )  # fmt: skip
    drop_text = concat_text(
        label, " dropped from ", format_scores(previous_total), " to ", total,
        " since the previous rating",
    )  # fmt: skip
    return concat_text(
        "Alliance concern: ",
        np.select(
            [below_cutoff & dropped, below_cutoff],
            [concat_text(below_text, "; ", drop_text), below_text],
            default=drop_text,
        ),
    )


def _rearmed(onsets: np.ndarray, history: pd.DataFrame, off: pd.Series, settings) -> np.ndarray:
    """For each onset (a position in ``history``), true when its series had no score off the curve
    before it, or at least ``settings.not_on_track_rearm_scores`` scores on track since the last
    one (the history is sorted by series and time, so a series' scores are contiguous)."""
    # Looked up at the onsets only (binary searches in the positions off the curve and the
    # series' first rows), not carried along the whole history by running maxima.
    off_positions = np.flatnonzero(np.asarray(off))
    before = np.searchsorted(off_positions, onsets)  # scores off the curve before each onset
    previous_off = np.where(before > 0, off_positions[np.maximum(before - 1, 0)], -1)
    series = history["series"].to_numpy()
    first = np.ones(len(history), dtype=bool)
    first[1:] = series[1:] != series[:-1]
    starts = np.flatnonzero(first)
    series_start = starts[np.searchsorted(starts, onsets, side="right") - 1]
    never_off = previous_off < series_start
    on_track_since = onsets - previous_off - 1
    return never_off | (on_track_since >= settings.not_on_track_rearm_scores)


# The history columns ``not_on_track`` reads of the rows it alerts on.
_NOT_ON_TRACK_READS = [
    "episode_id",
    "administration_id",
    "instrument",
    "administered_at",
    "total",
    "previous_total",
    "week",
    "expected",
    "curve_level",
    "curve_source",
    "red_limit",
    "yellow_limit",
    "yellow_by_intake",
    "intake",
    "reliable_change",
    "worse_sign",
    "label",
    "worse_side",
]


def _alliance_concern_before(
    rows: pd.DataFrame, history: pd.DataFrame, settings: RuleSettings
) -> np.ndarray:
    """True where the same episode had an alliance concern in the ``alliance_window_days`` up to
    the row (at the same moment included), as pandas' ``merge_asof`` backward with that tolerance
    finds it; a missing time matches nothing."""
    ratings = _measuring(
        history,
        "alliance",
        ["episode_id", "administered_at", "total", "previous_total", "worse_sign"],
    )
    if ratings.empty or rows.empty:
        return np.zeros(len(rows), dtype=bool)
    worse = ratings["worse_sign"].to_numpy(dtype=float)
    total = ratings["total"].to_numpy(dtype=float)
    with np.errstate(invalid="ignore"):
        concern = (worse * (total - settings.alliance_cutoff) > 0) | (
            worse * (total - ratings["previous_total"].to_numpy(dtype=float))
            >= settings.alliance_drop - _FLOAT_TOLERANCE
        )
    if not concern.any():
        return np.zeros(len(rows), dtype=bool)
    # On arrays, one sort of the concerns and the rows together by (episode, time), a concern
    # before a row at the same moment: each row's latest concern so far is the one merge_asof
    # would match (the frames, their two sorts and the merge were half of not-on-track's time).
    concern_at = datetime_values(ratings["administered_at"])
    row_at = datetime_values(rows["administered_at"])
    window = np.timedelta64(settings.alliance_window_days, "D")
    window = window.astype(f"m8[{row_at.unit}]").astype(np.int64)
    n_concerns = int(concern.sum())
    episode = np.concatenate(
        [ratings["episode_id"].to_numpy()[concern], rows["episode_id"].to_numpy()]
    )
    ticks = np.concatenate([concern_at.as_unit(row_at.unit).asi8[concern], row_at.asi8])
    is_row = np.arange(len(ticks)) >= n_concerns
    order = np.lexsort((is_row, ticks, episode))
    episode, ticks = episode[order], ticks[order]
    latest = np.maximum.accumulate(np.where(is_row[order], -1, np.arange(len(order))))
    candidate = np.maximum(latest, 0)
    missing = np.iinfo(np.int64).min  # NaT's ticks
    matched = (
        (latest >= 0)
        & (episode[candidate] == episode)
        & (ticks - ticks[candidate] <= window)
        & (ticks != missing)
        & (ticks[candidate] != missing)
    )
    in_input_order = np.empty(len(order), dtype=bool)
    in_input_order[order] = matched
    return in_input_order[n_concerns:]


def sudden_loss(
    administrations: pd.DataFrame,
    params: Mapping[str, InstrumentParams] = DEFAULT_PARAMS,
    *,
    settings: RuleSettings = RuleSettings(),  # noqa: B008
    history: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """A sudden loss: the mirror image of a sudden gain (Tang & DeRubeis 1999; CLINICAL.md §5).

    By default (``settings.sudden_loss_criteria = "tang_derubeis"``, CLINICAL.md §5) all three
    mirrored criteria must hold for the loss between score N and N+1:
    (1) the worsening is at least the reliable-change value; (2) it is at least 25 % of the pre-loss
    score N; (3) the mean of scores N+1..N+3 is worse than the mean of N−2..N by more than
    2.776 pooled standard errors (t test, 3 + 3 scores). Criterion 3 needs two scores after the
    loss, so the alert appears two administrations later, still keyed to the loss. With
    "reliable_change" (issue 5) criterion 1 alone is enough.
    """
    history = _history(history, administrations, params, settings)
    # On arrays: a comparison with NaN (no previous score, no reliable change) is False.
    worse = history["worse_sign"].to_numpy(dtype=float)
    previous_total = history["previous_total"].to_numpy(dtype=float)
    worsening = worse * (history["total"].to_numpy(dtype=float) - previous_total)
    is_loss = worsening >= history["reliable_change"].to_numpy(dtype=float) - _FLOAT_TOLERANCE
    if settings.sudden_loss_criteria == "tang_derubeis":
        is_loss &= worsening >= TANG_DERUBEIS_SHARE_OF_PRE_SCORE * previous_total
        # Criterion 3 (six shifted copies of the history) only where 1 and 2 found a candidate.
        if is_loss.any():
            is_loss &= _lasting_loss(history, worse, is_loss)
    elif settings.sudden_loss_criteria != "reliable_change":
        raise ValueError(f"unknown sudden_loss_criteria {settings.sudden_loss_criteria!r}")
    if not is_loss.any():
        return _no_alerts()
    losses = history[is_loss]
    messages = concat_text(
        "Sudden loss: ", losses["label"], losses["moved"], format_scores(losses["previous_total"]),
        " at week ", format_scores(losses["previous_week"]), " to ",
        format_scores(losses["total"]), " at week ", format_scores(losses["week"]),
    )  # fmt: skip
    return _alerts(losses, rule="sudden_loss", severity="high", messages=messages)


def _lasting_loss(history, worse, candidates) -> np.ndarray:
    """Tang & DeRubeis criterion 3, mirrored, for a loss at each candidate row (scores N−2..N vs
    N+1..N+3); False elsewhere. Computed only at the candidates (criteria 1 and 2 met): shifting
    the whole history six times cost more than the rest of the rule. ``history`` is the frame or,
    for the small-episode path (``rules_small``), a dict of its column arrays."""
    total = np.asarray(history["total"], dtype=float)
    series = np.asarray(history["series"])
    at = np.flatnonzero(np.asarray(candidates, dtype=bool))
    last = len(total) - 1

    def same_series(offset):
        source = np.clip(at - offset, 0, last)
        inside = (at - offset >= 0) & (at - offset <= last) & (series[source] == series[at])
        return np.where(inside, total[source], np.nan)

    before = np.column_stack([same_series(offset) for offset in (1, 2, 3)])
    after = np.column_stack([same_series(offset) for offset in (0, -1, -2)])
    # Pooled variance of two groups of three: ((3−1)·s1² + (3−1)·s2²) / (3 + 3 − 2).
    pooled_variance = (before.var(axis=1, ddof=1) + after.var(axis=1, ddof=1)) / 2
    standard_error = np.sqrt(pooled_variance * (1 / 3 + 1 / 3))
    mean_shift = np.asarray(worse)[at] * (after.mean(axis=1) - before.mean(axis=1))
    lasting = np.zeros(len(total), dtype=bool)
    with np.errstate(invalid="ignore"):
        lasting[at] = mean_shift > TANG_DERUBEIS_CRITICAL_T * standard_error
    return lasting


def alliance_concern(
    administrations: pd.DataFrame,
    params: Mapping[str, InstrumentParams] = DEFAULT_PARAMS,
    *,
    settings: RuleSettings = RuleSettings(),  # noqa: B008
    history: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """A session rating below the cutoff, or any drop from the previous rating (CLINICAL.md §1).

    Below 36 of 40 (strictly), or a drop of at least 1 point from the previous valid rating
    (settings ``alliance_cutoff``, ``alliance_drop``). The cutoff follows the SRS (Duncan 2003;
    Miller et al. 2003); our session rating has its own wording. Applies to instruments whose params
    say measures="alliance". One alert per triggering rating.
    """
    history = _history(history, administrations, params, settings)
    ratings = _measuring(
        history,
        "alliance",
        ["episode_id", "administration_id", "instrument", "total", "previous_total"]
        + ["worse_sign", "label", "worse_side"],
    )
    worse = ratings["worse_sign"]
    below_cutoff = (worse * (ratings["total"] - settings.alliance_cutoff) > 0).to_numpy()
    dropped = (
        (worse * (ratings["total"] - ratings["previous_total"]))
        >= settings.alliance_drop - _FLOAT_TOLERANCE
    ).to_numpy()
    concern = below_cutoff | dropped
    if not concern.any():
        return _no_alerts()
    flagged = ratings[concern]
    below_cutoff, dropped = below_cutoff[concern], dropped[concern]
    # Ratings take few values: each distinct message is built once and spread to its rows.
    labels = pd.factorize(flagged["label"].to_numpy(dtype=object))[0]
    once, spread = distinct_rows(
        labels,
        *(np.round(flagged[name].to_numpy() * 10) for name in ("total", "previous_total")),
        below_cutoff,
        dropped,
    )
    flagged_once, below_cutoff, dropped = flagged.iloc[once], below_cutoff[once], dropped[once]
    label, total = _text(flagged_once["label"]), format_scores(flagged_once["total"])
    messages = _alliance_messages(
        label, total, flagged_once["worse_side"], flagged_once["previous_total"],
        below_cutoff, dropped, settings,
    )[spread]  # fmt: skip
    return _alerts(flagged, rule="alliance_concern", severity="warning", messages=messages)


def disengagement(checkins: pd.DataFrame, *, missed_in_a_row: int = 2) -> pd.DataFrame:
    """N check-ins missed in a row (issue 5; N is a clinic setting, default 2).

    Check-ins are taken in due order per episode; pending ones are not decided yet and are skipped,
    a completed one ends the run. The alert is keyed to the check-in that makes the run reach N, so
    a run of five missed check-ins is one alert and a new run after a completed check-in is another.
    """
    # On arrays, in (episode, due, id) order: a sort of the frame and a grouped cumulative sum
    # cost more than the rule.
    status = checkins["status"].to_numpy(dtype=object)
    decided = np.flatnonzero(status != "pending")
    episode = checkins["episode_id"].to_numpy()[decided]
    due_at = datetime_values(checkins["due_at"])
    due = due_at.asi8[decided]
    checkin_id = checkins["checkin_id"].to_numpy()[decided]
    order = _series_order(np.zeros(len(decided), dtype=np.int64), episode, due, checkin_id)
    episode, due, checkin_id = episode[order], due[order], checkin_id[order]
    missed = status[decided[order]] == "missed"
    new_episode = np.ones(len(decided), dtype=bool)
    new_episode[1:] = episode[1:] != episode[:-1]
    # Each completed check-in or new episode starts a new run; count missed ones within it.
    run_starts = new_episode | ~missed
    missed_count = np.cumsum(missed)
    before_run = np.maximum.accumulate(np.where(run_starts, missed_count - missed, 0))
    reached = np.flatnonzero(missed & (missed_count - before_run == missed_in_a_row))
    # The UTC calendar day, as pandas' strftime("%Y-%m-%d") of the UTC time gives it.
    days = np.datetime_as_string(due[reached].view(f"M8[{due_at.unit}]"), unit="D")
    messages = concat_text(f"{missed_in_a_row} check-ins missed in a row (the last due ", days, ")")
    return pd.DataFrame(
        {
            "episode_id": episode[reached],
            "rule": "disengagement",
            "trigger": _triggers("checkin:", checkin_id[reached]),
            "administration_id": pd.array([pd.NA] * len(reached), dtype="Int64"),
            "severity": "warning",
            "instrument": pd.Series([None] * len(reached), dtype=object).to_numpy(),
            "message": pd.Series(messages, dtype=object).to_numpy(),
        },
        columns=ALERT_COLUMNS,
    )


# The history columns the status and ``trajectories.status_reasons`` read.
_STATUS_READS = [
    "episode_id",
    "instrument",
    "status",
    "total",
    "intake",
    "week",
    "expected",
    "curve_source",
    "red_limit",
    "yellow_limit",
    "yellow_by_intake",
    "reliably_worse",
]


def episode_status(
    history: pd.DataFrame,
    params: Mapping[str, InstrumentParams] = DEFAULT_PARAMS,
    *,
    episode_ids=None,
) -> pd.DataFrame:
    """One status per episode from the LATEST score of each outcome instrument; the worst wins.

    red > yellow > green > white (CLINICAL.md §4 step 4). The reason joins the reasons of every
    instrument at the winning level. Episodes in ``episode_ids`` with no valid outcome score are
    "none".
    """
    # Pick the latest rows by position and copy only those: filtering the whole history first
    # copied every column of a million rows to keep one in ten.
    outcome = np.flatnonzero(_rows_measuring(history, "outcome"))
    series = history["series"].to_numpy()[outcome]
    is_latest = np.ones(len(outcome), dtype=bool)
    is_latest[:-1] = series[:-1] != series[1:]
    latest = history.iloc[
        outcome[is_latest], [history.columns.get_loc(name) for name in _STATUS_READS]
    ]
    # By episode, then instrument (the history's blocks are in instrument name order), on arrays:
    # pandas compared the instrument names string by string to sort them.
    instrument_block = pd.factorize(latest["instrument"].to_numpy(dtype=object))[0]
    order = np.lexsort((instrument_block, latest["episode_id"].to_numpy()))
    latest = latest.iloc[order]
    status = latest["status"].to_numpy(dtype=object)
    rank = np.zeros(len(latest), dtype=np.int64)
    for name, value in STATUS_RANK.items():
        rank[status == name] = value
    episode = latest["episode_id"].to_numpy()
    first = np.ones(len(latest), dtype=bool)
    first[1:] = episode[1:] != episode[:-1]
    starts = np.flatnonzero(first)
    worst_rank = np.maximum.reduceat(rank, starts)[np.cumsum(first) - 1] if len(rank) else rank
    worst = latest[rank == worst_rank]
    # Reasons only for the instruments at the winning level: the others are never shown.
    reasons = np.empty(len(worst), dtype=object)
    for instrument, rows in worst.groupby("instrument").indices.items():
        instrument_params = params[instrument]
        reasons[rows] = status_reasons(
            worst.iloc[rows],
            label=_label(params, instrument),
            reliable_change=instrument_params.reliable_change,
            direction=instrument_params.direction,
            functional_cutoff=instrument_params.functional_cutoff,
        )
    if worst.empty:
        status = pd.DataFrame({"episode_id": pd.Series(dtype="int64"), "status": [], "reason": []})
        status = status.astype({"status": object, "reason": object})
        return _with_unscored(status, episode_ids)
    # Join the reasons of instruments tied at the worst level without a Python call per episode:
    # position k of each episode's run is appended to the run's first row, for k = 1, 2, ...
    # (a handful of instruments at most).
    episode = worst["episode_id"].to_numpy()
    first = np.ones(len(worst), dtype=bool)
    first[1:] = episode[1:] != episode[:-1]
    starts = np.flatnonzero(first)
    group = np.cumsum(first) - 1
    position = np.arange(len(worst)) - starts[group]
    joined = reasons[starts].copy()
    for k in range(1, position.max() + 1):
        at = position == k
        joined[group[at]] = joined[group[at]] + "; " + reasons[at]
    status = pd.DataFrame(
        {
            "episode_id": episode[starts],
            "status": worst["status"].to_numpy(dtype=object)[starts],
            "reason": joined,
        }
    )
    return _with_unscored(status, episode_ids)


def _with_unscored(status: pd.DataFrame, episode_ids) -> pd.DataFrame:
    if episode_ids is not None:
        unscored = pd.Index(episode_ids).difference(pd.Index(status["episode_id"]))
        status = pd.concat(
            [
                status,
                pd.DataFrame(
                    {"episode_id": unscored, "status": "none", "reason": "No valid scores yet"}
                ),
            ],
            ignore_index=True,
        ).sort_values("episode_id", ignore_index=True)
    return status[STATUS_COLUMNS]


def _measuring(history: pd.DataFrame, measures: str, columns: list[str]) -> pd.DataFrame:
    """The rows of instruments that measure ``measures``, with only ``columns``: taking every
    column of a million-row history to keep a fifth of it cost more than the rule itself."""
    return history[columns].take(np.flatnonzero(_rows_measuring(history, measures)))


def _rows_measuring(history: pd.DataFrame, measures: str) -> np.ndarray:
    """True on the rows of instruments that measure ``measures``. An instrument's measure is the
    same on all its rows, so it is compared once per series, not once per row."""
    per_series = history["measures"].to_numpy()[history["is_baseline"].to_numpy()] == measures
    return per_series[history["series"].to_numpy() - 1]


def _history(history, administrations, params, settings) -> pd.DataFrame:
    if history is None:
        return score_history(administrations, params, settings=settings)
    return history


def _empty_history() -> pd.DataFrame:
    columns = {
        "episode_id": "int64",
        "administration_id": "int64",
        "instrument": object,
        "administered_at": "datetime64[ns, UTC]",
        "total": float,
        "week": int,
        "intake": float,
        "is_baseline": bool,
        "expected": float,
        "sigma": float,
        "curve_source": object,
        "intake_band": object,
        "yellow_limit": float,
        "red_limit": float,
        "yellow_by_intake": bool,
        "curve_level": int,
        "reliably_worse": bool,
        "reliably_improved": bool,
        "functional": bool,
        "status": object,
        "measures": object,
        "label": object,
        "reliable_change": float,
        "worse_sign": float,
        "moved": object,
        "worse_side": object,
        "previous_total": float,
        "previous_week": float,
        "previous_curve_level": int,
        "previous_reliably_worse": bool,
        "series": int,
    }
    return pd.DataFrame({name: pd.Series(dtype=dtype) for name, dtype in columns.items()})


def _alerts(rows: pd.DataFrame, *, rule: str, severity, messages) -> pd.DataFrame:
    if rows.empty:
        return _no_alerts()
    return pd.DataFrame(
        {
            "episode_id": rows["episode_id"].to_numpy(),
            "rule": rule,
            "trigger": _triggers("adm:", rows["administration_id"]),
            "administration_id": pd.array(rows["administration_id"].to_numpy(), dtype="Int64"),
            "severity": severity,
            "instrument": rows["instrument"].to_numpy(dtype=object),
            "message": pd.Series(messages, dtype=object).to_numpy(),
        },
        columns=ALERT_COLUMNS,
    )


def _alerts_concat(frames: list[pd.DataFrame]) -> pd.DataFrame:
    """The non-empty frames as one; most rules find nothing in a small episode, and a concat of
    empty frames costs as much as one of full ones."""
    found = [frame for frame in frames if len(frame)]
    if not found:
        return _no_alerts()
    if len(found) == 1:
        return found[0]
    return pd.concat(found, ignore_index=True)


def _no_alerts() -> pd.DataFrame:
    # Building an empty typed frame costs about a millisecond; one small episode needs a dozen.
    return _NO_ALERTS.copy()


def _empty_alerts() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "episode_id": pd.Series(dtype="int64"),
            "rule": pd.Series(dtype=object),
            "trigger": pd.Series(dtype=object),
            "administration_id": pd.Series(dtype="Int64"),
            "severity": pd.Series(dtype=object),
            "instrument": pd.Series(dtype=object),
            "message": pd.Series(dtype=object),
        }
    )


_NO_ALERTS = _empty_alerts()


def _sorted_alerts(alerts: pd.DataFrame) -> pd.DataFrame:
    # A fixed order makes the output identical for identical input, whatever the input row order.
    # The triggers are ranked as fixed-width numpy strings (compared in C, by code point as
    # Python does); pandas sorted them by Python comparisons, a fifth of the whole evaluation.
    # Equal triggers are ranked in row order, as a stable sort keeps them.
    trigger = np.empty(len(alerts), dtype=np.intp)
    trigger[np.argsort(alerts["trigger"].to_numpy(dtype=str), kind="stable")] = np.arange(
        len(alerts)
    )
    rule = pd.factorize(alerts["rule"].to_numpy(dtype=object), sort=True)[0]
    order = np.lexsort((trigger, rule, alerts["episode_id"].to_numpy()))
    alerts = alerts.take(order).reset_index(drop=True)
    alerts["administration_id"] = alerts["administration_id"].astype("Int64")
    return alerts[ALERT_COLUMNS]


def _days(days: int) -> str:
    if days % 7 == 0 and days:
        weeks = days // 7
        return {1: "week", 2: "two weeks", 3: "three weeks", 4: "four weeks"}.get(
            weeks, f"{weeks} weeks"
        )
    return "day" if days == 1 else f"{days} days"


def _triggers(prefix: str, ids) -> np.ndarray:
    return _text([f"{prefix}{key}" for key in np.asarray(ids).tolist()])


def _text(column) -> np.ndarray:
    return np.asarray(column, dtype=object)


def _label(params, instrument) -> str:
    instrument_params = params.get(instrument)
    return (instrument_params.label if instrument_params else "") or instrument
