"""The small-episode path of `rules.evaluate` (measures.rules_small, issue 18) gives exactly what
the vectorised path gives: the same alerts and status, columns, dtypes, order and index."""

from unittest import mock

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from measures import rules, rules_small
from measures.rules import DEFAULT_PARAMS, OPERATING_POINTS, RuleSettings
from measures.trajectories import BandCurve

START = pd.Timestamp("2025-01-06 09:00", tz="UTC")
# Highest total of each instrument, and one code no clinic knows (only its risk answer counts).
RANGES = {
    "phq9": 27,
    "gad7": 21,
    "who5": 100,
    "core10": 40,
    "ors": 40,
    "oq45": 180,
    "session_rating": 40,
    "srs": 40,
    "unknown_form": 10,
}
FITTED = (
    BandCurve("phq9", 10, 27, b0=16, b1=-3, sigma=2.5, sigma_by_week=((2, 3.0),), source="fitted"),
    BandCurve("gad7", 8, 21, b0=13, b1=-2, sigma=2.0, source="fitted"),
)
SETTINGS = [
    RuleSettings(),
    *(point.settings() for point in OPERATING_POINTS.values()),
    RuleSettings(curve_overrides=FITTED, first_limit_week=2, alliance_window_days=21),
    RuleSettings(sudden_loss_criteria="reliable_change", missed_checkins_for_disengagement=3),
    RuleSettings(z_yellow=1.0, z_red=1.3, alert_on_unanswered_risk_item=False),
    RuleSettings(alliance_cutoff=30.0, alliance_drop=3.0, missed_checkins_for_disengagement=1),
    RuleSettings(first_limit_week=3, not_improving_share=0.5, early_in_care_weeks=2),
    RuleSettings(alliance_window_days=0, early_in_care_weeks=0, not_on_track_rearm_scores=2),
    RuleSettings(sigma_floor="sem", alliance_window_days=7, not_on_track_rearm_scores=3),
]

form = st.tuples(
    # A total: missing, whole, or decimal (ORS/SRS are marked to a tenth; prorated totals).
    st.one_of(
        st.none(),
        st.integers(min_value=0, max_value=180),
        st.floats(min_value=0, max_value=40, allow_nan=False).map(lambda value: round(value, 1)),
    ),
    st.sampled_from(["no", "no", "no", "yes", "unknown"]),
    # Days since the previous form of the series: the same moment, a few days, a missed week.
    st.sampled_from([0, 1, 3, 6, 7, 7, 7, 8, 14, 21]),
)
series = st.tuples(
    st.integers(min_value=1, max_value=3),  # the episode
    st.sampled_from(sorted(RANGES)),
    st.lists(form, min_size=1, max_size=12),
)
checkin = st.tuples(
    st.integers(min_value=1, max_value=3),
    st.integers(min_value=0, max_value=12),  # week due
    st.sampled_from(["missed", "missed", "completed", "pending"]),
)


def history(all_series, shuffle_seed):
    frames, next_id = [], 1
    for episode, instrument, forms in all_series:
        days = np.cumsum([gap for _, _, gap in forms])
        totals = [np.nan if t is None else float(min(t, RANGES[instrument])) for t, _, _ in forms]
        frames.append(
            pd.DataFrame(
                {
                    "episode_id": episode * 7,  # ids need not be dense
                    "administration_id": range(next_id, next_id + len(forms)),
                    "instrument": instrument,
                    "administered_at": START + pd.to_timedelta(days, unit="D"),
                    "total": totals,
                    "risk": [risk for _, risk, _ in forms],
                }
            )
        )
        next_id += len(forms)
    administrations = pd.concat(frames, ignore_index=True)
    return administrations.sample(frac=1, random_state=shuffle_seed).reset_index(drop=True)


def checkins_frame(all_checkins):
    return pd.DataFrame(
        {
            "episode_id": np.array([episode * 7 for episode, _, _ in all_checkins], dtype="int64"),
            "checkin_id": np.arange(1, len(all_checkins) + 1, dtype="int64"),
            "due_at": START + pd.to_timedelta([7 * week for _, week, _ in all_checkins], unit="D"),
            "status": pd.Series([status for _, _, status in all_checkins], dtype=object),
        }
    )


def both_paths(administrations, checkins, params, rule_settings):
    assert rules_small.handles(administrations, checkins)
    small = rules.evaluate(administrations, checkins, params, settings=rule_settings)
    with mock.patch.object(rules_small, "SMALL_ROWS", -1):  # the vectorised path
        assert not rules_small.handles(administrations, checkins)
        vectorised = rules.evaluate(administrations, checkins, params, settings=rule_settings)
    return small, vectorised


