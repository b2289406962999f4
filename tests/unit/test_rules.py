"""Alert rules over DataFrames: each rule at its boundaries, and `evaluate` as a whole (no
database)."""

import dataclasses

import numpy as np
import pandas as pd
import pytest

from measures.rules import (
    ALERT_COLUMNS,
    DEFAULT_PARAMS,
    OPERATING_POINTS,
    RuleSettings,
    alliance_concern,
    disengagement,
    evaluate,
    not_on_track,
    reliable_deterioration,
    risk_item,
    sudden_loss,
)
from measures.trajectories import Z_YELLOW, BandCurve, expected_score

START = pd.Timestamp("2025-01-06 09:00", tz="UTC")


def weekly(totals, *, instrument="phq9", episode_id=1, first_id=1, risks=None):
    """One administration a week; ``totals`` may hold NaN for a form that could not be scored."""
    return pd.DataFrame(
        {
            "episode_id": episode_id,
            "administration_id": range(first_id, first_id + len(totals)),
            "instrument": instrument,
            "administered_at": [START + pd.Timedelta(weeks=week) for week in range(len(totals))],
            "total": [float(total) for total in totals],
            "risk": risks or ["no"] * len(totals),
        }
    )


def checkin_log(statuses, *, episode_id=1, first_id=1):
    return pd.DataFrame(
        {
            "episode_id": episode_id,
            "checkin_id": range(first_id, first_id + len(statuses)),
            "due_at": [START + pd.Timedelta(weeks=week) for week in range(len(statuses))],
            "status": statuses,
        }
    )


NO_CHECKINS = checkin_log([])
# A flat fitted curve for the whole PHQ-9 range: expected 15, σ 2, so yellow above 17.5632 and red
# above 18.2898, far from the reliable-change value of 6. The band's own mechanics: the 90th
# percentile line, judged from week 3, without the not-improving limit (tested on its own).
FLAT = RuleSettings(
    z_yellow=Z_YELLOW,
    first_limit_week=3,
    not_improving_share=0.0,
    not_on_track_rearm_scores=1,
    curve_overrides=(BandCurve("phq9", 10, 27, b0=15, b1=0, sigma=2, source="fitted"),),
)


def triggers(alerts):
    return alerts["trigger"].tolist()


# Risk item -------------------------------------------------------------------------------------


def test_it_raises_an_urgent_alert_when_the_risk_item_is_endorsed():
    alerts = risk_item(weekly([12, 11, 10], risks=["no", "yes", "no"]))
    assert triggers(alerts) == ["adm:2"]
    assert alerts["severity"].tolist() == ["urgent"]
    assert "item 9" in alerts["message"].iloc[0]


def test_it_raises_the_risk_alert_even_when_the_total_could_not_be_scored():
    alerts = risk_item(weekly([np.nan], risks=["yes"]))
    assert triggers(alerts) == ["adm:1"]


def test_it_raises_the_risk_alert_for_an_instrument_it_does_not_know():
    alerts = risk_item(weekly([3], instrument="new_scale", risks=["yes"]))
    assert alerts["severity"].tolist() == ["urgent"]


def test_an_unanswered_risk_item_asks_staff_to_check_directly():
    alerts = risk_item(weekly([12], risks=["unknown"]))
    assert alerts["severity"].tolist() == ["warning"]
    assert "unanswered" in alerts["message"].iloc[0]


def test_unknown_risk_on_an_instrument_without_a_risk_item_is_not_an_alert():
    assert risk_item(weekly([9], instrument="gad7", risks=["unknown"])).empty


def test_the_unanswered_risk_warning_can_be_switched_off():
    settings = RuleSettings(alert_on_unanswered_risk_item=False)
    assert risk_item(weekly([12], risks=["unknown"]), settings=settings).empty


# Reliable deterioration ------------------------------------------------------------------------


def test_it_flags_reliable_deterioration_at_six_points():
    alerts = reliable_deterioration(weekly([12, 14, 18]))
    assert triggers(alerts) == ["adm:3"]
    assert alerts["severity"].tolist() == ["high"]
    assert alerts["message"].iloc[0] == (
        "PHQ-9 rose from 12 at intake to 18 at week 3: a reliable worsening (at least 6 points)"
    )


def test_it_does_not_flag_reliable_deterioration_at_five_points():
    assert reliable_deterioration(weekly([12, 14, 17])).empty


