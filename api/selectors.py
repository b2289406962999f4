"""Reads that compose the clinical core for API answers (no rule of its own lives here)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import pandas as pd

from clients.models import Episode
from dashboards.charts import expected_course
from dashboards.selectors import clinic_curves
from measures import trajectories
from measures.rules import DEFAULT_PARAMS
from outcomes.models import Administration
from outcomes.selectors import instrument_for


def _number(value) -> float | None:
    if value is None:
        return None
    value = float(value)
    return None if math.isnan(value) else value


@dataclass
class InstrumentTrajectory:
    instrument: str
    name: str
    direction: str
    caseness_cutoff: float | None
    reliable_change: float | None
    curve_source: str | None
    scores: list[dict] = field(default_factory=list)
    expected: list[dict] = field(default_factory=list)


def episode_trajectory(*, episode: Episode) -> list[InstrumentTrajectory]:
    """Per instrument: every valid score with its treatment week, expected score, tolerance
    limits and status (``measures.trajectories.classify_administrations``, CLINICAL.md §4), and
    the expected course week by week from intake (empty when no curve applies)."""
    rows = list(
        Administration.objects.filter(episode=episode, valid=True, total__isnull=False)
        .order_by("administered_at", "pk")
        .values("id", "instrument", "administered_at", "total", "band", "risk")
    )
    if not rows:
        return []
    frame = pd.DataFrame.from_records(rows).rename(columns={"id": "administration_id"})
    frame["episode_id"] = episode.pk
    curves = clinic_curves(episode.clinic)
    clinic = episode.clinic
    result = []
    for code in sorted(frame["instrument"].unique()):
        try:
            instrument = instrument_for(clinic, code)
        except KeyError:
            continue
        own = frame[frame["instrument"] == code]
        params = DEFAULT_PARAMS.get(code)
        trajectory = InstrumentTrajectory(
            instrument=code,
            name=instrument.name,
            direction=instrument.direction,
            caseness_cutoff=instrument.caseness_cutoff,
            reliable_change=instrument.reliable_change,
            curve_source=None,
        )
        if params is None:
            # An instrument the rules do not watch (a clinic's own form): scores only.
            weeks = trajectories.add_treatment_weeks(own.copy())
            for row in weeks.itertuples():
                trajectory.scores.append(_score_row(row, classified=False))
        else:
            classified = trajectories.classify_administrations(
                own.copy(),
                instrument=code,
                reliable_change=params.reliable_change,
                direction=params.direction,
                functional_cutoff=params.functional_cutoff,
                has_curve=params.has_curve,
                curves=curves,
                **clinic.curve_limits(),
                label=params.label,
            )
            for row in classified.itertuples():
                trajectory.scores.append(_score_row(row, classified=True))
            if params.has_curve and len(classified):
                first = classified.iloc[0]
                course = expected_course(
                    instrument,
                    intake=float(first["intake"]),
                    baseline_at=first["administered_at"],
                    last_week=int(classified["week"].max()),
                    curves=curves,
                    **clinic.curve_limits(),
                )
                if course is not None:
                    trajectory.curve_source = course["source"].dropna().iloc[0]
                    trajectory.expected = [
                        {
                            "week": int(point.week),
                            "at": point.at,
                            "expected": _number(point.expected),
                            "yellow_limit": _number(point.yellow_limit),
                            "red_limit": _number(point.red_limit),
                        }
                        for point in course.itertuples()
                    ]
        result.append(trajectory)
    return result


def _score_row(row, *, classified: bool) -> dict:
    return {
        "administration": int(row.administration_id),
        "administered_at": row.administered_at,
        "week": int(row.week),
        "total": _number(row.total),
        "band": row.band,
        "risk": row.risk,
        "expected": _number(row.expected) if classified else None,
        "yellow_limit": _number(row.yellow_limit) if classified else None,
        "red_limit": _number(row.red_limit) if classified else None,
        "status": row.status if classified else None,
        "reason": row.reason if classified else "",
    }
