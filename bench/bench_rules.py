"""Micro benchmark of the pure rule engine (no database): `evaluate` over a synthetic caseload.

    PYTHONPATH=. .venv/bin/python bench/bench_rules.py [n_episodes]
    PYTHONPATH=. .venv/bin/python bench/bench_rules.py --small [repeats]
    PYTHONPATH=. .venv/bin/python bench/bench_rules.py --shuffled [n_episodes]
    PYTHONPATH=. .venv/bin/python bench/bench_rules.py [n_episodes] --json results.json

``--json PATH`` (any mode but ``--small``) also writes the measure and its floor, in seconds, to
PATH for ``bench/bench_issue18.py``.

Default: 50,000 episodes × 20 administrations (8 weekly PHQ-9 and GAD-7, 4 session ratings) =
1,000,000 rows, the size of the sweep in issue 5, plus 8 check-ins per episode. Prints rows per
second, and the floor: what ordering the same rows into series costs at all in numpy (factorize
the instrument, lexsort by instrument, episode and time, find each series' bounds and shift the
totals by one within it), and the ratio of the two, measured in the same run. The database-backed
benchmark (read time, ORM loop) belongs to the sweep's own bench.

The caseload comes in time order within each episode, as rows read in the order they were stored
do, and ``evaluate`` keeps an order it finds already sorted; ``--shuffled`` shuffles the rows
first, so both ``evaluate`` and the floor sort from scratch.
"""

from __future__ import annotations

import json
import sys
import time

import numpy as np
import pandas as pd

from measures.rules import evaluate

START = pd.Timestamp("2024-01-01", tz="UTC")


def synthetic_caseload(n_episodes: int, *, weeks: int = 8, seed: int = 5):
    """Clients recovering along a log curve with noise; some deteriorate, some skip check-ins."""
    rng = np.random.default_rng(seed)
    episode = np.repeat(np.arange(1, n_episodes + 1), weeks)
    week = np.tile(np.arange(weeks), n_episodes)
    deteriorating = np.repeat(rng.random(n_episodes) < 0.08, weeks)
    progress = np.log1p(week) / np.log(7)
    jitter = pd.to_timedelta(rng.integers(0, 36, len(week)), unit="h")
    at = START + pd.to_timedelta(week * 7, unit="D") + jitter

    def scores(intake_mean, intake_sd, high, end_share, noise):
        intake = np.repeat(np.clip(rng.normal(intake_mean, intake_sd, n_episodes), 0, high), weeks)
        drift = np.where(deteriorating, 0.4 * intake * progress, -end_share * intake * progress)
        return np.clip(np.round(intake + drift + rng.normal(0, noise, len(week))), 0, high)

    # Session ratings sit near the ceiling and dip now and then; one every other week.
    every_other = week % 2 == 0
    rating = 40 - rng.choice([0, 0, 0, 1, 2, 5], size=len(week)).astype(float)
    frames = []
    next_id = 1
    for instrument, rows, total in (
        ("phq9", slice(None), scores(16.4, 5.65, 27, 0.45, 2.5)),
        ("gad7", slice(None), scores(14.5, 4.43, 21, 0.45, 2.0)),
        ("session_rating", every_other, rating[every_other]),
    ):
        total = total.astype(float)
        total[rng.random(len(total)) < 0.01] = np.nan  # an unscorable form now and then
        risk = np.where(rng.random(len(total)) < 0.01, "yes", "no").astype(object)
        if instrument == "phq9":
            risk[rng.random(len(total)) < 0.005] = "unknown"
        frames.append(
            pd.DataFrame(
                {
                    "episode_id": episode[rows],
                    "administration_id": np.arange(next_id, next_id + len(total)),
                    "instrument": instrument,
                    "administered_at": at[rows],
                    "total": total,
                    "risk": risk,
                }
            )
        )
        next_id += len(total)
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