def test_it_flags_reliable_deterioration_only_where_it_begins():
    alerts = reliable_deterioration(weekly([12, 18, 19, 20, 13, 18]))
    assert triggers(alerts) == ["adm:2", "adm:6"]  # onset, then a new onset after recovering


def test_a_client_who_goes_on_getting_worse_alerts_again_at_each_further_reliable_step():
    alerts = reliable_deterioration(weekly([10, 16, 18, 21, 22, 19, 27]))
    # Onset at 16; 22 is the first score 6 points past it; 27 is 11 past: the same step, no alert.
    assert triggers(alerts) == ["adm:2", "adm:5"]
    assert alerts["message"].iloc[1] == (
        "PHQ-9 rose from 16 at week 2, where the reliable worsening began, to 22 at week 5: "
        "6 points worse since (reliable change 6)"
    )
    # A step that was reached, lost and reached again is not new; the next step is.
    assert triggers(reliable_deterioration(weekly([5, 11, 17, 14, 17, 23]))) == [
        "adm:2", "adm:3", "adm:6",
    ]  # fmt: skip


def test_further_worsening_is_mirrored_and_uses_each_instruments_value():
    assert triggers(reliable_deterioration(weekly([70, 60, 55, 50], instrument="who5"))) == [
        "adm:2", "adm:4",
    ]  # fmt: skip
    assert triggers(reliable_deterioration(weekly([5, 9, 12, 13], instrument="gad7"))) == [
        "adm:2", "adm:4",
    ]  # fmt: skip


def test_it_measures_deterioration_from_the_first_valid_score():
    assert triggers(reliable_deterioration(weekly([np.nan, 8, 14]))) == ["adm:3"]


def test_it_uses_each_instruments_reliable_change_value():
    assert triggers(reliable_deterioration(weekly([9, 13], instrument="gad7"))) == ["adm:2"]
    assert reliable_deterioration(weekly([9, 12], instrument="gad7")).empty
    assert triggers(reliable_deterioration(weekly([50, 64], instrument="oq45"))) == ["adm:2"]
    assert reliable_deterioration(weekly([50, 63], instrument="oq45")).empty


def test_reliable_deterioration_is_mirrored_for_higher_is_better():
    assert triggers(reliable_deterioration(weekly([60, 50], instrument="who5"))) == ["adm:2"]
    assert reliable_deterioration(weekly([60, 51], instrument="who5")).empty
    assert reliable_deterioration(weekly([40, 70], instrument="who5")).empty


def test_an_instrument_without_a_reliable_change_value_never_deteriorates_reliably():
    assert reliable_deterioration(weekly([40, 10], instrument="session_rating")).empty


# Not on track ----------------------------------------------------------------------------------


def test_it_flags_not_on_track_yellow_just_above_the_yellow_limit():
    alerts = not_on_track(weekly([15, 15, 17.7]), settings=FLAT)
    assert triggers(alerts) == ["adm:3"]
    assert alerts["severity"].tolist() == ["warning"]
    assert alerts["message"].iloc[0] == (
        "Not on track: PHQ-9 17.7 is above the expected 15.0 (yellow limit 17.6) at week 3; "
        "first score off the curve, early in care: watch, review if it persists"
    )


def test_it_does_not_flag_a_score_exactly_at_the_yellow_limit():
    assert not_on_track(weekly([15, 15, 15 + 1.2816 * 2]), settings=FLAT).empty


def test_it_does_not_flag_a_score_equal_to_the_limit_it_shows():
    # 17.5632 is shown as "17.6": a score of 17.6 must not be called "above the limit 17.6".
    assert not_on_track(weekly([15, 15, 17.6]), settings=FLAT).empty


def test_the_curve_does_not_judge_week_two():
    assert not_on_track(weekly([15, 25]), settings=FLAT).empty


def test_a_steep_rise_beyond_the_red_limit_after_the_early_weeks_is_high_at_once():
    alerts = not_on_track(weekly([15, 15, 15, 15, 15, 18.4]), settings=FLAT)
    assert alerts["severity"].tolist() == ["high"]
    assert "red limit 18.3" in alerts["message"].iloc[0]
    assert alerts["message"].iloc[0].endswith("; rose 3.4 points since the previous score")


def test_a_red_score_early_in_care_is_a_watch_until_it_persists():
    alerts = not_on_track(weekly([15, 15, 19]), settings=FLAT)
    assert alerts["severity"].tolist() == ["warning"]


