"""Report statistics: Wilson intervals, the effect-size interval, and per-episode flags."""

import math
from datetime import date

import numpy as np
import pandas as pd
import pytest

from dashboards.reports import (
    Rate,
    effect_size_interval,
    episode_outcomes,
    episode_rate,
    wilson_interval,
)


# Newcombe (1998), Statistics in Medicine 17:857-872, Table I, method 3 (Wilson score).
@pytest.mark.parametrize(
    "successes, trials, low, high",
    [
        (81, 263, 0.2553, 0.3662),
        (15, 148, 0.0624, 0.1605),
        (0, 20, 0.0, 0.1611),
        (1, 29, 0.0061, 0.1718),
    ],
)
def test_wilson_interval_matches_newcombes_table(successes, trials, low, high):
    assert wilson_interval(successes, trials) == pytest.approx((low, high), abs=5e-5)


def test_wilson_interval_is_vectorised_and_stays_within_zero_and_one():
    lows, highs = wilson_interval(np.array([0, 10, 5]), np.array([10, 10, 10]))
    assert lows[0] == 0 and highs[1] == pytest.approx(1)
    assert lows[2] < 0.5 < highs[2]


def test_a_rate_on_fewer_than_ten_episodes_is_suppressed():
    assert episode_rate(5, 9).suppressed and episode_rate(5, 9).value is None
    assert not episode_rate(5, 10).suppressed and episode_rate(5, 10).value == 0.5
    # Forms: 30 sent from 9 episodes is still fewer than ten episodes.
    assert Rate(numerator=20, denominator=30, episodes=9).value is None


def test_effect_size_interval_follows_beckers_variance():
    pre = np.array([20, 18, 16, 15, 14, 19, 17, 12, 22, 13], dtype=float)
    post = np.array([10, 12, 9, 11, 6, 14, 8, 7, 15, 9], dtype=float)
    d, low, high = effect_size_interval(pre, post)
    expected_d = (pre.mean() - post.mean()) / pre.std(ddof=1)
    r = np.corrcoef(pre, post)[0, 1]
    half = 1.959964 * math.sqrt(2 * (1 - r) / 10 + expected_d**2 / 20)
    assert d == pytest.approx(expected_d)
    assert (low, high) == pytest.approx((expected_d - half, expected_d + half))


def test_effect_size_interval_narrows_with_more_episodes_and_is_nan_without_pairs():
    rng = np.random.default_rng(1)
    pre = rng.normal(16, 5, 400)
    post = pre - 6 + rng.normal(0, 4, 400)
    _, low_small, high_small = effect_size_interval(pre[:40], post[:40])
    _, low_large, high_large = effect_size_interval(pre, post)
    assert high_large - low_large < high_small - low_small
    assert all(math.isnan(value) for value in effect_size_interval([15.0], [5.0]))


def frame(**columns):
    base = {
        "episode_id": [1],
        "therapist_id": [7],
        "started_on": [pd.Timestamp("2026-01-05")],
        "ended_on": [pd.Timestamp("2026-03-01")],
        "end_reason": ["planned"],
        "attended_sessions": [4],
        "phq9_first": [16.0],
        "phq9_last": [6.0],
        "gad7_first": [12.0],
        "gad7_last": [5.0],
    }
    base.update({key: [value] for key, value in columns.items()})
    return pd.DataFrame(base)


def flags(**columns):
    return episode_outcomes(frame(**columns), start=date(2026, 1, 1), end=date(2026, 6, 30)).iloc[0]


def test_a_finished_case_that_drops_below_both_cutoffs_has_recovered():
    row = flags()
    assert row.finished and row.case and row.recovered and row.reliably_recovered
    assert not row.dropout and not row.active


def test_one_attended_session_is_a_dropout_without_outcome():
    row = flags(attended_sessions=1)
    assert row.ended and not row.finished and row.dropout
    assert not row.paired and not row.recovered and math.isnan(row.phq9_first)


def test_an_unplanned_ending_is_a_dropout_even_after_many_sessions():
    row = flags(end_reason="unplanned", attended_sessions=8)
    assert row.finished and row.dropout


def test_an_episode_ending_after_the_period_is_active_not_ended():
    row = flags(ended_on=pd.Timestamp("2026-08-01"))
    assert row.active and not row.ended and not row.finished and not row.paired


