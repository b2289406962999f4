"""Criteria tried for early warning on the "heldout" profile (issue 16): measured, not shipped.

    PYTHONPATH=. .venv/bin/python bench/early_warning_trials.py [--seeds 1-10]
        [--ceiling] [--fitted]

Each trial is a set of ``RuleSettings`` fields and, optionally, one extra criterion deciding which
scores count as off the curve. The criterion rewrites the history's ``curve_level`` (and
``previous_curve_level``) before ``rules.not_on_track`` reads it, so the rule's onset, persistence
escalation, re-arming and further-step logic apply unchanged; the shipped rules are not modified.
A score added by a criterion counts as yellow. Every trial is measured by
``bench_early_warning.measure`` on both generator profiles (mean / worst seed, "!" where a seed
missed the goal). The ``calibrate()`` gap is that of the curve alone: a criterion that were
shipped would also have to be counted by ``trajectories.calibrate``.

``--ceiling``: the share of eventual deteriorators (last − intake ≥ 6) with no score above intake
between intake and the first reliably-worse score: a rule can warn them only by flagging a client
who has so far improved, or not changed, which is also what an improver looks like; and the share
whose score rose by a whole reliable change (6) in the week they became reliably worse.

``--fitted``: the settings trials with each profile's own fitted curves
(``trajectories.fit_curves`` on a cohort of the same profile, seed ``FIT_SEED``, every client) in
``curve_overrides``, as a clinic with enough history would have them.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from bench.bench_early_warning import GOALS, measure, summary
from bench.early_warning_cohort import generate_cohort, seeds_from
from measures import rules
from measures.rules import OPERATING_POINTS, score_history
from measures.trajectories import (
    CURVE_LEVEL_NONE,
    CURVE_LEVEL_RED,
    CURVE_LEVEL_YELLOW,
    fit_curves,
)

_TOLERANCE = 1e-9
# The cohort the --fitted curves are fitted on: neither a tuning nor a report seed.
FIT_SEED = 1001


def _signed(history: pd.DataFrame, column: str) -> np.ndarray:
    """The column with worse = higher, whatever the instrument's direction."""
    return history["worse_sign"].to_numpy(dtype=float) * history[column].to_numpy(dtype=float)


def _mean_of_two(history: pd.DataFrame) -> np.ndarray:
    """The mean of each score and the one before it in its series (NaN at the first)."""
    return (_signed(history, "total") + _signed(history, "previous_total")) / 2


def _yellow_only(history: pd.DataFrame) -> np.ndarray:
    return history["curve_level"].to_numpy() == CURVE_LEVEL_YELLOW


def risen_from_best(history: pd.DataFrame, rise_share: float, improved_share=0.5) -> np.ndarray:
    """Idea 1 of the brief: the mean of the last two scores at least ``rise_share`` × the reliable
    change above the best mean of two scores ending two or more scores earlier, in a client whose
    best was at least ``improved_share`` × the reliable change below intake."""
    pair = _mean_of_two(history)
    series = history["series"].to_numpy()
    best = pd.Series(pair).groupby(series).cummin().to_numpy()
    best_before = np.full(len(pair), np.nan)
    best_before[2:] = best[:-2]
    same_series = np.zeros(len(pair), dtype=bool)
    same_series[2:] = series[2:] == series[:-2]
    best_before[~same_series] = np.nan
    change = history["reliable_change"].to_numpy(dtype=float)
    intake = _signed(history, "intake")
    with np.errstate(invalid="ignore"):
        improved = best_before <= intake - improved_share * change + _TOLERANCE
        risen = pair - best_before >= rise_share * change - _TOLERANCE
    return history["expected"].notna().to_numpy() & improved & risen


def improved_by(history: pd.DataFrame, share: float) -> np.ndarray:
    """Idea 2: the best mean of two scores so far (a lone intake counts alone) at least ``share`` ×
    the reliable change below intake."""
    pair = _mean_of_two(history)
    pair = np.where(np.isnan(pair), _signed(history, "total"), pair)
    best = pd.Series(pair).groupby(history["series"].to_numpy()).cummin().to_numpy()
    change = history["reliable_change"].to_numpy(dtype=float)
    return _signed(history, "intake") - best >= share * change - _TOLERANCE