def test_it_flags_not_on_track_when_it_begins_and_again_when_it_persists():
    alerts = not_on_track(weekly([15, 15, 17.8, 17.9, 15, 19, 15, 18]), settings=FLAT)
    # off at week 3 (watch), still off at week 4 (high), back on, off steeply at week 6 (high at
    # once, no second alert when it stays), back on, off again at week 8 (yellow: watch).
    assert triggers(alerts) == ["adm:3", "adm:4", "adm:6", "adm:8"]
    assert alerts["severity"].tolist() == ["warning", "high", "high", "warning"]
    assert alerts["message"].iloc[1].endswith("; off the curve for 2 scores in a row")


def test_a_one_week_dip_that_resolves_is_at_most_a_watch():
    alerts = evaluate(weekly([18, 17, 23, 14, 12, 10]), NO_CHECKINS).alerts
    assert len(alerts) >= 1
    assert set(alerts["severity"]) == {"warning"}


def test_four_weeks_off_the_curve_is_high():
    alerts = evaluate(weekly([15, 15, 19, 19, 20, 20]), NO_CHECKINS).alerts
    off_track = alerts[alerts["rule"] == "not_on_track"]
    assert "high" in set(off_track["severity"])


@pytest.mark.parametrize("intake", [10, 15, 20, 25, 27])
def test_an_unchanged_score_at_week_two_raises_nothing(intake):
    assert evaluate(weekly([intake, intake]), NO_CHECKINS).alerts.empty


def test_an_alliance_concern_makes_a_first_score_off_the_curve_high():
    scores = weekly([15, 15, 15, 15, 15, 17.7])
    ratings = weekly([38, 33], instrument="session_rating", first_id=20)
    ratings["administered_at"] = [START + pd.Timedelta(weeks=w, days=-1) for w in (4, 5)]
    alerts = not_on_track(pd.concat([scores, ratings], ignore_index=True), settings=FLAT)
    assert alerts["severity"].tolist() == ["high"]
    assert alerts["message"].iloc[0].endswith("; with an alliance concern in the past two weeks")
    assert not_on_track(scores, settings=FLAT)["severity"].tolist() == ["warning"]


# Curve and grading settings (issue 16: clinic settings, defaults as the old constants) ----------


def test_the_curve_and_grading_settings_default_to_the_documented_values():
    settings = RuleSettings()
    assert (settings.first_limit_week, settings.sigma_floor) == (4, "sqrt2_sem")
    assert (settings.early_in_care_weeks, settings.alliance_window_days) == (4, 14)
    assert settings.not_on_track_rearm_scores == 3
    assert (settings.z_yellow, settings.z_red, settings.not_improving_share) == (
        0.6,
        1.6449,
        0.05,
    )
    # The "balanced (default)" operating point is the shipped defaults, field for field.
    assert OPERATING_POINTS["balanced (default)"].settings(RuleSettings(z_yellow=1.0)) == settings


@pytest.mark.parametrize(
    "bad",
    [
        {"first_limit_week": 1},
        {"first_limit_week": 13},
        {"sigma_floor": "half_sem"},
        {"early_in_care_weeks": -1},
        {"alliance_window_days": -1},
        {"not_on_track_rearm_scores": 0},
        {"sudden_loss_criteria": "any"},
        {"z_yellow": 2.0, "z_red": 1.6449},
        {"z_yellow": 0},
    ],
)
def test_settings_outside_their_range_are_refused(bad):
    with pytest.raises(ValueError):
        RuleSettings(**bad)


def test_a_clinic_can_judge_week_two_against_the_curve():
    week_two = dataclasses.replace(FLAT, first_limit_week=2)
    alerts = not_on_track(weekly([15, 18.4]), settings=week_two)
    assert triggers(alerts) == ["adm:2"]
    assert "at week 2" in alerts["message"].iloc[0]
    assert not_on_track(weekly([15, 18.4]), settings=FLAT).empty


def test_the_sem_floor_of_clinical_md_gives_narrower_early_limits():
    sqrt2_sem = RuleSettings(first_limit_week=2, z_yellow=Z_YELLOW, not_improving_share=0.0)
    sem = dataclasses.replace(sqrt2_sem, sigma_floor="sem")
    # Week 2 of the continuous default: s_e·ln 2/ln 7 = 1.91 is below either floor.
    narrow = expected_score("phq9", 15, 2, first_limit_week=2, sigma_floor="sem")
    wide = expected_score("phq9", 15, 2, first_limit_week=2)
    assert narrow.sigma == pytest.approx(2.16)
    assert wide.sigma == pytest.approx(2.16 * 2**0.5)
    # Beyond the red limit with SEM (ŷ + 3.55), within the yellow one with √2·SEM (ŷ + 3.91).
    between = round(narrow.expected + 3.75, 1)
    assert triggers(not_on_track(weekly([15, between]), settings=sem)) == ["adm:2"]
    assert not_on_track(weekly([15, between]), settings=sqrt2_sem).empty


