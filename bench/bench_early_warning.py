"""Early warning, measured prospectively (issue 16): does a deterioration alert come *before* the
client is reliably worse, and how often does it cry wolf?

    PYTHONPATH=. .venv/bin/python bench/bench_early_warning.py [--clients 2000] [--seed 1]

Generates the synthetic cohort of ``bench/early_warning_cohort.py`` (published trajectory
shapes), feeds every client's weekly PHQ-9 through ``measures.rules.evaluate`` and prints, for the
shipped defaults and for each operating point a clinic can choose (``rules.OPERATING_POINTS``):

- eventual deteriorators (last − intake ≥ 6) flagged by a deterioration rule strictly before the
  first administration at which they were reliably worse, and the median weeks of that lead;
- improvers (shape "improver", never reliably worse) ever flagged;
- dip-then-improve clients (shape "dip") given a high or urgent deterioration alert;
- deterioration alerts per client-week;
- ``trajectories.calibrate()``'s curve sensitivity minus the prospective figure above.

Tune on one seed, report on another (the issue's goal is judged on a different cohort).
"""

from __future__ import annotations

import argparse
import dataclasses

import numpy as np
import pandas as pd

from bench.early_warning_cohort import generate_cohort
from measures import trajectories
from measures.rules import DEFAULT_PARAMS, OPERATING_POINTS, RuleSettings, evaluate, score_history

DETERIORATION_RULES = ("reliable_deterioration", "not_on_track", "sudden_loss")
GOALS = {
    "deteriorators warned before reliably worse": "≥ 75 %",
    "median weeks of warning": "≥ 3",
    "improvers ever flagged": "≤ 12 %",
    "dip-then-improve given a high alert": "≤ 30 %",
    "deterioration alerts per client-week": "≤ 0.10",
    "calibrate() curve sensitivity − prospective": "≤ 5 points",
}


def measure(administrations: pd.DataFrame, clients: pd.DataFrame, settings: RuleSettings) -> dict:
    empty_checkins = pd.DataFrame(
        {"episode_id": [], "checkin_id": [], "due_at": [], "status": []}
    ).astype({"episode_id": "int64", "checkin_id": "int64", "status": object})
    empty_checkins["due_at"] = pd.to_datetime(empty_checkins["due_at"], utc=True)
    alerts = evaluate(administrations, empty_checkins, settings=settings).alerts
    deterioration = alerts[alerts["rule"].isin(DETERIORATION_RULES)]
    history = score_history(administrations, settings=settings)
    flagged_ids = set(deterioration["administration_id"].astype("int64"))
    high_ids = set(
        deterioration.loc[
            deterioration["severity"].isin(["high", "urgent"]), "administration_id"
        ].astype("int64")
    )
    per_episode = trajectories.warning_per_episode(
        history,
        history["administration_id"].isin(flagged_ids),
        high=history["administration_id"].isin(high_ids),
    ).join(clients.set_index("episode_id"))
    deteriorated = per_episode[per_episode["ended_deteriorated"]]
    improvers = per_episode[
        (per_episode["shape"] == "improver") & ~per_episode["ever_deteriorated"]
    ]
    dips = per_episode[per_episode["shape"] == "dip"]
    phq9 = DEFAULT_PARAMS["phq9"]
    calibration = trajectories.calibrate(
        administrations,
        instrument="phq9",
        reliable_change=phq9.reliable_change,
        direction=phq9.direction,
        functional_cutoff=phq9.functional_cutoff,
        z_yellow=settings.z_yellow,
        z_red=settings.z_red,
        **_calibrate_options(settings),
    )
    sensitivity = deteriorated["warned"].mean()
    return {
        "deteriorators warned before reliably worse": sensitivity,
        "median weeks of warning": deteriorated.loc[deteriorated["warned"], "lead_weeks"].median(),
        "improvers ever flagged": improvers["ever_flagged"].mean(),
        "dip-then-improve given a high alert": dips["ever_flagged_high"].mean(),
        "deterioration alerts per client-week": len(deterioration) / len(history),
        "calibrate() curve sensitivity − prospective": (
            calibration["curve_sensitivity"] - sensitivity
        ),
        "_n": (len(deteriorated), len(improvers), len(dips), len(history)),
        "_by_rule": deterioration.groupby(["rule", "severity"]).size().to_dict(),
    }


def _calibrate_options(settings: RuleSettings) -> dict:
    # calibrate() takes the curve settings that change the limits, where it knows them.
    names = {field.name for field in dataclasses.fields(settings)}
    return {"first_curve_week": settings.first_curve_week} if "first_curve_week" in names else {}


def _cell(name: str, value) -> str:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return "–"
    if name.startswith("calibrate"):
        return f"{100 * value:+.1f} pts"
    if "weeks" in name:
        return f"{value:.1f}"
    if "per client-week" in name:
        return f"{value:.3f}"
    return f"{100 * value:.1f} %"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--clients", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    administrations, clients = generate_cohort(args.clients, seed=args.seed)

    columns = {"shipped defaults": RuleSettings()}
    for name, point in OPERATING_POINTS.items():
        columns[name] = RuleSettings(z_yellow=point.z_yellow, z_red=point.z_red)
    results = {name: measure(administrations, clients, s) for name, s in columns.items()}

    n_det, n_imp, n_dip, n_weeks = results["shipped defaults"]["_n"]
    print(
        f"Cohort: {args.clients} clients, seed {args.seed}: {n_det} eventual deteriorators, "
        f"{n_imp} improvers never reliably worse, {n_dip} dip-then-improve, {n_weeks} client-weeks"
    )
    header = ["measure", *columns, "goal"]
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for measure_name, goal in GOALS.items():
        cells = [_cell(measure_name, results[name][measure_name]) for name in columns]
        print(f"| {measure_name} | " + " | ".join(cells) + f" | {goal} |")
    print()
    for name, point in OPERATING_POINTS.items():
        print(f"{name}: z_yellow {point.z_yellow}, z_red {point.z_red}. {point.description}")
    print("\nDeterioration alerts by rule and severity (shipped defaults):")
    for (rule, severity), count in sorted(results["shipped defaults"]["_by_rule"].items()):
        print(f"  {rule:24} {severity:8} {count}")


if __name__ == "__main__":
    main()
