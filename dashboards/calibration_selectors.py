"""What the clinic admin's calibration page reads: the operating points a clinic can choose
(``measures.rules.OPERATING_POINTS``), which one the clinic uses, and what each would have done
on the clinic's own ended episodes (stored by ``outcomes.curves.curves_fit`` with each fit).

The figures are the curve alone, in-sample and prospective (CLINICAL.md §4 step 6; Lambert et al.
2002 for the trade-off of a tighter tolerance band): "warned" counts a flag only before the client
was first reliably worse, "false alarms" the clients who never deteriorated but were flagged.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.http import Http404

from clients.models import Clinic
from clients.selectors import (
    clinic_operating_point,
    clinics_administered_by,
    operating_point_settings,
)
from dashboards.charts import short_name
from measures.instruments import get_instrument
from measures.rules import OPERATING_POINTS
from outcomes.curves import CURVE_INSTRUMENTS
from outcomes.models import TrajectoryCurve

# The settings stored beside each point's figures: figures computed with other values (the points
# were changed in a release since the last fit) describe another point and are not shown.
STORED_POINT_SETTINGS = ("z_yellow", "z_red", "not_improving_share", "first_limit_week")


@dataclass(frozen=True)
class InstrumentHistory:
    """The history one instrument's figures were computed on (its newest fit)."""

    code: str
    name: str
    fitted_at: object | None
    n_episodes: int | None
    n_deteriorated: int | None
    n_never_deteriorated: int | None


@dataclass(frozen=True)
class PointFigures:
    sensitivity: float | None
    median_weeks_of_warning: float | None
    false_alarm_rate: float | None
    false_alarm_rate_dipped_then_improved: float | None


@dataclass(frozen=True)
class OperatingPointRow:
    name: str
    description: str
    settings: dict
    # The settings in a few words each, for the table ("yellow z 1.2816").
    settings_words: tuple[str, ...]
    is_current: bool
    # One per instrument of the overview, in the same order; None: no figures for this point.
    figures: tuple[PointFigures | None, ...]


@dataclass(frozen=True)
class CalibrationOverview:
    clinic: Clinic
    current: str | None
    instruments: tuple[InstrumentHistory, ...]
    points: tuple[OperatingPointRow, ...]
    other_clinics: tuple[Clinic, ...]

    @property
    def calibrated(self) -> bool:
        return any(history.fitted_at is not None for history in self.instruments)


def calibration_clinic(*, user, clinic_slug: str | None = None) -> tuple[Clinic, tuple]:
    """The clinic whose calibration ``user`` may see and change (the first they administer when
    no slug is given), with their other administered clinics; 404 for anyone else (a therapist,
    a supervisor, the admin of another clinic): whether a clinic exists is not disclosed."""
    clinics = list(clinics_administered_by(user))
    if clinic_slug:
        chosen = next((clinic for clinic in clinics if clinic.slug == clinic_slug), None)
    else:
        chosen = clinics[0] if clinics else None
    if chosen is None:
        raise Http404
    return chosen, tuple(clinic for clinic in clinics if clinic != chosen)


def calibration_overview(*, user, clinic_slug: str | None = None) -> CalibrationOverview:
    clinic, others = calibration_clinic(user=user, clinic_slug=clinic_slug)
    current = clinic_operating_point(clinic)
    newest = {code: _newest_calibration(clinic, code) for code in CURVE_INSTRUMENTS}
    instruments = tuple(_history(code, *newest[code]) for code in CURVE_INSTRUMENTS)
    points = tuple(
        OperatingPointRow(
            name=name,
            description=point.description,
            settings=operating_point_settings(point),
            settings_words=settings_words(operating_point_settings(point)),
            is_current=name == current,
            figures=tuple(
                _point_figures(newest[code][1], name, point) for code in CURVE_INSTRUMENTS
            ),
        )
        for name, point in OPERATING_POINTS.items()
    )
    return CalibrationOverview(
        clinic=clinic,
        current=current,
        instruments=instruments,
        points=points,
        other_clinics=others,
    )