def test_early_in_care_weeks_decides_when_a_steep_red_rise_is_high_at_once():
    scores = weekly([15, 15, 15, 15, 18.4])  # red and steep at week 5
    late = dataclasses.replace(FLAT, early_in_care_weeks=5)
    assert not_on_track(scores, settings=late)["severity"].tolist() == ["warning"]
    early = dataclasses.replace(FLAT, early_in_care_weeks=4)
    assert not_on_track(scores, settings=early)["severity"].tolist() == ["high"]


def test_the_alliance_window_is_a_setting():
    scores = weekly([15, 15, 15, 15, 15, 17.7])
    ratings = weekly([38, 33], instrument="session_rating", first_id=20)
    # The concern was rated ten days before the score off the curve.
    ratings["administered_at"] = [START + pd.Timedelta(weeks=5, days=-d) for d in (17, 10)]
    both = pd.concat([scores, ratings], ignore_index=True)
    week = dataclasses.replace(FLAT, alliance_window_days=7)
    assert not_on_track(both, settings=week)["severity"].tolist() == ["warning"]
    alerts = not_on_track(both, settings=FLAT)
    assert alerts["severity"].tolist() == ["high"]
    three = dataclasses.replace(FLAT, alliance_window_days=21)
    message = not_on_track(both, settings=three)["message"].iloc[0]
    assert message.endswith("; with an alliance concern in the past three weeks")


# Off the curve at week 3, then back off after 1, 2 and 3 scores on track (FLAT: 18 is yellow).
WANDERING = [15, 15, 18, 15, 18, 15, 15, 18, 15, 15, 15, 18]


@pytest.mark.parametrize(
    ("rearm", "expected"),
    [
        (1, ["adm:3", "adm:5", "adm:8", "adm:12"]),
        (2, ["adm:3", "adm:8", "adm:12"]),
        (3, ["adm:3", "adm:12"]),
        (4, ["adm:3"]),
    ],
)
def test_a_new_onset_needs_rearm_scores_back_on_track(rearm, expected):
    settings = dataclasses.replace(FLAT, not_on_track_rearm_scores=rearm)
    alerts = not_on_track(weekly(WANDERING), settings=settings)
    assert triggers(alerts) == expected
    assert set(alerts["severity"]) == {"warning"}


def test_rearming_counts_scores_of_the_same_measure_in_the_same_episode():
    # A GAD-7 between the two PHQ-9 runs is not a PHQ-9 score on track; another episode's
    # series is armed on its own.
    phq9 = weekly([15, 15, 18, 15, 18])
    gad7 = weekly([5, 5, 5, 5, 5, 5], instrument="gad7", first_id=10)
    other = weekly([15, 15, 18], episode_id=2, first_id=20)
    settings = dataclasses.replace(FLAT, not_on_track_rearm_scores=2)
    alerts = not_on_track(pd.concat([phq9, gad7, other], ignore_index=True), settings=settings)
    assert sorted(triggers(alerts)) == ["adm:22", "adm:3"]


def test_within_a_run_that_did_not_rearm_persistence_and_further_steps_still_alert():
    scores = weekly([15, 15, 18, 15, 18, 18, 24])
    once = not_on_track(scores, settings=FLAT)
    assert triggers(once) == ["adm:3", "adm:5", "adm:6", "adm:7"]
    rearm = dataclasses.replace(FLAT, not_on_track_rearm_scores=2)
    alerts = not_on_track(scores, settings=rearm)
    assert triggers(alerts) == ["adm:3", "adm:6", "adm:7"]
    # The same alerts as with K = 1, the re-onset at adm:5 aside.
    kept = once[once["trigger"] != "adm:5"].reset_index(drop=True)
    pd.testing.assert_frame_equal(alerts.reset_index(drop=True), kept)
    assert alerts["severity"].tolist() == ["warning", "high", "high"]
    assert alerts["message"].iloc[1].endswith("off the curve for 2 scores in a row")
    assert alerts["message"].iloc[2].startswith("Not on track and worse again")