def course_above_curve(history: pd.DataFrame, z: float) -> np.ndarray:
    """The mean of the client's standardised residuals (score − ŷ) / σ_t from week 2 to now at
    least ``z``, from week 3: the level of the whole course, less noisy than one score."""
    residual = (_signed(history, "total") - _signed(history, "expected")) / history[
        "sigma"
    ].to_numpy(dtype=float)
    week = history["week"].to_numpy()
    usable = (week >= 2) & ~np.isnan(residual)
    series = history["series"].to_numpy()
    total = pd.Series(np.where(usable, residual, 0.0)).groupby(series).cumsum().to_numpy()
    count = pd.Series(usable.astype(float)).groupby(series).cumsum().to_numpy()
    with np.errstate(invalid="ignore", divide="ignore"):
        return usable & (week >= 3) & (total / count >= z - _TOLERANCE)


# Each criterion: (history, value) → the new curve level of every row.
CRITERIA: dict[str, Callable[[pd.DataFrame, float], np.ndarray]] = {
    "risen from best": lambda history, value: np.where(
        risen_from_best(history, value),
        np.maximum(history["curve_level"].to_numpy(), CURVE_LEVEL_YELLOW),
        history["curve_level"].to_numpy(),
    ),
    "yellow only until improved": lambda history, value: np.where(
        _yellow_only(history) & improved_by(history, value),
        CURVE_LEVEL_NONE,
        history["curve_level"].to_numpy(),
    ),
    "yellow two scores in a row": lambda history, value: np.where(
        _yellow_only(history) & (history["previous_curve_level"].to_numpy() == CURVE_LEVEL_NONE),
        CURVE_LEVEL_NONE,
        history["curve_level"].to_numpy(),
    ),
    "yellow on the mean of two": lambda history, value: np.select(
        [
            history["curve_level"].to_numpy() == CURVE_LEVEL_RED,
            _mean_of_two(history) - _signed(history, "yellow_limit") > 0,
        ],
        [CURVE_LEVEL_RED, CURVE_LEVEL_YELLOW],
        CURVE_LEVEL_NONE,
    ),
    "course above the curve": lambda history, value: np.where(
        course_above_curve(history, value),
        np.maximum(history["curve_level"].to_numpy(), CURVE_LEVEL_YELLOW),
        history["curve_level"].to_numpy(),
    ),
}


@dataclass(frozen=True)
class Trial:
    settings: dict
    criterion: str | None = None
    value: float | None = None

    def label(self) -> str:
        fields = ", ".join(f"{key} {value}" for key, value in self.settings.items())
        extra = " ".join(str(part) for part in (self.criterion, self.value) if part is not None)
        extra += "; " if extra else ""
        return extra + (fields or "previous defaults")


# Every trial changes the settings it names on the defaults the trials were run against (the
# previous defaults, now the "fewer false alarms" point), so the table in docs/alerts.md stays
# reproducible after the defaults changed to BEST_SETTING.
TRIALS_BASE = OPERATING_POINTS["fewer false alarms"].settings()
K3 = {"not_on_track_rearm_scores": 3}
BEST_SETTING = {**K3, "z_yellow": 0.6, "first_limit_week": 4, "not_improving_share": 0.05}
TRIALS = (
    Trial({}),
    Trial(K3),
    Trial(BEST_SETTING),
    Trial({**K3, "z_yellow": 0.84, "first_limit_week": 3, "not_improving_share": 0.05}),
    Trial(K3, "risen from best", 0.75),
    Trial(K3, "risen from best", 1.0),
    Trial(
        {**K3, "z_yellow": 1.0, "first_limit_week": 4, "not_improving_share": 0.05},
        "risen from best",
        0.75,
    ),
    Trial(BEST_SETTING, "yellow only until improved", 1.0),
    Trial(BEST_SETTING, "yellow only until improved", 0.5),
    Trial(
        {**K3, "z_yellow": 0.4, "first_limit_week": 2, "not_improving_share": 0.05},
        "yellow two scores in a row",
    ),
    Trial(
        {**K3, "z_yellow": 0.3, "first_limit_week": 3, "not_improving_share": 0.05},
        "yellow on the mean of two",
    ),
    Trial(K3, "course above the curve", 0.3),
    Trial({**K3, "not_improving_share": 0.05}, "course above the curve", 0.2),
)


