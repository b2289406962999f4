"""Properties of `evaluate` over random caseloads: what must hold for any history (no database)."""

import dataclasses

import numpy as np
import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from measures.rules import RuleSettings, evaluate, not_on_track, reliable_deterioration
from measures.trajectories import classify_administrations, classify_status

START = pd.Timestamp("2025-01-06 09:00", tz="UTC")
RANGES = {"phq9": 27, "gad7": 21, "who5": 100, "session_rating": 40}

series_strategy = st.tuples(
    st.sampled_from(sorted(RANGES)),
    st.lists(st.one_of(st.none(), st.integers(min_value=0, max_value=100)), min_size=1, max_size=8),
    st.lists(st.sampled_from(["no", "no", "yes", "unknown"]), min_size=8, max_size=8),
)


def caseload(all_series):
    frames, next_id = [], 1
    for episode_id, (instrument, totals, risks) in enumerate(all_series, start=1):
        capped = [np.nan if t is None else float(min(t, RANGES[instrument])) for t in totals]
        frames.append(
            pd.DataFrame(
                {
                    "episode_id": episode_id % 4 + 1,  # several series share an episode
                    "administration_id": range(next_id, next_id + len(capped)),
                    "instrument": instrument,
                    "administered_at": [
                        START + pd.Timedelta(days=7 * week + episode_id)
                        for week in range(len(capped))
                    ],
                    "total": capped,
                    "risk": (list(risks) + ["no"] * len(capped))[: len(capped)],
                }
            )
        )
        next_id += len(capped)
    return pd.concat(frames, ignore_index=True)


NO_CHECKINS = pd.DataFrame(
    {
        "episode_id": pd.Series(dtype="int64"),
        "checkin_id": pd.Series(dtype="int64"),
        "due_at": pd.Series(dtype="datetime64[ns, UTC]"),
        "status": pd.Series(dtype=object),
    }
)
FAST = settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FAST
@given(st.lists(series_strategy, min_size=1, max_size=6), st.randoms())
def test_the_same_history_in_any_order_gives_the_same_alerts_and_status(all_series, random):
    administrations = caseload(all_series)
    first = evaluate(administrations, NO_CHECKINS)
    shuffled = administrations.sample(frac=1, random_state=random.randint(0, 1000))
    again = evaluate(shuffled, NO_CHECKINS)
    pd.testing.assert_frame_equal(first.alerts, again.alerts)
    pd.testing.assert_frame_equal(first.status, again.status)
    assert not first.alerts.duplicated(["episode_id", "rule", "trigger"]).any()


@FAST
@given(st.lists(series_strategy, min_size=1, max_size=6))
def test_forms_without_a_total_change_no_score_alert(all_series):
    administrations = caseload(all_series)
    administrations["risk"] = "no"
    scored_only = administrations[administrations["total"].notna()]
    with_gaps = evaluate(administrations, NO_CHECKINS)
    without = evaluate(scored_only, NO_CHECKINS)
    pd.testing.assert_frame_equal(with_gaps.alerts, without.alerts)


@FAST
@given(st.lists(st.integers(min_value=0, max_value=27), min_size=1, max_size=10))
def test_reliable_deterioration_fires_at_onset_and_at_each_further_step_only(totals):
    """Against a plain loop: an alert where the state begins, then one each time the score
    first reaches a further 6 points (PHQ-9's reliable change) past the score of onset."""
    expected, onset, reached, baseline = [], None, 0, totals[0]
    for administration_id, total in enumerate(totals, start=1):
        if total - baseline < 6:
            onset = None
            continue
        if onset is None:
            onset, reached = total, 0
            expected.append(administration_id)
            continue
        step = (total - onset) // 6
        if step >= 1 and step > reached:
            expected.append(administration_id)
        reached = max(reached, step)
    administrations = caseload([("phq9", totals, ["no"] * 8)])
    fired = reliable_deterioration(administrations)["administration_id"].astype(int)
    assert sorted(fired) == expected


@FAST
@given(
    st.lists(st.integers(min_value=0, max_value=27), min_size=1, max_size=10),
    st.sampled_from(["phq9", "gad7"]),
)
def test_the_frame_status_equals_the_scalar_status(totals, instrument):
    arguments = {
        "reliable_change": 6 if instrument == "phq9" else 4,
        "direction": "lower_is_better",
    }
    arguments["functional_cutoff"] = 10 if instrument == "phq9" else 8
    administrations = caseload([(instrument, totals, ["no"] * 8)])
    classified = classify_administrations(administrations, instrument=instrument, **arguments)
    for row in classified.itertuples():
        scalar = classify_status(
            instrument=instrument, total=row.total, intake=row.intake, week=row.week, **arguments
        )
        assert (row.status, row.reason) == (scalar.status, scalar.reason)


@FAST
@given(
    st.lists(series_strategy, min_size=1, max_size=6),
    st.integers(min_value=1, max_value=4),
)
def test_rearming_later_only_drops_not_on_track_onsets(all_series, rearm):
    """A larger ``not_on_track_rearm_scores`` keeps a subset of the alerts of a smaller one, and
    what it drops are first scores of a run off the curve, never the first of a series."""
    administrations = caseload(all_series)
    settings = RuleSettings(first_limit_week=2, not_improving_share=0.05)
    before = not_on_track(administrations, settings=settings)
    after = not_on_track(
        administrations,
        settings=dataclasses.replace(settings, not_on_track_rearm_scores=rearm + 1),
    )
    kept = before.merge(after, how="inner")
    assert len(kept) == len(after)
    dropped = before[~before["trigger"].isin(after["trigger"])]
    # Persistence and further steps within a run are never dropped, only a run's first score.
    assert not dropped["message"].str.contains("2 scores in a row|worse again").any()
    first_alert = before.drop_duplicates(["episode_id", "instrument"])
    assert first_alert["trigger"].isin(after["trigger"]).all()