def test_with_the_shipped_defaults_not_improving_on_intake_is_a_watch_from_week_three():
    # Intake 15: from week 3 a score above 15 + 0.05·6 = 15.3 is not on track, whatever the band.
    alerts = not_on_track(weekly([15, 17, 16]))
    assert triggers(alerts) == ["adm:3"]
    assert alerts["severity"].tolist() == ["warning"]
    assert (
        "(yellow limit 15.3, not improving on intake 15, provisional default curve)"
        in (alerts["message"].iloc[0])
    )
    assert not_on_track(weekly([15, 17, 15.3])).empty  # at the limit, and week 2 is not judged
    band_alone = RuleSettings(not_improving_share=0.0)
    assert not_on_track(weekly([15, 17, 17]), settings=band_alone).empty  # no band before week 4


def test_with_the_previous_defaults_a_point_worse_at_week_three_is_within_the_limit():
    # Intake 15, share 0.3: the not-improving limit was 15 + 0.3·6 = 16.8.
    previous = OPERATING_POINTS["fewer false alarms"].settings()
    assert (previous.not_improving_share, previous.first_limit_week) == (0.3, 5)
    assert not_on_track(weekly([15, 16, 16, 16]), settings=previous).empty
    assert triggers(not_on_track(weekly([15, 17, 17]), settings=previous)) == ["adm:3"]


# A flat fitted curve (expected 15, σ 2) with the not-improving limit off isolates the band.
FLAT_DEFAULTS = RuleSettings(
    not_improving_share=0.0,
    curve_overrides=(BandCurve("phq9", 10, 27, b0=15, b1=0, sigma=2, source="fitted"),),
)


def test_the_shipped_yellow_line_is_at_z_0_6_from_week_four():
    # Yellow limit 15 + 0.6·2 = 16.2, judged strictly, from week 4 only.
    assert not_on_track(weekly([15, 15, 15, 16.2]), settings=FLAT_DEFAULTS).empty
    alerts = not_on_track(weekly([15, 15, 15, 16.3]), settings=FLAT_DEFAULTS)
    assert triggers(alerts) == ["adm:4"]
    assert "(yellow limit 16.2" in alerts["message"].iloc[0]
    # The same score at week 3 is not judged against the band.
    assert not_on_track(weekly([15, 15, 16.3]), settings=FLAT_DEFAULTS).empty
    # Red at 15 + 1.6449·2 = 18.3.
    red = not_on_track(weekly([15, 15, 15, 18.4]), settings=FLAT_DEFAULTS)
    assert "(red limit 18.3" in red["message"].iloc[0]


def test_the_shipped_defaults_rearm_after_three_scores_back_on_track():
    off, on = 17, 15  # off the flat curve's yellow line (16.2) from week 4, and back on it
    two_back = weekly([15, 15, 15, off, on, on, off])
    assert triggers(not_on_track(two_back, settings=FLAT_DEFAULTS)) == ["adm:4"]
    three_back = weekly([15, 15, 15, off, on, on, on, off])
    assert triggers(not_on_track(three_back, settings=FLAT_DEFAULTS)) == ["adm:4", "adm:8"]


def test_with_the_shipped_defaults_a_dip_that_resolves_stays_a_watch():
    alerts = evaluate(weekly([16, 19, 20, 14, 12, 10, 9]), NO_CHECKINS).alerts
    assert set(alerts["severity"]) == {"warning"}


def test_off_track_and_worse_again_by_a_reliable_change_is_a_new_alert():
    alerts = not_on_track(weekly([15, 15, 19, 20, 24, 25, 26]), settings=FLAT)
    # off at 19 (week 3, watch), persists (week 4, high); 25 is 6 points past 19: a further alert.
    assert triggers(alerts) == ["adm:3", "adm:4", "adm:6"]
    assert alerts["severity"].tolist() == ["warning", "high", "high"]
    assert (
        alerts["message"]
        .iloc[2]
        .startswith("Not on track and worse again: PHQ-9 25 at week 6 against 19 at week 3")
    )
    # Back on track in between: 25 is then an onset of its own, measured afresh.
    assert triggers(not_on_track(weekly([15, 15, 19, 14, 25]), settings=FLAT)) == [
        "adm:3",
        "adm:5",
    ]


def test_the_default_curve_is_labelled_provisional_in_the_message():
    expected = expected_score("phq9", 20, 5)
    red_limit = expected.expected + 1.6449 * expected.sigma
    alerts = not_on_track(weekly([20, 18, 17, 16, red_limit + 0.5]))
    assert triggers(alerts) == ["adm:5"]
    assert "provisional default curve" in alerts["message"].iloc[0]