@contextlib.contextmanager
def criterion_applied(criterion: str | None, value: float | None):
    """``rules.not_on_track`` reading the curve level the criterion gives (``evaluate`` looks the
    rule up in its module at each call)."""
    if criterion is None:
        yield
        return
    original = rules.not_on_track

    def not_on_track(administrations, params=rules.DEFAULT_PARAMS, *, settings, history=None):
        history = rules._history(history, administrations, params, settings).copy()
        level = np.asarray(CRITERIA[criterion](history, value), dtype=np.int64)
        previous = np.empty_like(level)
        previous[1:] = level[:-1]
        previous[history["is_baseline"].to_numpy()] = CURVE_LEVEL_NONE
        history["curve_level"] = level
        history["previous_curve_level"] = previous
        return original(administrations, params, settings=settings, history=history)

    rules.not_on_track = not_on_track
    try:
        yield
    finally:
        rules.not_on_track = original


def ceiling(profile: str, seeds: list[int]) -> str:
    n = never_above = at_second = jumped = 0
    for seed in seeds:
        history = score_history(generate_cohort(2000, seed=seed, profile=profile)[0])
        worse = history["reliably_worse"].to_numpy()
        total, intake = history["total"].to_numpy(), history["intake"].to_numpy()
        for rows in history.groupby("episode_id").indices.values():
            if not worse[rows[-1]]:
                continue
            n += 1
            first_worse = rows[np.argmax(worse[rows])]
            # The scores after intake and before the first reliably-worse one (none at the second).
            between = total[rows[1] : first_worse]
            at_second += first_worse == rows[1]
            never_above += bool((between <= intake[rows[0]]).all())
            jumped += total[first_worse] - total[first_worse - 1] >= 6  # PHQ-9's reliable change
    return (
        f"{profile}: {n} eventual deteriorators; {never_above / n:.1%} with no score above intake "
        f"before the first reliably-worse one ({at_second / n:.1%} reliably worse at the first "
        f"score after intake); {jumped / n:.1%} rose by 6 or more in the week they became "
        "reliably worse"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seeds", default="1-10")
    parser.add_argument("--ceiling", action="store_true")
    parser.add_argument("--fitted", action="store_true", help="with each profile's fitted curves")
    args = parser.parse_args()
    seeds = seeds_from(args.seeds)
    profiles = ("heldout", "default")
    if args.ceiling:
        for profile in profiles:
            print(ceiling(profile, seeds))
        return
    cohorts = {(p, s): generate_cohort(2000, seed=s, profile=p) for p in profiles for s in seeds}
    short = ("warned", "lead", "improvers", "dips high", "alerts/cw", "gap")
    fitted = f"; each profile's curves fitted on seed {FIT_SEED}" if args.fitted else ""
    print(f"seeds {args.seeds}; mean / worst seed; ! = a seed missed the goal{fitted}")
    print("| trial | profile | " + " | ".join(short) + " |")
    print("|---|---|" + "---|" * len(short))
    curves = dict.fromkeys(profiles, ())
    trials = TRIALS
    if args.fitted:
        curves = {
            profile: tuple(fit_curves(generate_cohort(2000, seed=FIT_SEED, profile=profile)[0]))
            for profile in profiles
        }
        trials = tuple(trial for trial in TRIALS if trial.criterion is None)
        trials += (Trial({**BEST_SETTING, "z_yellow": 1.0}),)
    for trial in trials:
        for profile in profiles:
            settings = dataclasses.replace(
                TRIALS_BASE, curve_overrides=curves[profile], **trial.settings
            )
            with criterion_applied(trial.criterion, trial.value):
                runs = [measure(*cohorts[(profile, seed)], settings) for seed in seeds]
            cells = []
            for name in GOALS:
                mean, worst, met = summary(runs, name)
                if "weeks" in name:
                    text = f"{mean:.1f} / {worst:.1f}"
                elif "client-week" in name:
                    text = f"{mean:.3f} / {worst:.3f}"
                else:
                    text = f"{100 * mean:.1f} / {100 * worst:.1f}"
                cells.append(text + ("" if met else " !"))
            print(f"| {trial.label()} | {profile} | " + " | ".join(cells) + " |", flush=True)


if __name__ == "__main__":
    main()
