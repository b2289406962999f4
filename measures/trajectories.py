"""Expected recovery curves and the weekly not-on-track status.

The method is the published shape of Lambert's signal system (Finch, Lambert & Schaalje 2001;
Lambert et al. 2002), CLINICAL.md §4:

1. group intake scores into severity bands;
2. per band, fit ŷ = b0 + b1·ln t (t = 1 at intake) on the clinic's own completed episodes, and use
   provisional defaults until a band has enough episodes;
3. tolerance limits ŷ + z·σ_t (yellow z = 1.2816, red z = 1.6449: local settings, to be calibrated);
4. a status per week: red / yellow / green / white;
5. report the calibration on the clinic's history (Hannan et al. 2005 for why it matters).

**The treatment week t.** t = 1 at the episode's baseline, the first valid administration of that
instrument; after that t = 1 + elapsed days / 7, rounded to the nearest whole week, so a form
returned a day early or late counts for its own week and a missed week does not stall the curve.
Curves are held flat after t = 12 (CLINICAL.md §4 step 5).

**Which default form is used.** Until a band has a fitted curve, the *continuous* default form is
used: ŷ(t) = x0 + ((a + c·x0) − x0)·ln t / ln 7 and σ_t = √max((s_e·ln t / ln 7)², 2·SEM²), with x0
the client's own intake. Unlike the banded defaults it has no jump at a band edge (an intake of 14
and one of 15 get nearly the same expectations) and its σ_t grows with t as observed. It reproduces
the banded default curves at each band's mean intake (tests/unit/test_trajectories.py checks this
against etr_defaults.csv). The banded defaults are kept in ``DEFAULT_CURVES`` for display and as the
fallback row of ``fit_curves``. A fitted band curve, once a band has enough episodes, replaces the
default for that band.

Every default here is PROVISIONAL: derived, not published, coefficients. Say so wherever they are
shown.

Why one long module (~950 lines): the fit, the defaults, the weekly status and the calibration
report share the treatment-week and band definitions above; split, each would re-derive them.

Pure: numpy and pandas only, no Django.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

# One-sided normal quantiles: 90th and 95th percentile lines (CLINICAL.md §4 step 3). These are
# local settings to be calibrated on the clinic's history, not published thresholds.
Z_YELLOW = 1.2816
Z_RED = 1.6449

# The default curves were derived for up to 12 weekly sessions; beyond that they would keep falling
# with no data behind them, so they are held flat (CLINICAL.md §4 step 5).
LAST_CURVE_WEEK = 12
# The continuous form reaches its end-of-treatment expectation a + c·x0 at t = 7: the mean course
# length was 6.8 sessions (NHS Digital, Psychological Therapies annual report 2017-18).
END_OF_TREATMENT_WEEK = 7

# The tolerance band applies from week 5 by default in this module's functions (a clinic setting,
# ``first_limit_week``, whose shipped default is ``rules.DEFAULT_FIRST_LIMIT_WEEK``, 4; 2 judges
# every score after intake, as CLINICAL.md §4 reads). At week 2 the change the curve
# expects (0.36 of the whole course: about 2–4 PHQ-9 points) is no larger than the error of the
# difference between two scores (√2·SEM ≈ 3.1, Jacobson & Truax 1991); an early transient
# worsening that resolves ("worse before better") peaks in weeks 2–4, and most change comes by
# session 4–6 (Delgadillo et al. 2014), so a score beyond the band before week 5 says little about
# the outcome. From week 3 the not-improving limit (``NOT_IMPROVING_SHARE``) watches those weeks
# instead; reliable deterioration and sudden loss watch every week. Measured:
# bench/bench_early_warning.py, docs/alerts.md.
FIRST_LIMIT_WEEK = 5

# The floor of the continuous default's σ_t, a clinic setting (``RuleSettings.sigma_floor``):
# "sqrt2_sem" (the default since issue 16): √2·SEM, the error of a difference of two scores
# (Jacobson & Truax 1991), because the expectation is anchored on the client's own intake, which
# carries its own error; "sem": SEM, as CLINICAL.md §4 step 5 gives it.
SIGMA_FLOORS = {"sqrt2_sem": math.sqrt(2), "sem": 1.0}
SIGMA_FLOOR = "sqrt2_sem"

# Not improving (issue 16, a departure from CLINICAL.md §4 made a clinic setting,
# ``RuleSettings.not_improving_share``; 0 turns it off): from week 3, when the curve expects more
# than half of a course's change (ln 3 / ln 7 = 0.56; most change comes by session 4–6, Delgadillo
# et al. 2014), a score worse than intake by more than this share of the reliable-change value is
# off the curve (yellow) even where the tolerance band, widened by the spread of *other* clients'
# courses, would still call it on track. Not an inference that the client is worse (that is the
# reliable change, Jacobson & Truax 1991): a prompt that the expected improvement is not there.
# The band grows with t (σ_t up to 6.9 PHQ-9 points), so for
# an intake of 10–12 its yellow line lies within a point of a reliable worsening, too late to warn.
# PHQ-9: worse by more than 1.8, i.e. 2 whole points; GAD-7 by more than 1.2, i.e. 2 points. This
# module's default; the shipped clinic default is ``rules.DEFAULT_NOT_IMPROVING_SHARE`` (0.05: any
# rise above intake), chosen with the other curve settings (docs/alerts.md, "Why these defaults").
NOT_IMPROVING_SHARE = 0.3
NOT_IMPROVING_FIRST_WEEK = 3

DAYS_PER_WEEK = 7
# Reliable-change comparisons use ≥ (CLINICAL.md §2); the tolerance absorbs float noise such as
# 16.3 − 10.3 = 5.999999999999998.
_FLOAT_TOLERANCE = 1e-9

STATUSES = ("white", "green", "yellow", "red")
STATUS_RANK = {status: rank for rank, status in enumerate(STATUSES)}  # higher is worse

LOWER_IS_BETTER = "lower_is_better"
HIGHER_IS_BETTER = "higher_is_better"

CURVE_LEVEL_NONE, CURVE_LEVEL_YELLOW, CURVE_LEVEL_RED = 0, 1, 2


@dataclass(frozen=True)
class BandCurve:
    """ŷ = b0 + b1·ln t for intakes in [band_low, band_high], with its residual SD.

    ``sigma`` is the pooled residual SD; ``sigma_by_week`` holds (week, σ_t) pairs for the weeks
    where a fit had enough scores, and overrides ``sigma`` for those weeks. ``source`` is "fitted"
    for a curve fitted on the clinic's own episodes and "default" for the provisional defaults.
    """

    instrument: str
    band_low: float
    band_high: float
    b0: float
    b1: float
    sigma: float
    sigma_by_week: tuple[tuple[int, float], ...] = ()
    n_episodes: int = 0
    n_scores: int = 0
    source: str = "default"

    @property
    def band(self) -> str:
        low, high = format_scores([self.band_low, self.band_high])
        return f"{low}-{high}"

    def expected(self, week):
        return self.b0 + self.b1 * np.log(_curve_week(week))

    def sigma_at(self, week):
        by_week = np.full(LAST_CURVE_WEEK + 1, self.sigma, dtype=float)
        for fitted_week, fitted_sigma in self.sigma_by_week:
            if 1 <= fitted_week <= LAST_CURVE_WEEK:
                by_week[fitted_week] = fitted_sigma
        looked_up = by_week[np.asarray(_curve_week(week)).astype(int)]
        return looked_up if np.ndim(looked_up) else float(looked_up)


@dataclass(frozen=True)
class ContinuousCurve:
    """The continuous provisional default: expectations anchored on the client's own intake x0.

    ŷ(t) = x0 + ((a + c·x0) − x0)·ln t / ln 7;  σ_t = √max((s_e·ln t / ln 7)², 2·SEM²)  (CLINICAL.md
    §4 step 5). a + c·x0 is the expected score at the end of an average course (t = 7); s_e is the
    SD of the end score around it; √2·SEM (issue 16: the intake's error too, Jacobson & Truax 1991)
    floors σ_t at the measurement error of a change from intake, so the early weeks are not
    over-sensitive.
    """

    instrument: str
    a: float
    c: float
    s_e: float
    sem: float

    def expected(self, intake, week):
        progress = _progress(week)
        return intake + ((self.a + self.c * intake) - intake) * progress

    def sigma(self, week, *, floor: str = SIGMA_FLOOR):
        # The expectation is anchored on the client's own intake, which carries its own error: by
        # default the floor is the error of a difference of two scores, √2·SEM (Jacobson & Truax
        # 1991); floor="sem" is CLINICAL.md §4 step 5's SEM (see SIGMA_FLOORS).
        return np.maximum(self.s_e * _progress(week), _sigma_floor_factor(floor) * self.sem)


@dataclass(frozen=True)
class DefaultCurves:
    """The provisional default curves of one instrument: banded and continuous (see module doc)."""

    instrument: str
    bands: tuple[BandCurve, ...]
    continuous: ContinuousCurve

    @property
    def lowest_intake(self) -> float:
        return min(band.band_low for band in self.bands)


def _default_band(instrument, low, high, b0, b1, sigma) -> BandCurve:
    return BandCurve(instrument, low, high, b0, b1, sigma, source="default")


# PROVISIONAL defaults, CLINICAL.md §4 step 5. Derived, NOT published coefficients: no source
# publishes b0/b1/σ for PHQ-9 or GAD-7. Derived from published aggregates: intake PHQ-9 16.41 (SD
# 5.65) and GAD-7 14.53 (SD 4.43), Saunders et al. 2019 (N = 4,394); reliable improvement 66.4 % and
# mean 6.8 sessions, NHS Digital 2017-18; pre-post d ≈ 0.87, Wakefield et al. 2021; most change by
# session 4–6, Delgadillo et al. 2014. Bands start at caseness (PHQ-9 ≥ 10, GAD-7 ≥ 8; NHS Talking
# Therapies).
DEFAULT_CURVES: Mapping[str, DefaultCurves] = {
    "phq9": DefaultCurves(
        instrument="phq9",
        bands=(
            _default_band("phq9", 10, 14, 12.27, -1.966, 4.20),
            _default_band("phq9", 15, 19, 16.98, -3.229, 4.20),
            _default_band("phq9", 20, 27, 22.84, -4.804, 4.36),
        ),
        continuous=ContinuousCurve("phq9", a=2.58, c=0.478, s_e=5.36, sem=2.16),
    ),
    "gad7": DefaultCurves(
        instrument="gad7",
        bands=(
            _default_band("gad7", 8, 10, 9.19, -1.089, 3.46),
            _default_band("gad7", 11, 15, 13.16, -2.093, 3.54),
            _default_band("gad7", 16, 21, 18.38, -3.416, 3.62),
        ),
        continuous=ContinuousCurve("gad7", a=2.40, c=0.508, s_e=4.46, sem=1.80),
    ),
}


@dataclass(frozen=True)
class ExpectedScore:
    expected: float
    sigma: float
    source: str  # "default" (provisional) or "fitted"
    band: str | None  # the fitted band, None for the continuous default


@dataclass(frozen=True)
class StatusResult:
    status: str  # "red" | "yellow" | "green" | "white"
    reason: str
    expected: float | None = None
    yellow_limit: float | None = None
    red_limit: float | None = None


def _sigma_floor_factor(floor: str) -> float:
    try:
        return SIGMA_FLOORS[floor]
    except KeyError:
        raise ValueError(f"unknown sigma floor {floor!r}; one of {sorted(SIGMA_FLOORS)}") from None


def _curve_week(week):
    return np.clip(week, 1, LAST_CURVE_WEEK)


def _progress(week):
    return np.log(_curve_week(week)) / math.log(END_OF_TREATMENT_WEEK)


def _fitted_curves_of(curves: Iterable[BandCurve], instrument: str) -> list[BandCurve]:
    fitted = [c for c in curves if c.instrument == instrument and c.source == "fitted"]
    return sorted(fitted, key=lambda curve: curve.band_low)


def _band_index(bands: Sequence[BandCurve], intake: np.ndarray) -> np.ndarray:
    """Index of the band each intake falls in, −1 outside all bands.

    A band runs from its low edge up to its high edge plus one point, or the next band's low edge
    if that comes first, so prorated or fractional intakes between two integer bands (14.5) still
    land in one. An intake in a gap between bands (a middle band that is not fitted) is in none:
    the caller falls back to the default curve there, never to the band below.
    """
    lows = np.array([band.band_low for band in bands], dtype=float)
    index = np.searchsorted(lows, intake, side="right") - 1
    next_lows = np.append(lows[1:], np.inf)
    ends = np.minimum(np.array([band.band_high for band in bands], dtype=float) + 1, next_lows)
    top = max(band.band_high for band in bands)
    safe_index = np.clip(index, 0, len(bands) - 1)
    outside = (index < 0) | (intake >= ends[safe_index]) | (intake > top) | np.isnan(intake)
    return np.where(outside, -1, index)


def expected_score(
    instrument: str,
    intake: float,
    week: float,
    *,
    curves: Iterable[BandCurve] = (),
    first_limit_week: int = FIRST_LIMIT_WEEK,
    sigma_floor: str = SIGMA_FLOOR,
) -> ExpectedScore | None:
    """Expected score and σ_t for one client at one week; None when no curve applies.

    No curve applies to an instrument without curves, or to an intake below the lowest band (not a
    case at intake: there is no recovery to expect, and only reliable worsening is watched).
    """
    frame = pd.DataFrame({"instrument": [instrument], "intake": [intake], "week": [week]})
    row = expected_scores(
        frame, curves=curves, first_limit_week=first_limit_week, sigma_floor=sigma_floor
    ).iloc[0]
    if pd.isna(row["expected"]):
        return None
    return ExpectedScore(
        float(row["expected"]), float(row["sigma"]), row["curve_source"], row["intake_band"]
    )


def expected_scores(
    frame: pd.DataFrame,
    *,
    curves: Iterable[BandCurve] = (),
    first_limit_week: int = FIRST_LIMIT_WEEK,
    sigma_floor: str = SIGMA_FLOOR,
) -> pd.DataFrame:
    """Vectorised ``expected_score`` over a frame with columns instrument, intake, week.

    Returns a frame on the same index with expected, sigma, curve_source ("fitted" | "default" |
    None) and intake_band (the fitted band, or None). A fitted band curve wins; otherwise the
    continuous provisional default applies where the instrument has one and the intake is at or
    above caseness. sigma is NaN (no limits) before ``first_limit_week``; ``sigma_floor`` is the
    continuous default's floor (``SIGMA_FLOORS``). Both are clinic settings (``RuleSettings``).
    """
    _sigma_floor_factor(sigma_floor)  # an unknown floor fails even where no default curve applies
    curves = tuple(curves)
    expected = np.full(len(frame), np.nan)
    sigma = np.full(len(frame), np.nan)
    source = np.full(len(frame), None, dtype=object)
    band_label = np.full(len(frame), None, dtype=object)
    instruments = frame["instrument"].to_numpy(dtype=object)
    intakes = frame["intake"].to_numpy(dtype=float)
    weeks = frame["week"].to_numpy(dtype=float)
    for instrument in pd.unique(instruments):
        rows = np.flatnonzero(instruments == instrument)
        found = _instrument_expected(
            instrument,
            intakes[rows],
            weeks[rows],
            curves,
            first_limit_week=first_limit_week,
            sigma_floor=sigma_floor,
        )
        expected[rows], sigma[rows], source[rows], band_label[rows] = found
    return pd.DataFrame(
        {"expected": expected, "sigma": sigma, "curve_source": source, "intake_band": band_label},
        index=frame.index,
    )


def _instrument_expected(
    instrument: str,
    intake: np.ndarray,
    week: np.ndarray,
    curves: tuple,
    *,
    first_limit_week: int = FIRST_LIMIT_WEEK,
    sigma_floor: str = SIGMA_FLOOR,
):
    """``expected_scores`` for rows of one instrument, on arrays: (expected, sigma, curve_source,
    intake_band)."""
    expected = np.full(len(intake), np.nan)
    sigma = np.full(len(intake), np.nan)
    source = np.full(len(intake), None, dtype=object)
    band_label = np.full(len(intake), None, dtype=object)
    covered = np.zeros(len(intake), dtype=bool)
    fitted = _fitted_curves_of(curves, instrument)
    if fitted:
        index = _band_index(fitted, intake)
        for position, curve in enumerate(fitted):
            in_band = index == position
            expected[in_band] = curve.expected(week[in_band])
            sigma[in_band] = curve.sigma_at(week[in_band])
            source[in_band] = "fitted"
            band_label[in_band] = curve.band
            covered |= in_band
    defaults = DEFAULT_CURVES.get(instrument)
    if defaults is not None:
        use_default = ~covered & (_band_index(defaults.bands, intake) >= 0)
        expected[use_default] = defaults.continuous.expected(intake[use_default], week[use_default])
        sigma[use_default] = defaults.continuous.sigma(week[use_default], floor=sigma_floor)
        source[use_default] = "default"
    # No limits before first_limit_week: the expected line is drawn, nothing is judged against it.
    sigma[week < first_limit_week] = np.nan
    return expected, sigma, source, band_label


def tolerance_limits(
    expected,
    sigma,
    *,
    direction: str = LOWER_IS_BETTER,
    z_yellow: float = Z_YELLOW,
    z_red: float = Z_RED,
):
    """(yellow_limit, red_limit) around the expected score: ŷ ± z·σ_t toward worse.

    CLINICAL.md §4 step 3; z defaults 1.2816 / 1.6449 are local settings, to be calibrated.
    """
    worse = _worse_sign(direction)
    # Rounded to the one decimal staff see, so a flag and the limit in its message agree
    # (a limit of 19.97 shown as "20.0" must not flag a score of 20).
    yellow = np.round(expected + worse * z_yellow * sigma, 1)
    red = np.round(expected + worse * z_red * sigma, 1)
    return yellow, red


def not_improving_limits(
    yellow_limit,
    *,
    expected,
    intake,
    week,
    direction: str = LOWER_IS_BETTER,
    reliable_change: float | None,
    share: float = NOT_IMPROVING_SHARE,
):
    """(yellow_limit, by_intake): the yellow limit capped at intake + share × the reliable-change
    value (toward worse) from ``NOT_IMPROVING_FIRST_WEEK``, where a curve applies (``expected``
    not NaN); ``by_intake`` is True where the cap is the limit. Without a reliable-change value or
    with share 0 the yellow limit is the curve's alone (CLINICAL.md §4). See
    ``NOT_IMPROVING_SHARE``."""
    yellow_limit = np.asarray(yellow_limit, dtype=float)
    if not share or reliable_change is None:
        return yellow_limit, np.zeros(np.shape(yellow_limit), dtype=bool)
    worse = _worse_sign(direction)
    cap = np.round(np.asarray(intake, dtype=float) + worse * share * reliable_change, 1)
    applies = ~np.isnan(np.asarray(expected, dtype=float)) & (
        np.asarray(week) >= NOT_IMPROVING_FIRST_WEEK
    )
    with np.errstate(invalid="ignore"):
        tighter = np.isnan(yellow_limit) | (worse * (cap - yellow_limit) < 0)
    by_intake = applies & tighter
    return np.where(by_intake, cap, yellow_limit), by_intake


def _worse_sign(direction: str) -> int:
    if direction == LOWER_IS_BETTER:
        return 1
    if direction == HIGHER_IS_BETTER:
        return -1
    raise ValueError(f"unknown direction {direction!r}")


def add_treatment_weeks(frame: pd.DataFrame) -> pd.DataFrame:
    """Sort one instrument's valid scores and add week, intake and baseline columns.

    ``frame`` has episode_id, administered_at, total (and optionally administration_id). Rows with a
    missing total are dropped first: an invalid form is neither a baseline nor a score. The baseline
    is the first valid administration of the episode (t = 1); see the module doc for t.
    """
    valid = frame[frame["total"].notna()]
    order = ["episode_id", "administered_at"]
    if "administration_id" in valid.columns:
        order.append("administration_id")
    valid = valid.sort_values(order, kind="stable", ignore_index=True)

    episode = valid["episode_id"].to_numpy()
    starts = np.ones(len(valid), dtype=bool)
    starts[1:] = episode[1:] != episode[:-1]
    valid["week"], valid["intake"] = treatment_weeks(
        starts, datetime_values(valid["administered_at"]), valid["total"].to_numpy(dtype=float)
    )
    valid["is_baseline"] = starts
    return valid


def datetime_values(column) -> pd.api.extensions.ExtensionArray:
    """A column of timestamps as pandas' datetime array (int64 ticks underneath, ``.asi8``)."""
    values = column.array if isinstance(column, pd.Series) else pd.array(column)
    if not isinstance(values, pd.arrays.DatetimeArray):
        values = pd.to_datetime(pd.Series(column)).array
    return values


def treatment_weeks(starts: np.ndarray, at, total: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(week, intake) of valid scores sorted by series and time; ``starts`` marks each series'
    first row (its baseline), ``at`` is a ``datetime_values`` array. See the module doc for t."""
    first = np.maximum.accumulate(np.where(starts, np.arange(len(starts)), 0))
    ticks = at.asi8
    # pandas' own total_seconds on the elapsed ticks, so the weeks match its arithmetic exactly.
    elapsed = pd.array((ticks - ticks[first]).view(f"m8[{at.unit}]"))
    elapsed_days = elapsed.total_seconds() / 86400.0
    # Round half up (3.5 days is the next week), not banker's rounding.
    week = 1 + np.floor(elapsed_days / DAYS_PER_WEEK + 0.5)
    return week.astype(int), total[first]


def _status_arrays(
    total,
    intake,
    yellow_limit,
    red_limit,
    *,
    reliable_change,
    direction,
    functional_cutoff,
):
    """The core of the status rules on numpy arrays, shared by the scalar and frame versions.
    The status comes as codes, positions in STATUSES (``status_text`` makes the strings)."""
    worse = _worse_sign(direction)
    worsening = worse * (total - intake)  # positive = worse than at intake
    with np.errstate(invalid="ignore"):
        # Strictly beyond the limit (CLINICAL.md §4 step 3, "above"), compared with the very limit
        # shown to staff; NaN (no curve) is never beyond.
        above_red = worse * (total - red_limit) > 0
        above_yellow = worse * (total - yellow_limit) > 0
    curve_level = np.where(
        above_red, CURVE_LEVEL_RED, np.where(above_yellow, CURVE_LEVEL_YELLOW, CURVE_LEVEL_NONE)
    )

    if reliable_change is None:
        reliably_worse = np.zeros(np.shape(total), dtype=bool)
        reliably_improved = np.zeros(np.shape(total), dtype=bool)
    else:
        # A fixed published reliable-change value: "at least that many points" (CLINICAL.md §2).
        reliably_worse = worsening >= reliable_change - _FLOAT_TOLERANCE
        reliably_improved = -worsening >= reliable_change - _FLOAT_TOLERANCE

    if functional_cutoff is None:
        functional = np.zeros(np.shape(total), dtype=bool)
    elif direction == LOWER_IS_BETTER:
        functional = total < functional_cutoff  # PHQ-9 < 10 is not a case
    else:
        functional = total >= functional_cutoff  # WHO-5 < 52 % is poor well-being

    status = np.select(
        [above_red | reliably_worse, above_yellow, functional & reliably_improved],
        [STATUS_RANK["red"], STATUS_RANK["yellow"], STATUS_RANK["white"]],
        default=STATUS_RANK["green"],
    )
    return {
        "curve_level": curve_level,
        "reliably_worse": reliably_worse,
        "reliably_improved": reliably_improved,
        "functional": functional,
        "status": status,
    }


def classify_status(
    *,
    instrument: str,
    total: float,
    intake: float,
    week: int,
    reliable_change: float | None,
    direction: str,
    functional_cutoff: float | None,
    has_curve: bool = True,
    curves: Iterable[BandCurve] = (),
    z_yellow: float = Z_YELLOW,
    z_red: float = Z_RED,
    first_limit_week: int = FIRST_LIMIT_WEEK,
    sigma_floor: str = SIGMA_FLOOR,
    not_improving_share: float = NOT_IMPROVING_SHARE,
    label: str | None = None,
) -> StatusResult:
    """Status of one score at one week, with the reason in plain words (CLINICAL.md §4 step 4).

    Lower is better (mirrored when ``direction`` is higher_is_better):

    - red: above the red limit ŷ + z_red·σ_t, or a reliable worsening from intake (≥ the
      instrument's reliable-change value, Jacobson & Truax 1991 / NHS Talking Therapies);
    - yellow: above the yellow limit ŷ + z_yellow·σ_t;
    - white: in the functional range (below the caseness cutoff) and reliably improved: consider
      ending;
    - green: otherwise.
    """
    frame = pd.DataFrame(
        {
            "instrument": [instrument],
            "total": [float(total)],
            "intake": [float(intake)],
            "week": [int(week)],
        }
    )
    classified = _classify_rows(
        frame,
        instrument=instrument,
        reliable_change=reliable_change,
        direction=direction,
        functional_cutoff=functional_cutoff,
        has_curve=has_curve,
        curves=curves,
        z_yellow=z_yellow,
        z_red=z_red,
        first_limit_week=first_limit_week,
        sigma_floor=sigma_floor,
        not_improving_share=not_improving_share,
    )
    row = classified.iloc[0]
    reason = status_reasons(
        classified, label=label, reliable_change=reliable_change, direction=direction,
        functional_cutoff=functional_cutoff,
    )[0]  # fmt: skip
    return StatusResult(
        status=row["status"],
        reason=reason,
        expected=_none_if_nan(row["expected"]),
        yellow_limit=_none_if_nan(row["yellow_limit"]),
        red_limit=_none_if_nan(row["red_limit"]),
    )


def classify_administrations(
    administrations: pd.DataFrame,
    *,
    instrument: str,
    reliable_change: float | None,
    direction: str,
    functional_cutoff: float | None,
    has_curve: bool = True,
    curves: Iterable[BandCurve] = (),
    z_yellow: float = Z_YELLOW,
    z_red: float = Z_RED,
    first_limit_week: int = FIRST_LIMIT_WEEK,
    sigma_floor: str = SIGMA_FLOOR,
    not_improving_share: float = NOT_IMPROVING_SHARE,
    label: str | None = None,
    with_reasons: bool = True,
) -> pd.DataFrame:
    """Vectorised ``classify_status`` over every valid administration of one instrument.

    ``administrations``: episode_id, administered_at (UTC), total, and optionally administration_id
    and instrument (rows of other instruments are ignored). Returns the valid rows sorted by episode
    and time, with week, intake, expected, sigma, yellow_limit, red_limit, curve_source, curve_level
    (0 none, 1 yellow, 2 red), reliably_worse, reliably_improved, functional, status and, when
    ``with_reasons``, reason. Reasons are strings built row by row: for a whole caseload build them
    for the rows you show only (``status_reasons``).
    """
    if "instrument" in administrations.columns:
        administrations = administrations[administrations["instrument"] == instrument]
    scored = add_treatment_weeks(administrations)
    scored["instrument"] = instrument
    classified = _classify_rows(
        scored,
        instrument=instrument,
        reliable_change=reliable_change,
        direction=direction,
        functional_cutoff=functional_cutoff,
        has_curve=has_curve,
        curves=curves,
        z_yellow=z_yellow,
        z_red=z_red,
        first_limit_week=first_limit_week,
        sigma_floor=sigma_floor,
        not_improving_share=not_improving_share,
    )
    if with_reasons:
        classified["reason"] = status_reasons(
            classified, label=label, reliable_change=reliable_change, direction=direction,
            functional_cutoff=functional_cutoff,
        )  # fmt: skip
    return classified


def _classify_rows(frame, *, instrument, **arguments):
    # ``frame`` is always a fresh frame built by the callers, so columns are added in place.
    arrays = classify_arrays(
        instrument,
        frame["total"].to_numpy(dtype=float),
        frame["intake"].to_numpy(dtype=float),
        frame["week"].to_numpy(),
        **arguments,
    )
    arrays["status"] = status_text(arrays["status"])
    for column, values in arrays.items():
        frame[column] = values
    return frame


def classify_arrays(
    instrument: str,
    total: np.ndarray,
    intake: np.ndarray,
    week: np.ndarray,
    *,
    reliable_change,
    direction,
    functional_cutoff,
    has_curve,
    curves,
    z_yellow,
    z_red,
    first_limit_week=FIRST_LIMIT_WEEK,
    sigma_floor=SIGMA_FLOOR,
    not_improving_share=NOT_IMPROVING_SHARE,
) -> dict[str, np.ndarray]:
    """``classify_administrations``' columns for valid scores of one instrument, as arrays: the
    caseload sweep classifies a million rows and builds its frame once (status as codes)."""
    if has_curve:
        expected, sigma, source, band = _instrument_expected(
            instrument,
            intake,
            week.astype(float),
            tuple(curves),
            first_limit_week=first_limit_week,
            sigma_floor=sigma_floor,
        )
    else:
        expected, sigma = np.full(len(total), np.nan), np.full(len(total), np.nan)
        source, band = np.full(len(total), None, dtype=object), np.full(len(total), None, object)
    yellow_limit, red_limit = tolerance_limits(
        expected, sigma, direction=direction, z_yellow=z_yellow, z_red=z_red
    )
    yellow_limit, yellow_by_intake = not_improving_limits(
        yellow_limit,
        expected=expected,
        intake=intake,
        week=week,
        direction=direction,
        reliable_change=reliable_change,
        share=not_improving_share,
    )
    return {
        "expected": expected,
        "sigma": sigma,
        "curve_source": source,
        "intake_band": band,
        "yellow_by_intake": yellow_by_intake,
        "yellow_limit": yellow_limit,
        "red_limit": red_limit,
        **_status_arrays(
            total,
            intake,
            yellow_limit,
            red_limit,
            reliable_change=reliable_change,
            direction=direction,
            functional_cutoff=functional_cutoff,
        ),
    }


def status_text(codes: np.ndarray):
    """STATUSES[codes] as the column pandas makes of those strings, built by one take: a column
    made from a million strings is validated string by string (a third of a second)."""
    return _STATUS_STRINGS.take(np.asarray(codes, dtype=np.intp))


_STATUS_STRINGS = pd.Series(list(STATUSES)).array


def status_reasons(
    classified: pd.DataFrame | Mapping[str, np.ndarray],
    *,
    label: str | None = None,
    reliable_change: float | None = None,
    direction: str = LOWER_IS_BETTER,
    functional_cutoff: float | None = None,
) -> np.ndarray:
    """Plain-language reason for each classified row (vectorised), e.g.
    "PHQ-9 14 is above the expected 9.1 (red limit 12.8, provisional default curve) at week 5".
    ``classified`` is a frame or a mapping of its columns as arrays (``measures.rules_small``:
    one episode's few rows, where building a frame costs more than the reasons).
    """
    arguments = {
        "label": label,
        "reliable_change": reliable_change,
        "direction": direction,
        "functional_cutoff": functional_cutoff,
    }
    if len(classified["status"]) <= _FEW_VALUES:
        return _status_reasons(classified, **arguments)
    # A caseload's rows repeat the same few scores, weeks and expectations: each distinct
    # combination of what a reason reads is written once.
    keys = ["status", "reliably_worse", "total", "intake", "week", "expected", "red_limit"]
    keys += ["yellow_limit", "curve_source"] + ([] if label else ["instrument"])
    keys += [key for key in ("yellow_by_intake",) if key in classified]
    once, spread = distinct_rows(*(np.asarray(classified[key]) for key in keys))
    if isinstance(classified, pd.DataFrame):
        distinct = classified.iloc[once]
    else:
        distinct = {name: np.asarray(values)[once] for name, values in classified.items()}
    return _status_reasons(distinct, **arguments)[spread]


def _status_reasons(
    classified: pd.DataFrame | Mapping[str, np.ndarray],
    *,
    label: str | None,
    reliable_change: float | None,
    direction: str,
    functional_cutoff: float | None,
) -> np.ndarray:
    lower_is_better = direction == LOWER_IS_BETTER
    above = " is above the expected " if lower_is_better else " is below the expected "
    rose = " rose from " if lower_is_better else " fell from "
    fell = " fell reliably from " if lower_is_better else " rose reliably from "
    functional_side = " is below the cutoff " if lower_is_better else " is at or above the cutoff "

    # np.asarray, not .to_numpy(): a frame's columns and plain arrays alike.
    status = np.asarray(classified["status"], dtype=object)
    reliably_worse = np.asarray(classified["reliably_worse"], dtype=bool)
    reasons = np.full(len(status), "", dtype=object)
    columns = {
        name: np.asarray(classified[name], dtype=float)
        for name in ("total", "intake", "week", "expected", "red_limit", "yellow_limit")
    }
    instrument = None if label else np.asarray(classified["instrument"], dtype=object)
    provisional = np.asarray(classified["curve_source"], dtype=object) == "default"
    # The not-improving cap (``not_improving_limits``); a frame classified without it has none.
    by_intake = (
        np.asarray(classified["yellow_by_intake"], dtype=bool)
        if "yellow_by_intake" in classified
        else np.zeros(len(status), dtype=bool)
    )

    # Build each kind of sentence only for the rows that need it: a caseload has many rows.
    def rows(mask):
        total_text = format_scores(columns["total"][mask])
        name = label if label else instrument[mask]
        return {
            "name": name,
            "score": concat_text(name, " ", total_text),
            "total_text": total_text,
            "intake": format_scores(columns["intake"][mask]),
            "week": concat_text(" at week ", format_scores(columns["week"][mask])),
            "expected": format_one_decimal(columns["expected"][mask]),
            "note": np.where(provisional[mask], ", provisional default curve", "").astype(object),
        }

    has_curve = ~np.isnan(columns["expected"])
    total, red_limit = columns["total"], columns["red_limit"]
    with np.errstate(invalid="ignore"):
        beyond_red = total > red_limit if lower_is_better else total < red_limit

    red_by_limit = (status == "red") & has_curve & beyond_red
    if red_by_limit.any():
        r = rows(red_by_limit)
        limit = format_one_decimal(columns["red_limit"][red_by_limit])
        reasons[red_by_limit] = concat_text(
            r["score"], above, r["expected"], " (red limit ", limit, r["note"], ")", r["week"]
        )
    if reliably_worse.any():
        r = rows(reliably_worse)
        worse_text = concat_text(
            r["name"], rose, r["intake"], " at intake to ", r["total_text"], r["week"],
            ", a reliable worsening (at least ", format_scores([reliable_change])[0], " points)",
        )  # fmt: skip
        earlier = reasons[reliably_worse]
        reasons[reliably_worse] = _text_array(
            [
                f"{before}; {text}" if before != "" else text
                for before, text in zip(earlier.tolist(), worse_text.tolist(), strict=True)
            ]
        )
    yellow = status == "yellow"
    if yellow.any():
        r = rows(yellow)
        limit = format_one_decimal(columns["yellow_limit"][yellow])
        note = _not_improving_note(by_intake[yellow], columns["intake"][yellow])
        reasons[yellow] = concat_text(
            r["score"], above, r["expected"], " (yellow limit ", limit, note, r["note"], ")",
            r["week"],
        )  # fmt: skip
    white = status == "white"
    if white.any():
        r = rows(white)
        reasons[white] = concat_text(
            r["score"], r["week"], functional_side, format_scores([functional_cutoff])[0],
            " and", fell, r["intake"], " at intake: consider planning the ending",
        )  # fmt: skip
    green_on_curve = (status == "green") & has_curve
    if green_on_curve.any():
        r = rows(green_on_curve)
        reasons[green_on_curve] = concat_text(
            r["score"], r["week"], " is within the expected range (expected ", r["expected"],
            r["note"], ")",
        )  # fmt: skip
    green_off_curve = (status == "green") & ~has_curve
    if green_off_curve.any():
        r = rows(green_off_curve)
        reasons[green_off_curve] = concat_text(
            r["score"], r["week"], ", no reliable worsening from ", r["intake"], " at intake"
        )
    return reasons


def not_improving_note(rows: pd.DataFrame | Mapping[str, np.ndarray]) -> np.ndarray:
    """ ", not improving on intake 15" where the yellow limit is the not-improving cap
    (``not_improving_limits``), "" elsewhere: says why the limit is nearer than the curve's band.
    ``rows``: a frame or a mapping of its columns as arrays."""
    if "yellow_by_intake" not in rows:
        return np.full(len(rows["intake"]), "", dtype=object)
    return _not_improving_note(
        np.asarray(rows["yellow_by_intake"], dtype=bool), np.asarray(rows["intake"], dtype=float)
    )


def _not_improving_note(by_intake: np.ndarray, intake: np.ndarray) -> np.ndarray:
    # Written only where the cap is the limit: building it for every row and then blanking most
    # was a fifth of not-on-track's time on a caseload.
    note = np.full(len(by_intake), "", dtype=object)
    capped = np.flatnonzero(by_intake)
    if len(capped):
        note[capped] = concat_text(", not improving on intake ", format_scores(intake[capped]))
    return note


def distinct_rows(*keys) -> tuple[np.ndarray, np.ndarray]:
    """(positions of one row per distinct combination of ``keys``, each row's combination as an
    index into those positions), so a text that depends on those keys only is built once per
    combination and spread: ``texts(rows[once])[spread]``. Keys are arrays of equal length;
    NaN equals NaN."""
    if len(keys[0]) <= _FEW_VALUES:  # one episode's rows: every row its own
        every = np.arange(len(keys[0]), dtype=np.intp)
        return every, every
    combined = np.zeros(len(keys[0]), dtype=np.int64)
    combinations = 1  # an upper bound of the distinct values of ``combined``
    for key in keys:
        # Hashing, not sorting: a sort of whole rows took longer than building every message.
        codes, distinct = pd.factorize(np.asarray(key))
        radix = len(distinct) + 1
        if combinations * radix >= 2**62:
            # Renumbered densely only when the mixed-radix code would overflow: a factorize of
            # the combination after every key cost as much as the keys' own.
            combined = pd.factorize(combined)[0].astype(np.int64)
            combinations = int(combined.max(initial=0)) + 1
        combined = combined * radix + codes + 1
        combinations *= radix
    combined = pd.factorize(combined)[0]
    # Codes number the combinations in order of first appearance.
    spread = combined.astype(np.intp)
    first = np.ones(len(spread), dtype=bool)
    order = np.argsort(spread, kind="stable")
    first[1:] = spread[order][1:] != spread[order][:-1]
    return order[first], spread


def concat_text(*parts) -> np.ndarray:
    """Element-wise concatenation of text arrays and constant strings, e.g.
    ``concat_text(labels, " ", scores)``: one join per row, where numpy's object ``+`` calls back
    into Python once per piece and row (messages for a caseload are built three times faster)."""
    arrays = [part for part in parts if not isinstance(part, str)]
    if not arrays:
        return np.asarray(["".join(parts)], dtype=object)
    length = len(arrays[0])
    columns = [
        itertools.repeat(part, length)
        if isinstance(part, str)
        else np.asarray(part, dtype=object).tolist()
        for part in parts
    ]
    # Not strict: the constant pieces repeat without end.
    return _text_array(["".join(row) for row in zip(*columns, strict=False)])


def _text_array(texts: list) -> np.ndarray:
    # Filled in place: np.array on a list of strings would make a fixed-width unicode array.
    array = np.empty(len(texts), dtype=object)
    array[:] = texts
    return array


def format_scores(values) -> np.ndarray:
    """Scores as staff read them: "14" for whole numbers, "14.5" otherwise, "?" when missing."""
    return _format_distinct(values, drop_trailing_zero=True)


def format_one_decimal(values) -> np.ndarray:
    """Numbers with one decimal ("9.0", "12.8"), "?" when missing; vectorised."""
    return _format_distinct(values, drop_trailing_zero=False)


def _format_distinct(values, *, drop_trailing_zero: bool) -> np.ndarray:
    # Scores take few distinct values: format each once, then spread them back (a caseload sweep
    # formats hundreds of thousands of numbers).
    rounded = np.round(np.asarray(values, dtype=float), 1) + 0.0  # + 0.0 turns -0.0 into 0.0

    def text(value: float) -> str:
        if value != value:  # NaN
            return "?"
        return f"{value:.1f}".removesuffix(".0") if drop_trailing_zero else f"{value:.1f}"

    if rounded.size <= _FEW_VALUES:  # one episode's scores: finding the distinct ones costs more
        return _text_array([text(value) for value in rounded.ravel().tolist()]).reshape(
            rounded.shape
        )
    distinct, positions = np.unique(rounded, return_inverse=True)
    texts = np.asarray([text(value) for value in distinct.tolist()], dtype=object)
    return texts[positions.reshape(rounded.shape)]


_FEW_VALUES = 64


def _none_if_nan(value) -> float | None:
    return None if pd.isna(value) else float(value)


def fit_curves(
    frame: pd.DataFrame,
    *,
    min_episodes: int = 30,
    min_scores_per_week: int = 10,
    bands: Mapping[str, Sequence[tuple[float, float]]] | None = None,
) -> list[BandCurve]:
    """Fit ŷ = b0 + b1·ln t per (instrument, intake band) on the clinic's completed episodes.

    Finch, Lambert & Schaalje 2001; CLINICAL.md §4 step 2. ``frame`` has the administrations columns
    (episode_id, instrument, administered_at, total) of COMPLETED episodes only: the caller filters.
    Only weeks 1–12 are fitted, matching the flat-after-12 curves. Ordinary least squares; ``sigma``
    is the residual SD (n − 2 degrees of freedom); ``sigma_by_week`` is the root mean squared
    residual at each week with at least ``min_scores_per_week`` scores (a misfit week widens its own
    limits rather than hiding). A band with fewer than ``min_episodes`` episodes gets the
    provisional default parameters and ``source = "default"``; n_episodes always reports the real
    count.

    ``bands`` maps instrument code → [(low, high), ...]; by default the bands of ``DEFAULT_CURVES``.
    """
    if bands is None:
        bands = {
            code: [(band.band_low, band.band_high) for band in defaults.bands]
            for code, defaults in DEFAULT_CURVES.items()
        }
    fitted = []
    for instrument, instrument_bands in bands.items():
        band_curves = [BandCurve(instrument, low, high, 0, 0, 0) for low, high in instrument_bands]
        band_curves.sort(key=lambda curve: curve.band_low)
        scored = add_treatment_weeks(frame[frame["instrument"] == instrument])
        scored = scored[scored["week"] <= LAST_CURVE_WEEK]
        band_of_row = _band_index(band_curves, scored["intake"].to_numpy(dtype=float))
        for position, band in enumerate(band_curves):
            in_band = scored[band_of_row == position]
            fitted.append(_fit_band(instrument, band, in_band, min_episodes, min_scores_per_week))
    return fitted


def _fit_band(instrument, band, scores, min_episodes, min_scores_per_week) -> BandCurve:
    n_episodes = int(scores["episode_id"].nunique())
    n_scores = len(scores)
    if n_episodes < min_episodes or scores["week"].nunique() < 2:
        default = _default_band_curve(instrument, band.band_low, band.band_high)
        return BandCurve(
            instrument,
            band.band_low,
            band.band_high,
            b0=default.b0 if default else math.nan,
            b1=default.b1 if default else math.nan,
            sigma=default.sigma if default else math.nan,
            n_episodes=n_episodes,
            n_scores=n_scores,
            source="default",
        )
    log_week = np.log(scores["week"].to_numpy(dtype=float))
    design = np.column_stack([np.ones_like(log_week), log_week])
    observed = scores["total"].to_numpy(dtype=float)
    (b0, b1), *_ = np.linalg.lstsq(design, observed, rcond=None)
    residual = observed - (b0 + b1 * log_week)
    sigma = math.sqrt(float(np.sum(residual**2)) / max(n_scores - 2, 1))
    by_week = (
        pd.DataFrame({"week": scores["week"].to_numpy(), "squared": residual**2})
        .groupby("week")["squared"]
        .agg(["mean", "size"])
    )
    by_week = by_week[by_week["size"] >= min_scores_per_week]
    sigma_by_week = tuple((int(week), math.sqrt(mean)) for week, mean in by_week["mean"].items())
    return BandCurve(
        instrument,
        band.band_low,
        band.band_high,
        b0=float(b0),
        b1=float(b1),
        sigma=sigma,
        sigma_by_week=sigma_by_week,
        n_episodes=n_episodes,
        n_scores=n_scores,
        source="fitted",
    )


def _default_band_curve(instrument, low, high) -> BandCurve | None:
    defaults = DEFAULT_CURVES.get(instrument)
    if defaults is None:
        return None
    return next(
        (b for b in defaults.bands if b.band_low == low and b.band_high == high),
        None,
    )


def curves_to_frame(curves: Iterable[BandCurve]) -> pd.DataFrame:
    """One row per band curve, for storage and display (sigma_by_week as a dict)."""
    rows = [
        {
            "instrument": curve.instrument,
            "band": curve.band,
            "band_low": curve.band_low,
            "band_high": curve.band_high,
            "b0": curve.b0,
            "b1": curve.b1,
            "sigma": curve.sigma,
            "sigma_by_week": dict(curve.sigma_by_week),
            "n_episodes": curve.n_episodes,
            "n_scores": curve.n_scores,
            "source": curve.source,
        }
        for curve in curves
    ]
    return pd.DataFrame(rows)


def calibrate(
    frame: pd.DataFrame,
    *,
    instrument: str,
    reliable_change: float,
    direction: str,
    functional_cutoff: float | None,
    has_curve: bool = True,
    curves: Iterable[BandCurve] = (),
    z_yellow: float = Z_YELLOW,
    z_red: float = Z_RED,
    first_limit_week: int = FIRST_LIMIT_WEEK,
    sigma_floor: str = SIGMA_FLOOR,
    not_improving_share: float = NOT_IMPROVING_SHARE,
    min_episodes_for_rate: int = 10,
) -> dict:
    """How well the status would have warned on the clinic's history (CLINICAL.md §4 step 6).

    Over episodes with at least two valid scores of ``instrument``, for the combined status (red or
    yellow, which includes a reliable worsening from intake):

    Prospective figures (issue 16): a flag counts as a warning only when it came strictly before
    the first administration at which the client was reliably worse than intake; a flag raised
    once the client was already worse is not a warning.

    - sensitivity: of the episodes whose LAST score is a reliable worsening from intake, the share
      warned (``n_deteriorated_flagged`` of ``n_deteriorated``);
    - median_weeks_of_warning: week of the first reliably-worse score − week of the first warning;
    - sensitivity_before_last: Lambert's weaker definition, flagged at any score before the last
      (Lambert reports 85–100 % on it; therapists alone foresaw about 1 in 40, Hannan et al. 2005).
      Shown beside, labelled as such: it counts flags raised after the client was already worse;
    - false_alarm_rate: of the episodes never reliably worse than intake, the share ever flagged,
      also split by what happened to them (``false_alarm_rate_improved``,
      ``_dipped_then_improved``: above intake at some score and reliably improved at the last,
      ``_no_reliable_change``), each with its n.

    The same figures prefixed ``curve_`` count only flags by the curve's own yellow/red limit
    (Finch, Lambert & Schaalje 2001), over the episodes the curve watches (an intake with a curve:
    at or above caseness). They are what z_yellow and z_red calibrate: the combined figures also
    count the reliable-worsening criterion, which flags a deterioration once it has happened
    whatever the curve, so they overstate what the curve foresees.
    ``n_deteriorated − curve_n_deteriorated`` deteriorated episodes were not watched by the curve.

    A rate on fewer than ``min_episodes_for_rate`` episodes is None (CLINICAL.md §5: suppress rates
    on fewer than 10 episodes). Signals are prompts for review, never diagnoses.
    """
    classified = classify_administrations(
        frame,
        instrument=instrument,
        reliable_change=reliable_change,
        direction=direction,
        functional_cutoff=functional_cutoff,
        has_curve=has_curve,
        curves=curves,
        z_yellow=z_yellow,
        z_red=z_red,
        first_limit_week=first_limit_week,
        sigma_floor=sigma_floor,
        not_improving_share=not_improving_share,
        with_reasons=False,
    )
    flagged = classified["status"].isin(["red", "yellow"]).to_numpy()
    # The curve's own limits, without the reliable-worsening criterion that also makes a status red.
    curve_flagged = (classified["curve_level"] > CURVE_LEVEL_NONE).to_numpy()
    per_episode = warning_per_episode(classified, flagged)
    curve_per_episode = warning_per_episode(classified, curve_flagged)
    watched = classified["expected"].notna().groupby(classified["episode_id"]).any()
    enough = per_episode["n_scores"] >= 2
    per_episode = per_episode[enough]
    curve_per_episode = curve_per_episode[enough & watched.reindex(enough.index)]
    curve_only = _warning_figures(curve_per_episode, min_episodes_for_rate=min_episodes_for_rate)
    return {
        "instrument": instrument,
        "n_episodes": len(per_episode),
        **_warning_figures(per_episode, min_episodes_for_rate=min_episodes_for_rate),
        "curve_n_episodes": len(curve_per_episode),
        **{f"curve_{key}": value for key, value in curve_only.items()},
        "z_yellow": z_yellow,
        "z_red": z_red,
        "first_limit_week": first_limit_week,
        "sigma_floor": sigma_floor,
        "not_improving_share": not_improving_share,
    }


# How the episodes that were never reliably worse are split in the false-alarm figures.
COURSES = {
    "improved": "improved",
    "dipped then improved": "dipped_then_improved",
    "no reliable change": "no_reliable_change",
}


def _warning_figures(per_episode: pd.DataFrame, *, min_episodes_for_rate: int) -> dict:
    """Prospective sensitivity, lead time and false alarms of one kind of flag (CLINICAL.md §4
    step 6), from ``warning_per_episode``; Lambert's weaker "flagged before the last score" beside.
    """
    deteriorated = per_episode["ended_deteriorated"].astype(bool)
    warned = deteriorated & per_episode["warned"]
    before_last = deteriorated & per_episode["flagged_before_last"]
    never = ~per_episode["ever_deteriorated"].astype(bool)
    false_alarm = never & per_episode["ever_flagged"].astype(bool)
    lead_weeks = per_episode.loc[warned, "lead_weeks"]

    def rate(numerator, denominator) -> float | None:
        if denominator < max(min_episodes_for_rate, 1):
            return None
        return int(numerator) / int(denominator)

    figures = {
        "n_deteriorated": int(deteriorated.sum()),
        "n_deteriorated_flagged": int(warned.sum()),
        "sensitivity": rate(warned.sum(), deteriorated.sum()),
        "median_weeks_of_warning": float(lead_weeks.median()) if len(lead_weeks) else None,
        "n_deteriorated_flagged_before_last": int(before_last.sum()),
        "sensitivity_before_last": rate(before_last.sum(), deteriorated.sum()),
        "n_never_deteriorated": int(never.sum()),
        "n_never_deteriorated_flagged": int(false_alarm.sum()),
        "false_alarm_rate": rate(false_alarm.sum(), never.sum()),
    }
    for course, key in COURSES.items():
        in_course = never & (per_episode["course"] == course)
        figures[f"n_{key}"] = int(in_course.sum())
        figures[f"false_alarm_rate_{key}"] = rate((false_alarm & in_course).sum(), in_course.sum())
    return figures


def warning_per_episode(scores: pd.DataFrame, flagged, *, high=None) -> pd.DataFrame:
    """Per episode, whether a flag warned *before* the client was reliably worse (CLINICAL.md §4
    step 6, prospective).

    ``scores``: classified rows of one instrument (episode_id, week, total, intake, reliably_worse,
    reliably_improved), sorted by episode and time as ``classify_administrations`` returns them.
    ``flagged`` (and optionally ``high``): booleans on the same rows. A warning is a flag on an
    administration strictly before the first one reliably worse than intake; a flag raised once
    the client is already reliably worse is not a warning. ``lead_weeks`` is the week of that first
    reliably-worse administration minus the week of the first warning.

    ``course`` splits the episodes that were never reliably worse by what happened: "improved"
    (the last score a reliable improvement, never above intake on the way), "dipped then improved"
    (the last score a reliable improvement after at least one score above intake) or
    "no reliable change".
    """
    flagged = pd.Series(np.asarray(flagged, dtype=bool), index=scores.index)
    high = flagged & False if high is None else pd.Series(np.asarray(high, bool), scores.index)
    episode = scores["episode_id"]
    worse = scores["reliably_worse"].astype(bool)
    # True on every row from the first reliably-worse administration on.
    worse_yet = worse.groupby(episode).cummax()
    before_worse = ~worse_yet
    groups = scores.groupby("episode_id", sort=False)
    first_worse_week = scores["week"].where(worse).groupby(episode).min()
    first_warning_week = scores["week"].where(flagged & before_worse).groupby(episode).min()
    is_last = groups.cumcount(ascending=False) == 0
    above_intake = scores["total"] > scores["intake"]
    per_episode = pd.DataFrame(
        {
            "n_scores": groups.size(),
            "ended_deteriorated": worse.groupby(episode).last(),
            "ever_deteriorated": worse.groupby(episode).any(),
            "ended_improved": scores["reliably_improved"].astype(bool).groupby(episode).last(),
            "ever_above_intake": above_intake.groupby(episode).any(),
            "ever_flagged": flagged.groupby(episode).any(),
            "ever_flagged_high": high.groupby(episode).any(),
            "flagged_before_last": (flagged & ~is_last).groupby(episode).any(),
            "first_worse_week": first_worse_week,
            "first_warning_week": first_warning_week,
        }
    )
    per_episode["warned"] = per_episode["first_warning_week"].notna()
    per_episode["lead_weeks"] = per_episode["first_worse_week"] - per_episode["first_warning_week"]
    per_episode["course"] = np.select(
        [
            per_episode["ever_deteriorated"],
            per_episode["ended_improved"] & per_episode["ever_above_intake"],
            per_episode["ended_improved"],
        ],
        ["deteriorated", "dipped then improved", "improved"],
        default="no reliable change",
    )
    return per_episode