def test_not_on_track_ignores_intakes_below_caseness():
    assert not_on_track(weekly([6, 9, 11])).empty


def test_not_on_track_ignores_instruments_without_curves():
    assert not_on_track(weekly([20, 14, 10], instrument="core10")).empty


def test_the_tolerance_z_values_are_settings():
    strict = dataclasses.replace(FLAT, z_yellow=0.5, z_red=1.0)
    assert not_on_track(weekly([15, 15, 16.5]), settings=FLAT).empty
    assert not_on_track(weekly([15, 15, 16.5]), settings=strict)["severity"].tolist() == ["warning"]
    assert "red limit 17.0" in not_on_track(weekly([15, 15, 17.5]), settings=strict)["message"][0]


# Sudden loss -----------------------------------------------------------------------------------

# Issue 16: the default is now the full Tang & DeRubeis mirror (CLINICAL.md §5); the single
# week-to-week criterion is still a setting, tested here.
RC = RuleSettings(sudden_loss_criteria="reliable_change")


def test_the_default_sudden_loss_is_the_full_tang_derubeis_mirror():
    assert RuleSettings().sudden_loss_criteria == "tang_derubeis"
    assert sudden_loss(weekly([10, 9, 10, 17, 10, 9])).empty


def test_it_flags_a_sudden_loss_of_six_points_in_a_week():
    alerts = sudden_loss(weekly([16, 10, 16, 14]), settings=RC)
    assert triggers(alerts) == ["adm:3"]
    assert alerts["message"].iloc[0] == "Sudden loss: PHQ-9 rose from 10 at week 2 to 16 at week 3"


def test_it_does_not_flag_five_points_in_a_week():
    assert sudden_loss(weekly([16, 10, 15]), settings=RC).empty


def test_sudden_loss_compares_with_the_previous_valid_score():
    assert triggers(sudden_loss(weekly([16, 10, np.nan, 16]), settings=RC)) == ["adm:4"]


def test_sudden_loss_is_mirrored_for_higher_is_better():
    assert triggers(sudden_loss(weekly([20, 15], instrument="ors"), settings=RC)) == ["adm:2"]
    assert sudden_loss(weekly([20, 16], instrument="ors"), settings=RC).empty
    assert sudden_loss(weekly([10, 20], instrument="ors"), settings=RC).empty


TANG = RuleSettings(sudden_loss_criteria="tang_derubeis")


def test_the_tang_derubeis_mode_flags_a_loss_that_lasts():
    alerts = sudden_loss(weekly([10, 9, 10, 17, 18, 17]), settings=TANG)
    assert triggers(alerts) == ["adm:4"]


def test_the_tang_derubeis_mode_ignores_a_spike_that_reverts():
    spike = weekly([10, 9, 10, 17, 10, 9])
    assert triggers(sudden_loss(spike, settings=RC)) == ["adm:4"]  # the simpler one flags it
    assert sudden_loss(spike, settings=TANG).empty


def test_the_tang_derubeis_mode_needs_a_quarter_of_the_pre_loss_score():
    # 24 → 30 is 6 points (reliable) but 25 % of 24 is 6: met; 25 → 31 is below 25 % of 25.
    assert triggers(sudden_loss(weekly([24, 24, 24, 30, 30, 30]), settings=TANG)) == ["adm:4"]
    assert sudden_loss(weekly([25, 25, 25, 31, 31, 31]), settings=TANG).empty


def test_the_tang_derubeis_mode_waits_for_three_scores_after_the_loss():
    assert sudden_loss(weekly([10, 9, 10, 17, 18]), settings=TANG).empty


# Alliance concern ------------------------------------------------------------------------------


def ratings(values):
    return weekly(values, instrument="session_rating")


def test_it_flags_an_alliance_concern_below_36():
    alerts = alliance_concern(ratings([35]))
    assert triggers(alerts) == ["adm:1"]
    assert alerts["severity"].tolist() == ["warning"]
    assert alerts["message"].iloc[0] == "Alliance concern: Session rating 35 is below the cutoff 36"


def test_it_does_not_flag_a_rating_of_exactly_36():
    assert alliance_concern(ratings([36])).empty


def test_it_flags_a_drop_of_one_point_from_the_previous_rating():
    alerts = alliance_concern(ratings([39, 38]))
    assert triggers(alerts) == ["adm:2"]
    assert "dropped from 39 to 38" in alerts["message"].iloc[0]


