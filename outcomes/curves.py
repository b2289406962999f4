"""Expected recovery curves as stored rows: fit them on a clinic's completed episodes, and load
the ones the alert rules and the charts should use (CLINICAL.md §4 steps 2 and 6).

The math is in ``measures.trajectories`` (pure); this module only reads the episodes, calls it and
keeps the result. Every fit writes a new set of rows (one per instrument and intake band), so the
clinic's history of fits, with their date, n and calibration, stays visible; the newest row per
band is the one in force.
"""

import json
from dataclasses import dataclass

import pandas as pd
from django.db import connection, transaction
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
    minimum_of = {clinic.pk: clinic.trajectory_min_episodes for clinic in clinics}
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT {', '.join(_CURVE_COLUMNS)} FROM {TrajectoryCurve._meta.db_table} "  # noqa: S608
            f"WHERE clinic_id IN ({', '.join(str(int(pk)) for pk in minimum_of) or 'NULL'}) "
            "ORDER BY fitted_at, id"
        )
        rows = cursor.fetchall()
    return _curves_in_force(rows, minimum_of=minimum_of)


# A curve row as ``_curves_in_force`` reads it, straight from the cursor: a few values per row and
# no model instance (the evaluation after each submission reads them).
_CURVE_COLUMNS = (
    "clinic_id",
    "instrument",
    "band_low",
    "band_high",
    "b0",
    "b1",
    "sigma",
    "n_episodes",
    "source",
    "calibration",
)
# What ``outcomes.evaluation.rule_settings`` reads of a clinic, and the minimum that decides which
# fitted curves are in force.
RULE_SETTING_FIELDS = (
    "z_yellow",
    "z_red",
    "first_limit_week",
    "sigma_floor",
    "not_improving_share",
    "missed_checkins_for_alert",
    "early_in_care_weeks",
    "alliance_window_days",
    "not_on_track_rearm_scores",
    "trajectory_min_episodes",
)


def clinics_rule_inputs(
    *,
    clinic_ids,
) -> dict[int, tuple[Clinic, tuple[trajectories.BandCurve, ...]]]:
    """The clinics' rule settings and their curves in force, read in one statement (the clinic
    rows joined to their curve rows), for the evaluation that follows every submission.

    Nothing is cached between calls: a changed setting or a refit is in the very next read. The
    clinics come with ``RULE_SETTING_FIELDS`` loaded and every other field deferred; the curves
    are chosen as ``clinics_curve_overrides`` chooses them (newest row per band, fitted on enough
    episodes). Before this, the ORM's compiling of the two queries and its model per curve row
    were about a sixth of one submission's evaluation.
    """
    clinic_table = Clinic._meta.db_table
    curve_table = TrajectoryCurve._meta.db_table
    ids = ", ".join(str(int(pk)) for pk in clinic_ids) or "NULL"
    # In the model's field order, as ``Model.from_db`` takes the values of a partial row.
    names = [
        field.attname
        for field in Clinic._meta.concrete_fields
        if field.primary_key or field.attname in RULE_SETTING_FIELDS
    ]
    with connection.cursor() as cursor:
        # Only table and column names and integer ids are formatted in.
        cursor.execute(
            f"SELECT {', '.join(f'clinic.{name}' for name in names)}, "  # noqa: S608
            f"curve.id, {', '.join(f'curve.{name}' for name in _CURVE_COLUMNS)} "
            f"FROM {clinic_table} AS clinic LEFT JOIN {curve_table} AS curve "
            f"ON curve.clinic_id = clinic.id WHERE clinic.id IN ({ids}) "
            "ORDER BY curve.fitted_at, curve.id"
        )
        rows = cursor.fetchall()
    width = len(names)
    clinics = {row[0]: Clinic.from_db(connection.alias, names, row[:width]) for row in rows}
    curves = _curves_in_force(
        [row[width + 1 :] for row in rows if row[width] is not None],
        minimum_of={pk: clinic.trajectory_min_episodes for pk, clinic in clinics.items()},
    )
    return {pk: (clinic, curves[pk]) for pk, clinic in clinics.items()}


def _curves_in_force(rows, *, minimum_of: dict) -> dict[int, tuple[trajectories.BandCurve, ...]]:
    """From curve rows (``_CURVE_COLUMNS``) in fitting order, oldest first: the newest row per
    instrument and band, when it was fitted on at least the clinic's minimum of episodes."""
    newest: dict[tuple, tuple] = {}
    for row in rows:
        newest[row[:4]] = row
    overrides: dict[int, list] = {pk: [] for pk in minimum_of}
    for row in newest.values():
        clinic_id, instrument, low, high, b0, b1, sigma, n_episodes, source, calibration = row
        if source != TrajectoryCurve.Source.FITTED or n_episodes < minimum_of[clinic_id]:
            continue
        if isinstance(calibration, str | bytes):  # the backends hand JSON back as text
            calibration = json.loads(calibration)
        by_week = (calibration or {}).get("sigma_by_week") or {}
        overrides[clinic_id].append(
            trajectories.BandCurve(
                instrument=instrument,
                band_low=low,
                band_high=high,
                b0=b0,
                b1=b1,
                sigma=sigma,
                sigma_by_week=tuple(sorted((int(week), float(sd)) for week, sd in by_week.items())),
                n_episodes=n_episodes,
                source=source,
            )
        )
    return {pk: tuple(curves) for pk, curves in overrides.items()}


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
