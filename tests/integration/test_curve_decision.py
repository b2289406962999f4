"""One curve decision for the chart, the API and the alerts (issue 16): whatever curve rows a clinic
has, the red limit the chart draws is the one the alert engine judges by, and a score just beyond
it raises the alert."""

import math
from datetime import timedelta

import pytest
from django.utils import timezone

from dashboards import charts
from dashboards.selectors import clinic_curves
from measures.instruments import get_instrument
from outcomes.curves import clinics_curve_overrides
from outcomes.evaluation import episode_evaluate
from outcomes.models import Alert, AlertRule, TrajectoryCurve
from tests.integration.evaluation_support import phq9_course

BANDS = [(10, 14, 12), (15, 19, 17), (20, 27, 22)]  # low, high, an intake in the band
ROW_KINDS = [
    "none",
    "fitted with enough episodes",
    "fitted with too few episodes",
    "a default row newer than a fitted one",
    "a fitted row newer than a default one",
]


def curve_row(clinic, low, high, intake, *, source, n_episodes, days_ago):
    return TrajectoryCurve.objects.create(
        clinic=clinic,
        instrument="phq9",
        band_low=low,
        band_high=high,
        # A flat fitted curve a point below the intake: far from the provisional default's recovery.
        b0=intake - 1 if source == TrajectoryCurve.Source.FITTED else 16.98,
        b1=0 if source == TrajectoryCurve.Source.FITTED else -3.229,
        sigma=1.5 if source == TrajectoryCurve.Source.FITTED else 4.2,
        n_episodes=n_episodes,
        source=source,
        fitted_at=timezone.now() - timedelta(days=days_ago),
    )


def add_rows(clinic, kind, low, high, intake):
    enough = clinic.trajectory_min_episodes
    fitted, default = TrajectoryCurve.Source.FITTED, TrajectoryCurve.Source.DEFAULT
    if kind == "fitted with enough episodes":
        curve_row(clinic, low, high, intake, source=fitted, n_episodes=enough, days_ago=1)
    elif kind == "fitted with too few episodes":
        curve_row(clinic, low, high, intake, source=fitted, n_episodes=enough - 1, days_ago=1)
    elif kind == "a default row newer than a fitted one":
        curve_row(clinic, low, high, intake, source=fitted, n_episodes=enough, days_ago=40)
        curve_row(clinic, low, high, intake, source=default, n_episodes=enough - 1, days_ago=1)
    elif kind == "a fitted row newer than a default one":
        curve_row(clinic, low, high, intake, source=default, n_episodes=3, days_ago=40)
        curve_row(clinic, low, high, intake, source=fitted, n_episodes=enough, days_ago=1)


@pytest.mark.parametrize("kind", ROW_KINDS)
@pytest.mark.parametrize(("low", "high", "intake"), BANDS)
def test_the_charts_red_limit_is_the_one_the_alert_uses(cast, kind, low, high, intake):
    clinic = cast.clinic
    add_rows(clinic, kind, low, high, intake)
    course = charts.expected_course(
        get_instrument("phq9"),
        intake=intake,
        baseline_at=timezone.now(),
        last_week=5,
        curves=clinic_curves(clinic),
        z_yellow=clinic.z_yellow,
        z_red=clinic.z_red,
    )
    week_five = course[course["week"] == 5].iloc[0]
    # The alerts' curves, as the sweep loads them.
    assert clinic_curves(clinic) == clinics_curve_overrides(clinics=[clinic])[clinic.pk]

    red_limit = float(week_five["red_limit"])
    # Well on track for three weeks, then a score at week 5 just beyond the chart's red limit.
    on_track = intake - 6
    beyond = math.floor(red_limit) + 1
    assert beyond <= 24  # what the test's forms can total with item 9 at 0
    phq9_course(cast.episode, [intake, on_track, on_track, on_track, beyond])
    episode_evaluate(episode_id=cast.episode.pk)
    alert = Alert.objects.get(episode=cast.episode, rule=AlertRule.NOT_ON_TRACK)
    assert f"red limit {red_limit:.1f}" in alert.message
    provisional = "provisional default curve" in alert.message
    assert provisional == (week_five["source"] == "default")


# The curve settings a clinic can change (issue 16) move the chart's limits and the alerts' alike.
CURVE_SETTINGS = [
    {"first_limit_week": 2, "sigma_floor": "sem"},
    {"first_limit_week": 2, "sigma_floor": "sqrt2_sem", "z_yellow": 1.0, "z_red": 1.3},
]


@pytest.mark.parametrize("curve_settings", CURVE_SETTINGS)
@pytest.mark.parametrize("kind", ROW_KINDS)
@pytest.mark.parametrize(("low", "high", "intake"), BANDS)
def test_the_charts_week_two_limit_follows_the_clinics_curve_settings(
    cast, curve_settings, kind, low, high, intake
):
    clinic = cast.clinic
    for name, value in curve_settings.items():
        setattr(clinic, name, value)
    clinic.full_clean()
    clinic.save()
    add_rows(clinic, kind, low, high, intake)
    course = charts.expected_course(
        get_instrument("phq9"),
        intake=intake,
        baseline_at=timezone.now(),
        last_week=2,
        curves=clinic_curves(clinic),
        **clinic.curve_limits(),
    )
    week_two = course[course["week"] == 2].iloc[0]
    red_limit = float(week_two["red_limit"])
    assert not math.isnan(red_limit)  # judged from week 2, as this clinic chose

    beyond = math.floor(red_limit) + 1
    assert beyond - intake < 6  # off the curve, not a reliable worsening
    phq9_course(cast.episode, [intake, beyond])
    episode_evaluate(episode_id=cast.episode.pk)
    alert = Alert.objects.get(episode=cast.episode, rule=AlertRule.NOT_ON_TRACK)
    assert f"red limit {red_limit:.1f}" in alert.message
