"""Calibrate the synthetic cohort to the issue author's held-out cohort (issue 16).

    PYTHONPATH=. .venv/bin/python bench/calibrate_cohort.py [--profile heldout] [--seeds 1-10]

The issue's "now" column gives the held-out cohort's figures under the rules as they stood before
any issue-16 change (commit 6442081, when they lived in ``outcomes/rules.py``). This script runs
those OLD rules, read from git at that commit into a private package, on cohorts from the CURRENT
generator (``bench/early_warning_cohort.py``, ``--profile``), and prints each figure against the
issue's: a generator profile whose figures match under the old rules is a stand-in for the
held-out cohort on which the current rules can be judged (``bench_early_warning.py --profile``).
"""

from __future__ import annotations

import argparse
import importlib
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from bench.early_warning_cohort import PROFILES, generate_cohort, seeds_from

OLD_RULES_COMMIT = "6442081"
DETERIORATION_RULES = ("reliable_deterioration", "not_on_track", "sudden_loss")
# The "now" column: the held-out cohort (2,000 clients) under the rules of 6442081.
HELD_OUT = {
    "deteriorators warned before reliably worse": 0.716,
    "warned by not on track alone": 0.63,
    "median weeks of warning": 4,
    "improvers ever flagged": 0.303,
    "improvers flagged by sudden loss alone": 0.27,
    "dip-then-improve given a high alert": 0.548,
    "deterioration alerts per client-week": 0.120,
}


def load_old_rules(commit: str = OLD_RULES_COMMIT):
    """``outcomes/rules.py`` and ``outcomes/trajectories.py`` as of ``commit``, imported as a
    package of their own (``rules_<commit>``) beside the current code."""
    name = f"rules_{commit}"
    if name not in sys.modules:
        root = Path(__file__).resolve().parent.parent
        package = Path(tempfile.mkdtemp(prefix="old-rules-")) / name
        package.mkdir()
        (package / "__init__.py").write_text("")
        for module in ("trajectories", "rules"):
            source = subprocess.run(
                ["git", "show", f"{commit}:outcomes/{module}.py"],
                cwd=root,
                capture_output=True,
                text=True,
                check=True,
            ).stdout
            # The only import between the two; everything else is numpy and pandas.
            source = source.replace(
                "from outcomes.trajectories import", "from .trajectories import"
            )
            (package / f"{module}.py").write_text(source)
        sys.path.insert(0, str(package.parent))
    return importlib.import_module(f"{name}.rules"), importlib.import_module(f"{name}.trajectories")


def measure_old(administrations: pd.DataFrame, clients: pd.DataFrame) -> dict:
    """The issue's figures under the old rules' shipped defaults (as the old bench measured)."""
    rules, trajectories = load_old_rules()
    empty_checkins = pd.DataFrame(
        {"episode_id": [], "checkin_id": [], "due_at": [], "status": []}
    ).astype({"episode_id": "int64", "checkin_id": "int64", "status": object})
    empty_checkins["due_at"] = pd.to_datetime(empty_checkins["due_at"], utc=True)
    settings = rules.RuleSettings()
    alerts = rules.evaluate(administrations, empty_checkins, settings=settings).alerts
    deterioration = alerts[alerts["rule"].isin(DETERIORATION_RULES)]
    history = rules.score_history(administrations, settings=settings)

    def per_episode(flags: pd.DataFrame) -> pd.DataFrame:
        flagged = history["administration_id"].isin(set(flags["administration_id"].astype("int64")))
        high_ids = flags.loc[flags["severity"].isin(["high", "urgent"]), "administration_id"]
        high = history["administration_id"].isin(set(high_ids.astype("int64")))
        return trajectories.warning_per_episode(history, flagged, high=high).join(
            clients.set_index("episode_id")
        )

    every = per_episode(deterioration)
    not_on_track = per_episode(deterioration[deterioration["rule"] == "not_on_track"])
    sudden_loss = per_episode(deterioration[deterioration["rule"] == "sudden_loss"])
    deteriorated = every["ended_deteriorated"]
    improvers = (every["shape"] == "improver") & ~every["ever_deteriorated"]
    dips = every["shape"] == "dip"
    warned = every.loc[deteriorated, "warned"]
    return {
        "deteriorators warned before reliably worse": warned.mean(),
        "warned by not on track alone": not_on_track.loc[deteriorated, "warned"].mean(),
        "median weeks of warning": every.loc[deteriorated & every["warned"], "lead_weeks"].median(),
        "improvers ever flagged": every.loc[improvers, "ever_flagged"].mean(),
        "improvers flagged by sudden loss alone": sudden_loss.loc[improvers, "ever_flagged"].mean(),
        "dip-then-improve given a high alert": every.loc[dips, "ever_flagged_high"].mean(),
        "deterioration alerts per client-week": len(deterioration) / len(history),
        "_n": (int(deteriorated.sum()), int(improvers.sum()), int(dips.sum()), len(history)),
        "_leads": every.loc[deteriorated & every["warned"], "lead_weeks"].to_numpy(),
    }


def _cell(name: str, value: float) -> str:
    if "weeks" in name:
        return f"{value:.1f}"
    if "per client-week" in name:
        return f"{value:.3f}"
    return f"{100 * value:.1f} %"


def run(profile: str, seeds: list[int], n_clients: int = 2000, **overrides) -> dict:
    """Mean of each figure over the seeds (the median lead pooled over every warned client, and
    per seed), with the cohort sizes."""
    runs = [
        measure_old(*generate_cohort(n_clients, seed=seed, profile=profile, **overrides))
        for seed in seeds
    ]
    summary = {name: float(np.mean([r[name] for r in runs])) for name in HELD_OUT}
    leads = np.concatenate([r["_leads"] for r in runs])
    summary["median weeks of warning"] = float(np.median(leads))
    summary["_per_seed"] = runs
    return summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--profile", default="heldout", choices=sorted(PROFILES))
    parser.add_argument("--seeds", default="1-10")
    parser.add_argument("--clients", type=int, default=2000)
    args = parser.parse_args()
    started = time.perf_counter()
    seeds = seeds_from(args.seeds)
    result = run(args.profile, seeds, args.clients)
    n = np.array([r["_n"] for r in result["_per_seed"]]).T
    print(
        f"Old rules ({OLD_RULES_COMMIT}) on profile {args.profile!r}, seeds {args.seeds} × "
        f"{args.clients} clients; per cohort {n[0].min()}–{n[0].max()} eventual deteriorators, "
        f"{n[1].min()}–{n[1].max()} improvers never reliably worse, {n[2].min()}–{n[2].max()} "
        f"dip-then-improve, {n[3].min()}–{n[3].max()} client-weeks"
    )
    print("| measure (old rules) | held-out cohort (issue) | this profile: mean | min–max |")
    print("|---|---|---|---|")
    for name, target in HELD_OUT.items():
        values = [r[name] for r in result["_per_seed"]]
        print(
            f"| {name} | {_cell(name, target)} | {_cell(name, result[name])} | "
            f"{_cell(name, min(values))}–{_cell(name, max(values))} |"
        )
    print("(median weeks of warning: pooled over every warned deteriorator of every seed)")
    print(f"\n({time.perf_counter() - started:.0f} s)")


if __name__ == "__main__":
    main()