def test_it_does_not_flag_a_steady_or_rising_rating():
    assert alliance_concern(ratings([38, 38, 39, 40])).empty


def test_it_does_not_flag_a_drop_smaller_than_one_point():
    assert alliance_concern(ratings([38.5, 38])).empty


def test_the_alliance_cutoff_and_drop_are_settings():
    settings = RuleSettings(alliance_cutoff=30, alliance_drop=3)
    assert alliance_concern(ratings([33, 31]), settings=settings).empty
    assert triggers(alliance_concern(ratings([34, 31]), settings=settings)) == ["adm:2"]


def test_alliance_concern_ignores_outcome_measures():
    assert alliance_concern(weekly([20, 10], instrument="ors")).empty


# Disengagement ---------------------------------------------------------------------------------


def test_it_flags_disengagement_after_two_missed_checkins_in_a_row():
    alerts = disengagement(checkin_log(["completed", "missed", "missed"]))
    assert triggers(alerts) == ["checkin:3"]
    assert alerts["severity"].tolist() == ["warning"]
    assert alerts["administration_id"].isna().all()
    assert alerts["message"].iloc[0] == "2 check-ins missed in a row (the last due 2025-01-20)"


def test_it_does_not_flag_one_missed_checkin():
    assert disengagement(checkin_log(["missed", "completed", "missed"])).empty


def test_a_long_run_of_missed_checkins_is_one_alert_and_a_new_run_is_another():
    log = checkin_log(["missed", "missed", "missed", "missed", "completed", "missed", "missed"])
    assert triggers(disengagement(log)) == ["checkin:2", "checkin:7"]


def test_pending_checkins_neither_count_nor_break_the_run():
    assert triggers(disengagement(checkin_log(["missed", "pending", "missed"]))) == ["checkin:3"]
    assert disengagement(checkin_log(["missed", "pending"])).empty


def test_the_number_of_missed_checkins_is_a_setting():
    log = checkin_log(["missed", "missed", "missed"])
    assert triggers(disengagement(log, missed_in_a_row=3)) == ["checkin:3"]


def test_missed_checkins_of_different_episodes_do_not_join_up():
    log = pd.concat([checkin_log(["missed"]), checkin_log(["missed"], episode_id=2, first_id=2)])
    assert disengagement(log).empty


# evaluate --------------------------------------------------------------------------------------


def caseload():
    deteriorating = weekly([16, 18, 21, 23], first_id=1)
    recovering = weekly([18, 14, 11, 8], episode_id=2, first_id=10)
    anxious = weekly([9, 10, 14], instrument="gad7", episode_id=2, first_id=20)
    alliance = weekly([38, 35], instrument="session_rating", episode_id=2, first_id=30)
    at_risk = weekly([12], episode_id=3, first_id=40, risks=["yes"])
    unscorable = weekly([np.nan, np.nan], episode_id=4, first_id=50)
    lasting_loss = weekly([10, 9, 10, 17, 18, 17], episode_id=6, first_id=60)
    administrations = pd.concat(
        [deteriorating, recovering, anxious, alliance, at_risk, unscorable, lasting_loss],
        ignore_index=True,
    )
    checkins = pd.concat(
        [checkin_log(["missed", "missed"], episode_id=5, first_id=1), checkin_log(["completed"])],
        ignore_index=True,
    )
    return administrations, checkins


def test_evaluate_returns_the_alert_and_status_contract():
    result = evaluate(*caseload())
    assert list(result.alerts.columns) == ALERT_COLUMNS
    assert str(result.alerts["administration_id"].dtype) == "Int64"
    assert set(result.alerts["rule"]) == {
        "risk_item",
        "reliable_deterioration",
        "not_on_track",
        "sudden_loss",
        "alliance_concern",
        "disengagement",
    }
    assert set(result.alerts["severity"]) <= {"urgent", "high", "warning"}
    assert not result.alerts.duplicated(["episode_id", "rule", "trigger"]).any()
    assert list(result.status.columns) == ["episode_id", "status", "reason"]
    assert result.status["episode_id"].tolist() == [1, 2, 3, 4, 5, 6]


def test_evaluate_is_idempotent_whatever_the_row_order():
    administrations, checkins = caseload()
    first = evaluate(administrations, checkins)
    again = evaluate(administrations, checkins)
    shuffled = evaluate(
        administrations.sample(frac=1, random_state=3), checkins.sample(frac=1, random_state=4)
    )
    pd.testing.assert_frame_equal(first.alerts, again.alerts)
    pd.testing.assert_frame_equal(first.alerts, shuffled.alerts)
    pd.testing.assert_frame_equal(first.status, shuffled.status)


