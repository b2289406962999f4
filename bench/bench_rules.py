"""Micro benchmark of the pure rule engine (no database): `evaluate` over a synthetic caseload.

    .venv/bin/python bench/bench_rules.py [n_episodes] [weeks]

Default: 50,000 episodes × 10 weeks × (PHQ-9, GAD-7) = 1,000,000 administrations, the size of the
nightly sweep in issue 5, plus one session rating and one check-in per week. Prints rows per second.
The database-backed benchmark (read time, ORM loop) belongs to the sweep's own bench.
"""

from __future__ import annotations

import sys
import time

import numpy as np
import pandas as pd

from outcomes.rules import evaluate

START = pd.Timestamp("2024-01-01", tz="UTC")


def synthetic_caseload(n_episodes: int, weeks: int, *, seed: int = 5):
    """Clients recovering along a log curve with noise; some deteriorate, some skip check-ins."""
    rng = np.random.default_rng(seed)
    episode = np.repeat(np.arange(1, n_episodes + 1), weeks)
    week = np.tile(np.arange(weeks), n_episodes)
    deteriorating = np.repeat(rng.random(n_episodes) < 0.08, weeks)
    progress = np.log1p(week) / np.log(7)
    at = (
        START
        + pd.to_timedelta(week * 7, unit="D")
        + pd.to_timedelta(rng.integers(0, 36, len(week)), unit="h")
    )

    def scores(intake_mean, intake_sd, high, end_share, noise):
        intake = np.repeat(np.clip(rng.normal(intake_mean, intake_sd, n_episodes), 0, high), weeks)
        drift = np.where(deteriorating, 0.4 * intake * progress, -end_share * intake * progress)
        return np.clip(np.round(intake + drift + rng.normal(0, noise, len(week))), 0, high)

    frames = []
    next_id = 1
    for instrument, total in (
        ("phq9", scores(16.4, 5.65, 27, 0.45, 2.5)),
        ("gad7", scores(14.5, 4.43, 21, 0.45, 2.0)),
        ("session_rating", np.clip(np.round(rng.normal(37, 2.5, len(week))), 0, 40)),
    ):
        total = total.astype(float)
        total[rng.random(len(total)) < 0.01] = np.nan  # an unscorable form now and then
        risk = np.where(rng.random(len(total)) < 0.01, "yes", "no").astype(object)
        if instrument == "phq9":
            risk[rng.random(len(total)) < 0.005] = "unknown"
        frames.append(
            pd.DataFrame(
                {
                    "episode_id": episode,
                    "administration_id": np.arange(next_id, next_id + len(week)),
                    "instrument": instrument,
                    "administered_at": at,
                    "total": total,
                    "risk": risk,
                }
            )
        )
        next_id += len(week)
    administrations = pd.concat(frames, ignore_index=True)
    checkins = pd.DataFrame(
        {
            "episode_id": episode,
            "checkin_id": np.arange(1, len(week) + 1),
            "due_at": START + pd.to_timedelta(week * 7, unit="D"),
            "status": np.where(rng.random(len(week)) < 0.15, "missed", "completed"),
        }
    )
    return administrations, checkins


def main() -> None:
    n_episodes = int(sys.argv[1]) if len(sys.argv) > 1 else 50_000
    weeks = int(sys.argv[2]) if len(sys.argv) > 2 else 10
    administrations, checkins = synthetic_caseload(n_episodes, weeks)
    outcome_rows = int(administrations["instrument"].isin(["phq9", "gad7"]).sum())
    started = time.perf_counter()
    result = evaluate(administrations, checkins)
    elapsed = time.perf_counter() - started
    print(
        f"evaluate: {n_episodes:,} episodes, {len(administrations):,} administrations "
        f"({outcome_rows:,} PHQ-9/GAD-7) and {len(checkins):,} check-ins in {elapsed:.2f} s "
        f"= {len(administrations) / elapsed:,.0f} administrations/s"
    )
    print(result.alerts["rule"].value_counts().to_string())
    print(result.status["status"].value_counts().to_string())


if __name__ == "__main__":
    main()