def assert_identical(small, vectorised):
    pd.testing.assert_frame_equal(small.alerts, vectorised.alerts, check_exact=True)
    pd.testing.assert_frame_equal(small.status, vectorised.status, check_exact=True)
    assert type(small.alerts.index) is type(vectorised.alerts.index)
    assert small.alerts["message"].tolist() == vectorised.alerts["message"].tolist()


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(series, min_size=1, max_size=6),
    st.lists(checkin, max_size=12),
    st.sampled_from(range(len(SETTINGS))),
    st.booleans(),
    st.integers(min_value=0, max_value=2**31),
)
def test_small_path_equals_the_vectorised_path(
    all_series, all_checkins, settings_index, some_instruments, shuffle_seed
):
    administrations = history(all_series, shuffle_seed)
    checkins = checkins_frame(all_checkins)
    params = DEFAULT_PARAMS
    if some_instruments:  # a clinic that uses only some instruments
        params = {code: DEFAULT_PARAMS[code] for code in ("phq9", "session_rating", "who5")}
    small, vectorised = both_paths(administrations, checkins, params, SETTINGS[settings_index])
    assert_identical(small, vectorised)


def test_the_paths_agree_on_a_history_that_sets_off_every_rule():
    """A deteriorating PHQ-9 with risk answers, falling session ratings and missed check-ins."""
    phq9 = [10, 9, 10, 18, 19, 19, 24, 26]
    administrations = pd.DataFrame(
        {
            "episode_id": 1,
            "administration_id": range(1, 13),
            "instrument": ["phq9"] * 8 + ["session_rating"] * 4,
            "administered_at": [START + pd.Timedelta(days=7 * week) for week in range(8)]
            + [START + pd.Timedelta(days=7 * week + 1) for week in range(4)],
            "total": [float(total) for total in phq9] + [39.0, 37.5, 33.0, 38.0],
            "risk": ["no", "yes", "unknown"] + ["no"] * 9,
        }
    )
    checkins = checkins_frame([(1, week, "missed") for week in range(4)])
    checkins["episode_id"] = 1
    small, vectorised = both_paths(administrations, checkins, DEFAULT_PARAMS, RuleSettings())
    assert set(small.alerts["rule"]) == set(rules.RULES)
    assert_identical(small, vectorised)


def test_a_history_without_a_known_instrument_is_unscored_on_both_paths():
    administrations = pd.DataFrame(
        {
            "episode_id": [3, 3],
            "administration_id": [1, 2],
            "instrument": "unknown_form",
            "administered_at": [START, START + pd.Timedelta(days=7)],
            "total": [4.0, np.nan],
            "risk": ["yes", "no"],
        }
    )
    checkins = checkins_frame([(1, 0, "missed"), (1, 1, "missed")])
    small, vectorised = both_paths(administrations, checkins, DEFAULT_PARAMS, RuleSettings())
    assert small.status["status"].tolist() == ["none", "none"]
    assert_identical(small, vectorised)


def test_large_or_unusual_inputs_take_the_vectorised_path():
    administrations = history([(1, "phq9", [(10, "no", 7)] * 3)], 0)
    checkins = checkins_frame([])
    assert rules_small.handles(administrations, checkins)
    assert not rules_small.handles(administrations.iloc[:0], checkins)
    as_float = administrations.astype({"administration_id": float})
    assert not rules_small.handles(as_float, checkins)
    many = pd.concat([administrations] * (rules_small.SMALL_ROWS // 3 + 1), ignore_index=True)
    assert not rules_small.handles(many, checkins)


@pytest.mark.parametrize("settings_index", [0, 2, 7])
def test_the_paths_agree_near_the_bound_with_many_episodes(settings_index):
    """110 interleaved episodes, each with a PHQ-9: the vectorised path writes the PHQ-9 status
    reasons once per distinct row (over 64 rows), the small path row by row."""
    rng = np.random.default_rng(settings_index)
    others = [code for code in sorted(RANGES) if code != "phq9"]
    all_series = []
    for episode in range(1, 111):
        # Most with PHQ-9 as their only outcome measure, so its reasons are many.
        other = rng.choice(["session_rating", "srs", "unknown_form"] if episode <= 80 else others)
        for instrument in ("phq9", other):
            length = int(rng.integers(1, 5))
            intake = rng.integers(0, RANGES[instrument] + 1)
            totals = np.clip(intake + np.cumsum(rng.integers(-4, 6, length)), 0, None)
            risks = rng.choice(["no", "yes", "unknown"], size=length, p=[0.9, 0.05, 0.05])
            gaps = rng.choice([0, 7, 7, 14], size=length)
            all_series.append(
                (
                    episode,
                    instrument,
                    [
                        (None if rng.random() < 0.05 else int(total), str(risk), int(gap))
                        for total, risk, gap in zip(totals, risks, gaps, strict=True)
                    ],
                )
            )
    administrations = history(all_series, settings_index)
    statuses = rng.choice(["missed", "completed", "pending"], size=(114, 2))
    checkins = checkins_frame(
        [(episode, week, str(statuses[episode - 1, week])) for episode in range(1, 115)
         for week in range(2)]
    )  # fmt: skip
    assert len(administrations) + len(checkins) <= rules_small.SMALL_ROWS
    rule_settings = SETTINGS[settings_index]
    small, vectorised = both_paths(administrations, checkins, DEFAULT_PARAMS, rule_settings)
    assert len(small.status) == 114 and len(small.alerts) > 40
    assert (small.status["reason"].str.startswith("PHQ-9")).sum() > 64
    assert_identical(small, vectorised)
