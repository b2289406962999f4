"""Expected recovery curves as stored rows: fit them on a clinic's completed episodes, and load
the ones the alert rules and the charts should use (CLINICAL.md §4 steps 2 and 6).

The math is in ``measures.trajectories`` (pure); this module only reads the episodes, calls it and
keeps the result. Every fit writes a new set of rows (one per instrument and intake band), so the
clinic's history of fits, with their date, n and calibration, stays visible; the newest row per
band is the one in force.
"""

from dataclasses import dataclass

import pandas as pd
from django.db import transaction
from django.utils import timezone

from audit.services import audit_record
from clients.models import Clinic
from measures import trajectories
from measures.rules import DEFAULT_PARAMS, OPERATING_POINTS
from outcomes.models import Administration, TrajectoryCurve

# The instruments that have expected recovery curves: those with provisional default bands.
CURVE_INSTRUMENTS = tuple(trajectories.DEFAULT_CURVES)


def clinic_curve_overrides(*, clinic: Clinic) -> tuple[trajectories.BandCurve, ...]:
    """The fitted band curves that replace the provisional defaults for this clinic.

    The newest row per (instrument, band) is in force, and only when it was fitted on at least
    ``clinic.trajectory_min_episodes`` completed episodes: a clinic that raises the minimum after a
    fit goes back to the defaults for the bands that no longer qualify.
    """
    return clinics_curve_overrides(clinics=[clinic])[clinic.pk]


def clinics_curve_overrides(*, clinics) -> dict[int, tuple[trajectories.BandCurve, ...]]:
    """``clinic_curve_overrides`` for several clinics in one query (the sweep's chunks)."""
    clinics = {clinic.pk: clinic for clinic in clinics}
    newest: dict[tuple, TrajectoryCurve] = {}
    rows = TrajectoryCurve.objects.filter(clinic_id__in=list(clinics)).order_by("fitted_at", "pk")
    for row in rows:
        newest[(row.clinic_id, row.instrument, row.band_low, row.band_high)] = row
    overrides: dict[int, list] = {pk: [] for pk in clinics}
    for row in newest.values():
        minimum = clinics[row.clinic_id].trajectory_min_episodes
        if row.source == TrajectoryCurve.Source.FITTED and row.n_episodes >= minimum:
            overrides[row.clinic_id].append(band_curve_from_row(row))
    return {pk: tuple(curves) for pk, curves in overrides.items()}


def band_curve_from_row(row: TrajectoryCurve) -> trajectories.BandCurve:
    by_week = (row.calibration or {}).get("sigma_by_week") or {}
    return trajectories.BandCurve(
        instrument=row.instrument,
        band_low=row.band_low,
        band_high=row.band_high,
        b0=row.b0,
        b1=row.b1,
        sigma=row.sigma,
        sigma_by_week=tuple(sorted((int(week), float(sd)) for week, sd in by_week.items())),
        n_episodes=row.n_episodes,
        source=row.source,
    )


@dataclass(frozen=True)
class FitSummary:
    clinic_id: int
    fitted_bands: int
    default_bands: int


def completed_episode_scores(*, clinic: Clinic) -> pd.DataFrame:
    """Scores of the curve instruments from the clinic's ended episodes, in one query."""
    rows = Administration.objects.filter(
        episode__clinic=clinic,
        episode__ended_on__isnull=False,
        instrument__in=CURVE_INSTRUMENTS,
        total__isnull=False,
    ).values_list("episode_id", "pk", "instrument", "administered_at", "total")
    frame = pd.DataFrame(
        list(rows),
        columns=["episode_id", "administration_id", "instrument", "administered_at", "total"],
    )
    frame["episode_id"] = frame["episode_id"].astype("int64")
    frame["administration_id"] = frame["administration_id"].astype("int64")
    frame["instrument"] = frame["instrument"].astype(object)
    frame["administered_at"] = pd.to_datetime(frame["administered_at"], utc=True)
    frame["total"] = frame["total"].astype(float)
    return frame