def test_a_reliable_drop_on_one_measure_and_rise_on_the_other_is_no_reliable_change():
    row = flags(phq9_first=18.0, phq9_last=11.0, gad7_first=6.0, gad7_last=11.0)
    assert row.paired and not row.reliable_improvement and not row.reliable_deterioration


# --- suppression beyond n < 10: the funnel and complementary suppression --------------------------


def outcome_row(key, cases, recovered, kind="clinician"):
    from dashboards.reports import OutcomeRow

    return OutcomeRow(key=key, label=key, kind=kind, recovery=episode_rate(recovered, cases))


def test_a_single_suppressed_row_takes_the_next_smallest_shown_row_with_it():
    from dashboards.reports import complementary_suppression

    # The audit's case: total 6/18 and North 3/13 would give South's suppressed 3/5 away.
    total = outcome_row("total", 18, 6, kind="total")
    north, south = outcome_row("north", 13, 3), outcome_row("south", 5, 3)
    west = outcome_row("west", 40, 20)
    complementary_suppression([(total, [west, north, south])])
    assert south.recovery.suppressed and south.recovery.too_few
    assert north.recovery.withheld and north.recovery.value is None
    assert north.recovery.as_dict()["value"] is None and north.recovery.as_dict()["withheld"]
    assert not west.recovery.suppressed and not total.recovery.suppressed


def test_no_complementary_suppression_when_two_rows_are_hidden_or_the_total_is_too():
    from dashboards.reports import complementary_suppression

    total = outcome_row("total", 30, 10, kind="total")
    rows = [outcome_row("a", 4, 1), outcome_row("b", 6, 2), outcome_row("c", 20, 7)]
    complementary_suppression([(total, rows)])
    assert not rows[2].recovery.suppressed  # a + b = 3/10 is all subtraction can tell
    small_total = outcome_row("total", 9, 3, kind="total")
    only = [outcome_row("a", 9, 3), outcome_row("b", 0, 0)]
    complementary_suppression([(small_total, only)])
    assert not only[0].recovery.withheld
    # A row without a single episode gives nothing away and does not count as hidden.
    total = outcome_row("total", 30, 10, kind="total")
    rows = [outcome_row("empty", 0, 0), outcome_row("big", 30, 10)]
    complementary_suppression([(total, rows)])
    assert not rows[1].recovery.suppressed


def test_withholding_in_one_breakdown_spreads_to_the_next_until_nothing_gives_a_row_away():
    from dashboards.reports import complementary_suppression

    # Team T (shown) adds up from clinicians x and y; the scope's total from x, y and z.
    total = outcome_row("total", 60, 30, kind="total")
    team = outcome_row("team", 35, 15, kind="team")
    x, y, z = outcome_row("x", 15, 5), outcome_row("y", 20, 10), outcome_row("z", 5, 1)
    complementary_suppression([(total, [x, y, z]), (team, [x, y])])
    # z is hidden, so the total's smallest other (x) is withheld; then x is the team's only
    # hidden row, so y goes too.
    assert x.recovery.withheld and y.recovery.withheld
    assert not team.recovery.suppressed


def test_funnel_stages_on_a_base_below_ten_show_neither_count_nor_percentage():
    from dashboards.reports import funnel_stages

    stages = funnel_stages(
        [("Ended", 12), ("Entered", 11), ("Finished", 10), ("Cases", 5), ("Recovered", 3)]
    )
    assert [stage.shown_count for stage in stages] == [12, 11, 10, 5, None]
    assert stages[-1].suppressed and stages[-1].percent_of_base is None
    # Each share is of the stage before: the last shown one, cases among the finished.
    assert stages[3].percent_of_base == pytest.approx(100 * 5 / 10)
    few = funnel_stages([("Ended", 8), ("Entered", 8), ("Finished", 7)])
    assert [stage.shown_count for stage in few] == [8, None, None]
    assert few[0].percent_of_base is None  # the first stage is the base of the others


def test_completion_counts_only_checkins_that_have_closed():
    from dashboards.reports import completion_rate

    assert completion_rate(completed=7, missed=3) == pytest.approx(0.7)
    assert completion_rate(completed=0, missed=0) is None
