"""A synthetic cohort of weekly PHQ-9 courses built from published trajectory shapes (issue 16).

Used by ``bench/bench_early_warning.py`` to measure the alert engine prospectively. It is not the
held-out cohort the issue is judged on: tune on one seed, report on another.

Shapes, each a client's *true* score over the weeks; the observed score is the true score plus
weekly measurement noise (SD 2.25, inside the 2–2.5 points the issue gives; PHQ-9 SEM 2.16 in
CLINICAL.md §4), rounded and clipped to 0–27:

- ``improver``: log-linear improvement, ŷ = x0 + (end − x0)·ln t / ln 7, held flat after week 12
  (Finch, Lambert & Schaalje 2001); the end score varies between clients around a 45 % drop.
- ``dip``: an early transient worsening (3–7 points, peaking in weeks 2–4, gone two to three weeks
  later) on top of the same improvement: the "worse before better" weeks.
- ``flat``: non-response, the true score drifting by at most a point or two.
- ``deteriorator``: later-onset deterioration: improvement or no change until an onset week (3–8),
  then a steady rise of 1–2.5 points a week until 6–12 points above intake.

The intake is drawn like NHS Talking Therapies cases: true intake ~ N(15.4, 5.5), observed with
the same noise, kept when the observed intake is a case (≥ 10) and at most 27 (Saunders et al.
2019 report 16.4 (5.65) for cases; NHS Talking Therapies caseness PHQ-9 ≥ 10). Because the
observed intake carries its own error, a client selected for a high intake tends to score lower the
next week (regression to the mean), as real intakes do. One week in ten is missed (never the
intake).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

START = pd.Timestamp("2025-01-06", tz="UTC")
SHAPES = ("improver", "dip", "flat", "deteriorator")
SHAPE_SHARES = (0.55, 0.15, 0.22, 0.08)
NOISE_SD = 2.25
INTAKE_MEAN, INTAKE_SD = 15.4, 5.5


# Plausible variations of the generator (bench_early_warning.py --variations): the issue gives
# weekly noise of 2–2.5 points; intake SDs around Saunders et al.'s 5.65; more or fewer clients who
# deteriorate (NHS Talking Therapies reports reliable deterioration in about 5–8 % of courses).
VARIATIONS = {
    "noise 2.0": {"noise_sd": 2.0},
    "noise 2.5": {"noise_sd": 2.5},
    "intake SD 4.5": {"intake_sd": 4.5},
    "intake SD 6.5": {"intake_sd": 6.5},
    "deteriorators 5 %": {"shares": (0.56, 0.15, 0.24, 0.05)},
    "deteriorators 12 %": {"shares": (0.52, 0.15, 0.21, 0.12)},
}


def generate_cohort(
    n_clients: int = 2000,
    *,
    seed: int = 0,
    noise_sd: float = NOISE_SD,
    intake_sd: float = INTAKE_SD,
    shares: tuple[float, ...] = SHAPE_SHARES,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(administrations, clients): PHQ-9 rows in the ``rules.evaluate`` contract, and one row per
    client with episode_id and shape. ``noise_sd``, ``intake_sd`` and ``shares`` (of ``SHAPES``)
    vary the generator (``VARIATIONS``)."""
    rng = np.random.default_rng(seed)
    rows = []
    clients = []
    administration_id = 0
    for episode_id in range(1, n_clients + 1):
        shape = rng.choice(SHAPES, p=shares)
        true_intake, observed_intake = _intake(rng, noise_sd=noise_sd, intake_sd=intake_sd)
        n_weeks = int(rng.integers(8, 17))  # weeks after intake
        true = _true_course(rng, shape, true_intake, n_weeks)
        observed = np.clip(np.round(true + rng.normal(0, noise_sd, len(true))), 0, 27)
        observed[0] = observed_intake
        attended = rng.random(len(true)) >= 0.1
        attended[0] = True
        clients.append({"episode_id": episode_id, "shape": shape})
        for week in np.flatnonzero(attended):
            administration_id += 1
            rows.append(
                (
                    episode_id,
                    administration_id,
                    START + pd.Timedelta(days=7 * int(week), hours=int(rng.integers(0, 30))),
                    float(observed[week]),
                )
            )
    administrations = pd.DataFrame(
        rows, columns=["episode_id", "administration_id", "administered_at", "total"]
    )
    administrations.insert(2, "instrument", "phq9")
    administrations["risk"] = "no"
    return administrations, pd.DataFrame(clients)


def _intake(rng, *, noise_sd: float, intake_sd: float) -> tuple[float, float]:
    while True:
        true_intake = rng.normal(INTAKE_MEAN, intake_sd)
        observed = float(np.clip(np.round(true_intake + rng.normal(0, noise_sd)), 0, 27))
        if observed >= 10:
            return float(np.clip(true_intake, 0, 27)), observed


def _true_course(rng, shape: str, intake: float, n_weeks: int) -> np.ndarray:
    weeks = np.arange(n_weeks + 1)
    t = np.minimum(weeks + 1, 12)  # t = 1 at intake, flat after week 12
    progress = np.log(t) / np.log(7)
    end = intake * (1 - np.clip(rng.normal(0.45, 0.18), 0.05, 0.9))
    improving = intake + (end - intake) * progress
    if shape == "improver":
        return improving
    if shape == "dip":
        peak_week = rng.integers(1, 4)  # weeks 1–3 after intake: t = 2–4
        height = rng.uniform(3, 7)
        width = rng.uniform(0.8, 1.4)
        return improving + height * np.exp(-0.5 * ((weeks - peak_week) / width) ** 2)
    if shape == "flat":
        return intake + rng.normal(0, 1.0) * progress
    # deteriorator: improve a little or stay flat, then rise steadily from the onset week.
    onset = int(rng.integers(3, 9))
    before = intake + (end - intake) * progress * rng.uniform(0, 0.5)
    rise = rng.uniform(1.0, 2.5) * np.maximum(weeks - onset, 0)
    ceiling = intake + rng.uniform(6, 12)
    course = np.minimum(before + rise, np.maximum(ceiling, before))
    return np.minimum(course, 27)