def curves_fit(*, clinic: Clinic, now=None) -> FitSummary:
    """Fit ŷ = b0 + b1·ln t per instrument and intake band on the clinic's completed episodes
    (Finch, Lambert & Schaalje 2001) and store the curves with their calibration.

    Bands with fewer than ``clinic.trajectory_min_episodes`` episodes are stored as
    source="default" with the provisional default parameters and their real n, so the UI can say
    "provisional" and show how far the band is from its own curve. The calibration (sensitivity
    to an eventual reliable deterioration, false-alarm rate, median weeks of warning, for the
    combined status and for the curve alone; CLINICAL.md §4 step 6, Hannan et al. 2005) replays
    the curves now in force on the same history, so it is an in-sample figure: it says how the flags
    would have behaved, not a validated accuracy. It is prospective: a flag counts only when it came
    before the client was reliably worse (``trajectories.calibrate``).
    """
    now = now or timezone.now()
    scores = completed_episode_scores(clinic=clinic)
    fitted = trajectories.fit_curves(scores, min_episodes=clinic.trajectory_min_episodes)
    calibration = {
        instrument: _calibration(clinic, scores, instrument, fitted)
        for instrument in CURVE_INSTRUMENTS
    }
    rows = [
        TrajectoryCurve(
            clinic=clinic,
            instrument=curve.instrument,
            band_low=curve.band_low,
            band_high=curve.band_high,
            b0=curve.b0,
            b1=curve.b1,
            sigma=curve.sigma,
            n_episodes=curve.n_episodes,
            source=curve.source,
            fitted_at=now,
            calibration={
                **calibration[curve.instrument],
                "n_scores": curve.n_scores,
                "sigma_by_week": {str(week): sd for week, sd in curve.sigma_by_week},
            },
        )
        for curve in fitted
    ]
    with transaction.atomic():
        TrajectoryCurve.objects.bulk_create(rows)
        n_fitted = sum(curve.source == TrajectoryCurve.Source.FITTED for curve in fitted)
        audit_record(
            actor=None,
            action="trajectory.fit",
            clinic=clinic,
            details={"fitted_bands": n_fitted, "default_bands": len(fitted) - n_fitted},
        )
    return FitSummary(
        clinic_id=clinic.pk, fitted_bands=n_fitted, default_bands=len(fitted) - n_fitted
    )


def _calibration(clinic, scores, instrument, curves) -> dict:
    params = DEFAULT_PARAMS[instrument]
    in_force = [
        curve
        for curve in curves
        if curve.source == "fitted" and curve.n_episodes >= clinic.trajectory_min_episodes
    ]
    history = scores[scores["instrument"] == instrument]

    def calibrate(limits):
        figures = trajectories.calibrate(
            history,
            instrument=instrument,
            reliable_change=params.reliable_change,
            direction=params.direction,
            functional_cutoff=params.functional_cutoff,
            curves=in_force,
            **limits,
        )
        # JSON-safe: numpy numbers become plain floats and ints.
        return {
            key: (value.item() if hasattr(value, "item") else value)
            for key, value in figures.items()
        }

    figures = calibrate(clinic.curve_limits())
    # What each operating point a clinic can choose would have done on the same history, so the
    # admin sees what a more sensitive point costs in false alarms (issue 16).
    figures["operating_points"] = {
        name: {
            key: value
            for key, value in calibrate(_point_limits(point)).items()
            if key in OPERATING_POINT_FIGURES
        }
        for name, point in OPERATING_POINTS.items()
    }
    return figures


def _point_limits(point) -> dict:
    return {
        "z_yellow": point.z_yellow,
        "z_red": point.z_red,
        "first_limit_week": point.first_limit_week,
        "sigma_floor": point.sigma_floor,
        "not_improving_share": point.not_improving_share,
    }


OPERATING_POINT_FIGURES = (
    "not_improving_share",
    "first_limit_week",
    "z_yellow",
    "z_red",
    "curve_sensitivity",
    "curve_median_weeks_of_warning",
    "curve_false_alarm_rate",
    "curve_false_alarm_rate_dipped_then_improved",
)


def clinics_fit(*, clinics=None) -> list[FitSummary]:
    clinics = Clinic.objects.all() if clinics is None else clinics
    return [curves_fit(clinic=clinic) for clinic in clinics]