def test_it_flags_a_deteriorating_client_before_the_last_score():
    alerts = evaluate(weekly([16, 18, 21, 23, 24, 26]), NO_CHECKINS).alerts
    flagged = alerts[alerts["rule"].isin(["not_on_track", "reliable_deterioration"])]
    assert not flagged.empty
    assert flagged["administration_id"].min() < 6


def test_the_status_follows_the_latest_score_so_a_dip_that_recovers_is_not_red_forever():
    dip = weekly([16, 23, 15, 11, 9])
    assert evaluate(dip.iloc[:2], NO_CHECKINS).status["status"].tolist() == ["red"]
    status = evaluate(dip, NO_CHECKINS).status
    assert status["status"].tolist() == ["white"]
    assert "consider planning the ending" in status["reason"].iloc[0]


def test_the_worst_instrument_wins_the_episode_status():
    administrations = pd.concat(
        [weekly([18, 8]), weekly([12, 12], instrument="gad7", first_id=10)], ignore_index=True
    )
    status = evaluate(administrations, NO_CHECKINS).status
    assert status["status"].tolist() == ["green"]  # PHQ-9 is white, GAD-7 green
    assert status["reason"].iloc[0].startswith("GAD-7 12 at week 2")


def test_instruments_tied_at_the_worst_level_share_the_reason():
    administrations = pd.concat(
        [weekly([10, 17]), weekly([8, 13], instrument="gad7", first_id=10)], ignore_index=True
    )
    status = evaluate(administrations, NO_CHECKINS).status
    assert status["status"].tolist() == ["red"]
    assert "GAD-7" in status["reason"].iloc[0] and "PHQ-9" in status["reason"].iloc[0]


def test_the_status_ignores_alliance_ratings():
    administrations = pd.concat(
        [weekly([14, 12]), weekly([20, 10], instrument="session_rating", first_id=10)]
    )
    assert evaluate(administrations, NO_CHECKINS).status["status"].tolist() == ["green"]


def test_missing_totals_are_ignored():
    administrations = weekly([12, np.nan, 11, np.nan])
    result = evaluate(administrations, NO_CHECKINS)
    assert result.alerts.empty
    assert result.status["reason"].iloc[0].startswith("PHQ-9 11 at week 3")


def test_an_episode_without_valid_scores_has_status_none():
    administrations, checkins = caseload()
    status = evaluate(administrations, checkins).status.set_index("episode_id")
    assert status.loc[4, "status"] == "none"  # unscorable forms only
    assert status.loc[5, "status"] == "none"  # check-ins only
    assert status.loc[3, "status"] == "green"  # a risk alert does not colour the status


def test_evaluate_handles_an_empty_caseload():
    result = evaluate(weekly([]), NO_CHECKINS)
    assert result.alerts.empty and list(result.alerts.columns) == ALERT_COLUMNS
    assert result.status.empty


def test_instruments_missing_from_params_are_ignored_by_the_score_rules():
    administrations = weekly([10, 40], instrument="k10")
    assert evaluate(administrations, NO_CHECKINS).alerts.empty
    with_k10 = {**DEFAULT_PARAMS}
    assert "k10" not in with_k10


@pytest.mark.parametrize(
    ("rule", "severities"),
    # Not on track: a watch where it begins, high once it persists (issue 16), then nothing more.
    [("reliable_deterioration", ["high"]), ("not_on_track", ["warning", "high"])],
)
def test_state_rules_alert_once_while_the_state_persists(rule, severities):
    alerts = evaluate(weekly([16, 23, 24, 25, 25, 26]), NO_CHECKINS).alerts
    assert alerts.loc[alerts["rule"] == rule, "severity"].tolist() == severities


def test_a_decimal_rating_just_below_36_is_an_alliance_concern_and_36_is_not():
    assert triggers(alliance_concern(ratings([35.4]))) == ["adm:1"]
    assert triggers(alliance_concern(ratings([35.9]))) == ["adm:1"]
    assert alliance_concern(ratings([36.0])).empty


def test_a_decimal_drop_of_exactly_one_point_is_flagged_and_0_9_is_not():
    assert triggers(alliance_concern(ratings([38.4, 37.4]))) == ["adm:2"]
    assert alliance_concern(ratings([38.4, 37.5])).empty
