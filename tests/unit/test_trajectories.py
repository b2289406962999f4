"""Expected recovery curves, tolerance limits, weekly status, fitting and calibration (no
database)."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from measures.trajectories import (
    DEFAULT_CURVES,
    HIGHER_IS_BETTER,
    LOWER_IS_BETTER,
    NOT_IMPROVING_SHARE,
    Z_RED,
    Z_YELLOW,
    BandCurve,
    calibrate,
    classify_administrations,
    classify_status,
    expected_score,
    expected_scores,
    fit_curves,
    tolerance_limits,
)

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "trajectories"
CODES = {"PHQ-9": "phq9", "GAD-7": "gad7"}
START = pd.Timestamp("2025-01-06 09:00", tz="UTC")

PHQ9 = {"reliable_change": 6, "direction": LOWER_IS_BETTER, "functional_cutoff": 10}
WHO5 = {"reliable_change": 10, "direction": HIGHER_IS_BETTER, "functional_cutoff": 52}


@pytest.fixture(scope="module")
def published_table():
    table = pd.read_csv(FIXTURES / "etr_defaults.csv")
    table["instrument"] = table["instrument"].map(CODES)
    table["table_sigma"] = (table["not_on_track_above"] - table["expected"]) / 1.2816
    return table


def flat_curve(*, expected=15.0, sigma=2.0, instrument="phq9", low=10, high=27):
    """A fitted curve with round numbers, so limits are easy to reason about in tests."""
    return BandCurve(instrument, low, high, b0=expected, b1=0.0, sigma=sigma, source="fitted")


def weekly(totals, *, episode_id=1, instrument="phq9", first_id=1):
    return pd.DataFrame(
        {
            "episode_id": episode_id,
            "administration_id": range(first_id, first_id + len(totals)),
            "instrument": instrument,
            "administered_at": [START + pd.Timedelta(weeks=week) for week in range(len(totals))],
            "total": [float(total) for total in totals],
        }
    )


def default_band(instrument, band):
    return next(b for b in DEFAULT_CURVES[instrument].bands if b.band == band)


# Default curves against etr_defaults.csv
# -----------------------------------------------------------


def test_default_band_curves_reproduce_the_reference_table(published_table):
    for row in published_table.itertuples():
        curve = default_band(row.instrument, row.band)
        assert (curve.b0, curve.b1, curve.sigma) == (row.b0, row.b1, row.sigma)
        assert curve.expected(row.session) == pytest.approx(row.expected, abs=0.051)


def test_continuous_default_matches_the_band_curves_at_each_band_mean_intake(published_table):
    for row in published_table.itertuples():
        continuous = DEFAULT_CURVES[row.instrument].continuous
        assert continuous.expected(row.b0, row.session) == pytest.approx(row.expected, abs=0.06)


def test_continuous_sigma_matches_the_table_sigma_from_week_four(published_table):
    later = published_table[published_table["session"] >= 4]
    for row in later.itertuples():
        sigma = DEFAULT_CURVES[row.instrument].continuous.sigma(row.session)
        assert sigma == pytest.approx(row.table_sigma, abs=0.3)


def test_continuous_sigma_in_weeks_two_and_three_is_floored_at_the_error_of_a_difference(
    published_table,
):
    # The continuous form anchors on the client's own intake, which has its own error: early on
    # its σ_t is √2·SEM (issue 16), within a point of the table's σ_t, which also holds the spread
    # of intakes within a band.
    early = published_table[published_table["session"].isin([2, 3])]
    for row in early.itertuples():
        sigma = DEFAULT_CURVES[row.instrument].continuous.sigma(row.session)
        assert sigma == pytest.approx(row.table_sigma, abs=1.0)


def test_sigma_is_the_error_of_a_difference_of_two_scores_at_intake():
    assert DEFAULT_CURVES["phq9"].continuous.sigma(1) == pytest.approx(2.16 * 2**0.5)
    assert DEFAULT_CURVES["gad7"].continuous.sigma(1) == pytest.approx(1.80 * 2**0.5)


def test_it_holds_the_curve_flat_after_week_twelve():
    at_twelve = expected_score("phq9", 18, 12)
    at_thirty = expected_score("phq9", 18, 30)
    assert at_thirty == at_twelve
    assert default_band("phq9", "15-19").expected(40) == default_band("phq9", "15-19").expected(12)


def test_expected_score_at_intake_is_the_intake():
    assert expected_score("gad7", 13, 1).expected == pytest.approx(13)


def test_the_continuous_default_has_no_jump_at_a_band_edge():
    just_below = expected_score("phq9", 14, 5).expected
    just_above = expected_score("phq9", 15, 5).expected
    assert 0 < just_above - just_below < 1
    banded = [default_band("phq9", band).expected(5) for band in ("10-14", "15-19")]
    assert banded[1] - banded[0] > 2


def test_no_curve_applies_below_caseness_or_to_an_instrument_without_curves():
    assert expected_score("phq9", 9, 4) is None
    assert expected_score("gad7", 7, 4) is None
    assert expected_score("who5", 40, 4) is None
    assert expected_score("phq9", 10, 4) is not None


def test_default_curves_are_labelled_default():
    assert expected_score("phq9", 18, 3).source == "default"


def test_a_fitted_curve_replaces_the_default_for_its_band_only():
    fitted = flat_curve(low=15, high=19)
    in_band = expected_score("phq9", 16, 5, curves=[fitted])
    other_band = expected_score("phq9", 22, 5, curves=[fitted])
    assert (in_band.expected, in_band.sigma) == (15, 2)
    assert (in_band.source, in_band.band) == ("fitted", "15-19")
    assert other_band.source == "default"


def test_an_intake_between_two_fitted_bands_gets_the_default_not_the_band_below():
    # The middle band (15-19) had too few episodes to fit: its intakes must not borrow the curve
    # of 10-14, whose clients are expected to end far lower.
    low, high = flat_curve(low=10, high=14), flat_curve(low=20, high=27)
    middle = expected_score("phq9", 17, 5, curves=[low, high])
    assert middle.source == "default" and middle.band is None
    assert middle == expected_score("phq9", 17, 5)
    # A prorated intake just past a band's last integer score still belongs to it.
    assert expected_score("phq9", 14.5, 4, curves=[low, high]).band == "10-14"
    assert expected_score("phq9", 20, 4, curves=[low, high]).band == "20-27"


def test_a_curve_marked_default_is_not_an_override():
    not_fitted = BandCurve("phq9", 15, 19, b0=0, b1=0, sigma=1, source="default")
    assert expected_score("phq9", 16, 5, curves=[not_fitted]) == expected_score("phq9", 16, 5)


def test_fitted_sigma_by_week_overrides_the_pooled_sigma():
    curve = BandCurve("phq9", 10, 27, 15, 0, 3.0, sigma_by_week=((2, 1.5),), source="fitted")
    assert curve.sigma_at(2) == 1.5
    assert curve.sigma_at(3) == 3.0
    assert list(curve.sigma_at(np.array([1, 2, 20]))) == [3.0, 1.5, 3.0]


def test_vectorised_expected_scores_match_the_scalar_version():
    frame = pd.DataFrame(
        {
            "instrument": ["phq9", "gad7", "phq9", "who5", "phq9"],
            "intake": [12.0, 17.0, 5.0, 40.0, 24.0],
            "week": [3, 6, 2, 4, 15],
        }
    )
    vectorised = expected_scores(frame)
    for row, result in zip(frame.itertuples(), vectorised.itertuples(), strict=True):
        scalar = expected_score(row.instrument, row.intake, row.week)
        if scalar is None:
            assert np.isnan(result.expected) and pd.isna(result.curve_source)
        else:
            assert (result.expected, result.sigma) == pytest.approx(
                (scalar.expected, scalar.sigma), nan_ok=True
            )


# Tolerance limits and status ---------------------------------------------------------------------


def test_tolerance_limits_default_to_the_90th_and_95th_percentile_lines():
    yellow, red = tolerance_limits(10.0, 2.0)
    # Rounded to the one decimal staff are shown (issue 16): 12.5632 and 13.2898.
    assert (yellow, red) == pytest.approx((12.6, 13.3))
    assert (Z_YELLOW, Z_RED) == (1.2816, 1.6449)


def test_tolerance_limits_are_mirrored_for_higher_is_better():
    yellow, red = tolerance_limits(50.0, 4.0, direction=HIGHER_IS_BETTER)
    assert (yellow, red) == pytest.approx((44.9, 43.4))


FLAT_CURVES = (flat_curve(),)


def status_of(total, *, intake=15, week=5, curves=FLAT_CURVES, **overrides):
    # The band's own mechanics: without the not-improving limit (tested on its own below).
    arguments = {"instrument": "phq9", **PHQ9, "curves": curves, "label": "PHQ-9"}
    arguments |= {"not_improving_share": 0.0, **overrides}
    return classify_status(total=total, intake=intake, week=week, **arguments)


def test_it_is_red_strictly_above_the_red_limit():
    red_limit = 18.3  # 15 + 1.6449·2 = 18.2898, as shown
    assert status_of(red_limit + 0.01).status == "red"
    assert status_of(red_limit).status == "yellow"


def test_it_is_yellow_strictly_above_the_yellow_limit():
    yellow_limit = 17.6  # 15 + 1.2816·2 = 17.5632, as shown
    assert status_of(yellow_limit + 0.01).status == "yellow"
    assert status_of(yellow_limit).status == "green"


def test_it_is_red_on_a_reliable_worsening_even_inside_the_tolerance_band():
    wide = (flat_curve(sigma=10.0),)
    assert status_of(21, intake=15, curves=wide).status == "red"
    assert status_of(20, intake=15, curves=wide).status == "green"


def test_it_is_white_when_functional_and_reliably_improved():
    assert status_of(9, intake=15).status == "white"
    assert status_of(10, intake=16).status == "green"  # 10 is still a case (PHQ-9 ≥ 10)
    assert status_of(9, intake=14).status == "green"  # 5 points is not a reliable improvement


def test_it_mirrors_the_status_for_higher_is_better_measures():
    def who5(total, intake):
        return classify_status(
            instrument="who5", total=total, intake=intake, week=4, has_curve=False, **WHO5
        ).status

    assert who5(40, 50) == "red"
    assert who5(41, 50) == "green"
    assert who5(52, 42) == "white"
    assert who5(51, 40) == "green"  # reliably better but below 52 %: still poor well-being


def test_a_higher_is_better_curve_flags_scores_below_the_limits():
    curve = BandCurve("ors", 0, 40, b0=30, b1=0, sigma=2, source="fitted")
    arguments = {"instrument": "ors", "intake": 26, "week": 5, "curves": [curve]}
    arguments |= {"reliable_change": 5, "direction": HIGHER_IS_BETTER, "functional_cutoff": 25}
    assert classify_status(total=26.5, **arguments).status == "red"  # below 30 − 1.6449·2
    assert classify_status(total=27.3, **arguments).status == "yellow"
    assert classify_status(total=28, **arguments).status == "green"


def test_the_reason_says_what_is_wrong_in_plain_words():
    result = classify_status(instrument="phq9", total=17, intake=12, week=5, label="PHQ-9", **PHQ9)
    assert result.status == "red"
    assert result.reason == (
        f"PHQ-9 17 is above the expected {result.expected:.1f} "
        f"(red limit {result.red_limit:.1f}, provisional default curve) at week 5"
    )


def test_the_reason_explains_a_reliable_worsening_and_the_white_status():
    worse = status_of(22, intake=15, curves=(flat_curve(sigma=10.0),))
    assert worse.reason == (
        "PHQ-9 rose from 15 at intake to 22 at week 5, a reliable worsening (at least 6 points)"
    )
    better = status_of(8, intake=16)
    assert "consider planning the ending" in better.reason


# Weeks and whole histories
# -------------------------------------------------------------------------


def test_the_week_counts_from_the_first_valid_score_rounded_to_the_nearest_week():
    days = [0, 3, 4, 6, 13, 60]
    frame = pd.DataFrame(
        {
            "episode_id": 1,
            "administration_id": range(1, len(days) + 1),
            "administered_at": [START + pd.Timedelta(days=d) for d in days],
            "total": 15.0,
        }
    )
    weeks = classify_administrations(frame, instrument="phq9", **PHQ9)["week"].tolist()
    assert weeks == [1, 1, 2, 2, 3, 10]


def test_missing_totals_are_ignored_and_the_baseline_is_the_first_valid_score():
    frame = weekly([np.nan, 16, np.nan, 22])
    classified = classify_administrations(frame, instrument="phq9", **PHQ9)
    assert classified["administration_id"].tolist() == [2, 4]
    assert classified["intake"].tolist() == [16, 16]
    assert classified["week"].tolist() == [1, 3]
    assert classified["status"].tolist() == ["green", "red"]


def test_a_worse_before_better_dip_that_recovers_is_not_red_forever():
    classified = classify_administrations(weekly([16, 22, 15, 11, 9, 8]), instrument="phq9", **PHQ9)
    assert classified["status"].tolist()[1] == "red"
    assert classified["status"].tolist()[-1] == "white"
    assert "red" not in classified["status"].tolist()[3:]


def test_the_frame_version_agrees_with_the_scalar_version():
    totals = [18, 17, 21, 14, 12, 9, 25, 16]
    classified = classify_administrations(weekly(totals), instrument="phq9", label="PHQ-9", **PHQ9)
    for row in classified.itertuples():
        scalar = status_of(
            row.total,
            intake=row.intake,
            week=row.week,
            curves=(),
            not_improving_share=NOT_IMPROVING_SHARE,
        )
        assert (row.status, row.reason) == (scalar.status, scalar.reason)


def test_from_week_three_a_score_two_points_worse_than_intake_is_not_on_track():
    # The band alone (σ 10) would call 17 on track; the not-improving limit is 15 + 0.3·6 = 16.8.
    wide = (flat_curve(sigma=10.0),)
    shipped = {"curves": wide, "not_improving_share": NOT_IMPROVING_SHARE}
    result = status_of(17, intake=15, week=3, **shipped)
    assert (result.status, result.yellow_limit) == ("yellow", 16.8)
    assert result.reason == (
        "PHQ-9 17 is above the expected 15.0 (yellow limit 16.8, not improving on intake 15) "
        "at week 3"
    )
    assert status_of(16, intake=15, week=3, **shipped).status == "green"
    assert status_of(17, intake=15, week=2, **shipped).status == "green"  # week 2: not yet
    assert status_of(17, intake=15, week=3, curves=wide).status == "green"  # share 0: band only
    # Where the band is nearer than the limit, the band decides.
    assert (
        status_of(16, intake=15, week=5, curves=(flat_curve(expected=12.0),)).yellow_limit == 14.6
    )


def test_episodes_are_kept_apart():
    frame = pd.concat([weekly([12, 13], episode_id=1), weekly([20, 12], episode_id=2, first_id=3)])
    classified = classify_administrations(frame, instrument="phq9", **PHQ9)
    assert classified["intake"].tolist() == [12, 12, 20, 20]
    assert classified["week"].tolist() == [1, 2, 1, 2]


# Fitting
# ---------------------------------------------------------------------------------------------


def synthetic_band(n_episodes, *, intake=17, b0=17.0, b1=-3.0, noise=1.5, weeks=8, seed=1):
    rng = np.random.default_rng(seed)
    frames = []
    for episode in range(n_episodes):
        totals = b0 + b1 * np.log(np.arange(1, weeks + 1)) + rng.normal(0, noise, weeks)
        totals[0] = intake
        frame = weekly(totals, episode_id=episode + 1, first_id=episode * weeks + 1)
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)


def phq9_curves(curves):
    return {curve.band: curve for curve in curves if curve.instrument == "phq9"}


def test_it_fits_the_band_curve_by_least_squares():
    history = synthetic_band(60)
    curve = phq9_curves(fit_curves(history))["15-19"]
    assert curve.source == "fitted"
    assert curve.n_episodes == 60 and curve.n_scores == 480
    assert curve.b0 == pytest.approx(17.0, abs=0.5)
    assert curve.b1 == pytest.approx(-3.0, abs=0.3)
    assert curve.sigma == pytest.approx(1.5, abs=0.3)
    assert dict(curve.sigma_by_week)[1] < 0.5  # every intake is exactly 17 in this data
    assert set(dict(curve.sigma_by_week)) == set(range(1, 9))


def test_a_band_with_too_few_episodes_keeps_the_provisional_defaults():
    fitted = phq9_curves(fit_curves(synthetic_band(29)))
    curve = fitted["15-19"]
    assert curve.source == "default"
    assert curve.n_episodes == 29
    assert (curve.b0, curve.b1, curve.sigma) == (16.98, -3.229, 4.20)
    assert fitted["20-27"].n_episodes == 0 and fitted["20-27"].source == "default"


def test_min_episodes_is_a_setting():
    fitted = fit_curves(synthetic_band(29), min_episodes=20)
    assert phq9_curves(fitted)["15-19"].source == "fitted"


def test_fitting_uses_only_the_first_twelve_weeks():
    history = synthetic_band(30, weeks=20, noise=0)
    curve = phq9_curves(fit_curves(history))["15-19"]
    assert curve.n_scores == 30 * 12


# Calibration --------------------------------------------------------------------------------------


def test_calibration_reports_sensitivity_lead_time_and_false_alarms():
    deteriorators = [weekly([15, 17, 20, 22, 24], episode_id=e, first_id=e * 10) for e in range(10)]
    recoverers = [
        weekly([15, 13, 11, 9, 8], episode_id=100 + e, first_id=1000 + e * 10) for e in range(10)
    ]
    # 18 at week 3 is above the red limit (17.0) but only 3 points worse: flagged, never
    # deteriorated, and it went on to improve reliably: a false alarm on a dip.
    false_alarm = [weekly([15, 15, 18, 10, 8], episode_id=200, first_id=3000)]
    # A reliable rise that recovered: neither a deteriorator at the end nor "never deteriorated".
    dip = [weekly([15, 23, 14, 12, 10], episode_id=300, first_id=4000)]
    history = pd.concat(deteriorators + recoverers + false_alarm + dip, ignore_index=True)

    report = calibrate(history, instrument="phq9", **PHQ9)

    assert report["n_deteriorated"] == 10
    assert report["sensitivity"] == 1.0
    # Red at week 3 (20 above 17.0), reliably worse at week 4 (22): one week of warning, not the
    # two weeks to the last score.
    assert report["median_weeks_of_warning"] == 1
    assert report["n_never_deteriorated"] == 11
    assert report["n_never_deteriorated_flagged"] == 1
    assert report["false_alarm_rate"] == pytest.approx(1 / 11)
    assert report["n_dipped_then_improved"] == 1
    assert report["n_improved"] == 10
    # Every flag here is also beyond the curve, so the curve-only figures agree.
    assert report["curve_sensitivity"] == 1.0
    assert report["curve_median_weeks_of_warning"] == 1
    assert report["curve_false_alarm_rate"] == pytest.approx(1 / 11)


def test_a_flag_raised_after_the_client_was_already_reliably_worse_is_not_a_warning():
    # Reliably worse at week 4 (22) and still red at week 5: flagged before the last score, but
    # never before the worsening.
    late = [weekly([15, 15, 15, 22, 23], episode_id=e, first_id=e * 10) for e in range(10)]
    report = calibrate(pd.concat(late), instrument="phq9", **PHQ9)
    assert report["sensitivity"] == 0.0
    assert report["median_weeks_of_warning"] is None
    assert report["sensitivity_before_last"] == 1.0  # Lambert's weaker definition, beside


# The band judged from week 3, without the not-improving limit: the calibration's own mechanics.
BAND_FROM_WEEK_3 = {"first_limit_week": 3, "not_improving_share": 0.0}


def calibration_history_where_reliable_worsening_flags_first():
    """Episodes on a flat fitted curve 15 ± 5 (yellow limit 21.4, red 23.2) for intakes 10-27.

    From an intake of 15, 21 is a reliable worsening (6 points) but under the yellow limit, so only
    the reliable-worsening criterion flags it; 22 is also above the yellow limit.
    """
    episodes = (
        [[15, 21, 21, 21, 21]] * 10  # deteriorated, never beyond the curve
        + [[15, 21, 22, 22, 22]] * 10  # reliably worse at week 2, beyond the curve from week 3
        + [[15, 13, 11, 9, 8]] * 10  # recovered
        + [[8, 7, 6, 5, 4]] * 10  # not a case at intake: the curve does not watch them
        + [[5, 11, 12, 12, 12]]  # not a case at intake, reliably worse from week 2
    )
    frames = [
        weekly(totals, episode_id=e, first_id=e * 10) for e, totals in enumerate(episodes, start=1)
    ]
    return pd.concat(frames, ignore_index=True)


def test_a_reliable_worsening_is_never_its_own_warning():
    report = calibrate(
        calibration_history_where_reliable_worsening_flags_first(),
        instrument="phq9",
        curves=[flat_curve(expected=15.0, sigma=5.0)],
        **PHQ9,
        **BAND_FROM_WEEK_3,
    )

    # Every deteriorated episode is reliably worse at week 2, before any flag could warn of it.
    assert report["n_deteriorated"] == 21
    assert report["n_deteriorated_flagged"] == 0
    assert report["sensitivity"] == 0.0
    assert report["median_weeks_of_warning"] is None
    # The old, weaker figure (flagged before the last score) would have called all 21 foreseen.
    assert report["sensitivity_before_last"] == 1.0
    # Curve only: half the watched deteriorators go beyond the curve, from week 3, after the fact.
    assert report["curve_n_deteriorated"] == 20
    assert report["curve_n_deteriorated_flagged"] == 0
    assert report["curve_sensitivity_before_last"] == 0.5


def test_curve_only_calibration_counts_only_the_episodes_the_curve_watches():
    report = calibrate(
        calibration_history_where_reliable_worsening_flags_first(),
        instrument="phq9",
        curves=[flat_curve(expected=15.0, sigma=5.0)],
        **PHQ9,
        **BAND_FROM_WEEK_3,
    )

    assert report["n_episodes"] == 41
    assert report["curve_n_episodes"] == 30
    assert report["n_never_deteriorated"] == 20
    assert report["curve_n_never_deteriorated"] == 10
    assert report["n_never_deteriorated_flagged"] == 0
    assert report["curve_n_never_deteriorated_flagged"] == 0
    assert report["false_alarm_rate"] == 0.0
    assert report["curve_false_alarm_rate"] == 0.0


def test_without_a_curve_the_curve_only_figures_are_empty():
    history = calibration_history_where_reliable_worsening_flags_first()
    report = calibrate(history, instrument="phq9", has_curve=False, **PHQ9)
    assert report["sensitivity_before_last"] == 1.0
    assert report["curve_n_episodes"] == 0
    assert report["curve_sensitivity"] is None
    assert report["curve_median_weeks_of_warning"] is None
    assert report["curve_false_alarm_rate"] is None


def test_calibration_counts_flags_before_the_last_score_only():
    late_only = [weekly([15, 15, 15, 22], episode_id=e, first_id=e * 10) for e in range(10)]
    report = calibrate(pd.concat(late_only), instrument="phq9", **PHQ9)
    assert report["n_deteriorated"] == 10
    assert report["sensitivity"] == 0.0
    assert report["median_weeks_of_warning"] is None


def test_calibration_suppresses_rates_on_fewer_than_ten_episodes():
    few = pd.concat([weekly([15, 15, 20, 22], episode_id=e, first_id=e * 10) for e in range(3)])
    report = calibrate(few, instrument="phq9", **PHQ9)
    assert report["n_deteriorated"] == 3
    assert report["sensitivity"] is None
    assert calibrate(few, instrument="phq9", min_episodes_for_rate=1, **PHQ9)["sensitivity"] == 1