def numpy_floor(administrations: pd.DataFrame) -> float:
    """Seconds for the least work any rule engine must do: sort into (instrument, episode) series
    by time, find the series bounds and shift the scores by one within each series."""
    started = time.perf_counter()
    instrument, _ = pd.factorize(administrations["instrument"])
    episode = administrations["episode_id"].to_numpy()
    at = administrations["administered_at"].array.asi8
    order = np.lexsort((administrations["administration_id"].to_numpy(), at, episode, instrument))
    episode, instrument = episode[order], instrument[order]
    total = administrations["total"].to_numpy()[order]
    starts = np.ones(len(order), dtype=bool)
    starts[1:] = (episode[1:] != episode[:-1]) | (instrument[1:] != instrument[:-1])
    previous = np.empty_like(total)
    previous[0] = np.nan
    previous[1:] = total[:-1]
    previous[starts] = np.nan
    assert np.flatnonzero(starts).size and previous.size == total.size
    return time.perf_counter() - started


def small_episode(repeats: int) -> None:
    """Milliseconds per evaluation of one 20-row episode: the per-submission task's rule time."""
    administrations, checkins = synthetic_caseload(1)
    evaluate(administrations, checkins)
    timings = []
    for _ in range(repeats):
        started = time.perf_counter()
        evaluate(administrations, checkins)
        timings.append(time.perf_counter() - started)
    timings = np.array(timings) * 1000
    print(
        f"evaluate, one episode ({len(administrations)} administrations, {len(checkins)} "
        f"check-ins), {repeats} runs: median {np.median(timings):.1f} ms, "
        f"p95 {np.percentile(timings, 95):.1f} ms"
    )


def main() -> None:
    arguments = sys.argv[1:]
    json_path = None
    if "--json" in arguments:
        at = arguments.index("--json")
        json_path = arguments[at + 1]
        del arguments[at : at + 2]
    if arguments[:1] == ["--small"]:
        small_episode(int(arguments[1]) if len(arguments) > 1 else 200)
        return
    shuffled = arguments[:1] == ["--shuffled"]
    arguments = arguments[1:] if shuffled else arguments
    n_episodes = int(arguments[0]) if arguments else 50_000
    administrations, checkins = synthetic_caseload(n_episodes)
    if shuffled:
        administrations = administrations.sample(frac=1, random_state=18, ignore_index=True)
        checkins = checkins.sample(frac=1, random_state=18, ignore_index=True)
    outcome_rows = int(administrations["instrument"].isin(["phq9", "gad7"]).sum())
    # The first call pays for imports and pandas' lazy set-up; a sweep worker pays that once.
    evaluate(*synthetic_caseload(10))
    # Best of five for both the measure and the floor, taken in turns: the machine is shared,
    # the best run is the one least disturbed by other work, and alternating lets both see the
    # same spells of load (a quiet minute for one of them alone skewed the ratio either way).
    elapsed = floor = float("inf")
    for _ in range(5):
        started = time.perf_counter()
        result = evaluate(administrations, checkins)
        elapsed = min(elapsed, time.perf_counter() - started)
        floor = min(floor, numpy_floor(administrations))
    print(
        f"evaluate: {n_episodes:,} episodes, {len(administrations):,} administrations "
        f"({outcome_rows:,} PHQ-9/GAD-7) and {len(checkins):,} check-ins: {elapsed:.2f} s, "
        f"{len(administrations) / elapsed:,.0f} administrations/s, "
        f"{len(result.alerts):,} alerts (best of 5){', rows shuffled' if shuffled else ''}"
    )
    print(
        f"floor (numpy lexsort + series bounds + shift): {floor:.3f} s (best of 5, in turns); "
        f"evaluate / floor: {elapsed / floor:.1f}x"
    )
    print(result.alerts["rule"].value_counts().to_string())
    print(result.status["status"].value_counts().to_string())
    if json_path:
        with open(json_path, "w") as handle:
            json.dump(
                {
                    "episodes": n_episodes,
                    "administrations": len(administrations),
                    "checkins": len(checkins),
                    "shuffled": shuffled,
                    "evaluate_seconds": elapsed,
                    "floor_seconds": floor,
                },
                handle,
            )


if __name__ == "__main__":
    main()