def settings_words(settings: dict) -> tuple[str, ...]:
    """Each setting of an operating point as a short phrase; a setting without one here (added
    to the points later) by its Clinic field's name."""
    words = []
    for key, value in settings.items():
        if key == "sigma_floor":
            choices = dict(Clinic._meta.get_field("sigma_floor").choices)
            # "√2·SEM: the error of a change from intake (default)" → "√2·SEM"
            words.append(f"σ floor {choices.get(value, value).split(':')[0].split(',')[0]}")
        elif key == "not_on_track_rearm_scores":
            scores = "score" if value == 1 else "scores"
            words.append(f"new alert after {value} {scores} back on track")
        elif key in SHORT_WORDS:
            words.append(SHORT_WORDS[key].format(value))
        else:
            words.append(f"{Clinic._meta.get_field(key).verbose_name} {value}")
    return tuple(words)


SHORT_WORDS = {
    "z_yellow": "yellow z {}",
    "z_red": "red z {}",
    "not_improving_share": "not improving: {} × RCI",
    "first_limit_week": "curve from week {}",
}


def _newest_calibration(clinic: Clinic, code: str) -> tuple[object | None, dict]:
    # Every band row of one fit carries the same instrument-wide calibration: read the newest.
    row = (
        TrajectoryCurve.objects.filter(clinic=clinic, instrument=code)
        .order_by("-fitted_at", "-pk")
        .values_list("fitted_at", "calibration")
        .first()
    )
    return (row[0], row[1] or {}) if row else (None, {})


def _history(code: str, fitted_at, figures: dict) -> InstrumentHistory:
    return InstrumentHistory(
        code=code,
        name=short_name(get_instrument(code)),
        fitted_at=fitted_at,
        n_episodes=figures.get("curve_n_episodes"),
        n_deteriorated=figures.get("curve_n_deteriorated"),
        n_never_deteriorated=figures.get("curve_n_never_deteriorated"),
    )


def _point_figures(figures: dict, name: str, point) -> PointFigures | None:
    stored = (figures.get("operating_points") or {}).get(name)
    if not stored:
        return None
    wanted = operating_point_settings(point)
    if any(
        key in stored and stored[key] != wanted[key]
        for key in STORED_POINT_SETTINGS
        if key in wanted
    ):
        return None
    sensitivity = stored.get("curve_sensitivity")
    return PointFigures(
        sensitivity=sensitivity,
        # A median lead on the few clients below the rate's minimum would read as a finding.
        median_weeks_of_warning=(
            None if sensitivity is None else stored.get("curve_median_weeks_of_warning")
        ),
        false_alarm_rate=stored.get("curve_false_alarm_rate"),
        false_alarm_rate_dipped_then_improved=stored.get(
            "curve_false_alarm_rate_dipped_then_improved"
        ),
    )


#: How the confirmation page names a setting (the Clinic field's name otherwise).
SETTING_LABELS = {
    "z_yellow": "Yellow limit (tolerance z)",
    "z_red": "Red limit (tolerance z)",
    "not_improving_share": "Not improving beyond (× RCI, from week 3)",
    "first_limit_week": "Curve judged from week",
    "sigma_floor": "Smallest tolerance σ",
    "not_on_track_rearm_scores": "New alert only after this many scores back on track",
}


@dataclass(frozen=True)
class OperatingPointPreview:
    """What choosing ``name`` would change, shown before it does: the settings, and the figures
    of the clinic's present point beside the chosen one's, per measure."""

    clinic: Clinic
    name: str
    description: str
    current: str | None
    changes: tuple[tuple[str, object, object], ...]
    # (measure, figures now or None, figures after or None), per curve instrument.
    figures: tuple[tuple[str, PointFigures | None, PointFigures | None], ...]


def operating_point_preview(*, user, clinic_slug: str, name: str) -> OperatingPointPreview:
    overview = calibration_overview(user=user, clinic_slug=clinic_slug)
    clinic = overview.clinic
    chosen = next(row for row in overview.points if row.name == name)
    now = next((row for row in overview.points if row.is_current), None)
    changes = tuple(
        (
            SETTING_LABELS.get(key, Clinic._meta.get_field(key).verbose_name),
            getattr(clinic, key),
            value,
        )
        for key, value in chosen.settings.items()
        if getattr(clinic, key) != value
    )
    figures = tuple(
        (history.name, now.figures[index] if now else None, chosen.figures[index])
        for index, history in enumerate(overview.instruments)
    )
    return OperatingPointPreview(
        clinic=clinic,
        name=name,
        description=chosen.description,
        current=overview.current,
        changes=changes,
        figures=figures,
    )
