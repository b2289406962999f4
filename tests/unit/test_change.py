"""Reliable change, clinical significance, Talking Therapies outcomes and sudden gains.

The published data sets (claus_2020 and jacobson_1989, from the R package clinicalsignificance,
GPL-3; see tests/fixtures/clinical/README.md) are read from tests/fixtures/clinical.
"""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from measures.change import (
    CATEGORIES,
    Z_ONE_TAILED_5,
    Z_TWO_TAILED_5,
    change_category,
    classify_instrument_change,
    classify_instrument_change_frame,
    clinical_significance_frame,
    fixed_point_category,
    jacobson_truax_cutoffs,
    pre_post_effect_size,
    rci_category,
    reliable_change_index,
    standard_error_of_difference,
    standard_error_of_measurement,
    sudden_changes,
    sudden_changes_frame,
    talking_therapies_frame,
    talking_therapies_outcome,
)
from measures.instruments import get_instrument

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "clinical"
MIRROR = {
    "recovered": "harmed",
    "improved": "deteriorated",
    "unchanged": "unchanged",
    "deteriorated": "improved",
    "harmed": "recovered",
    None: None,
}


def category_counts(result):
    counts = result["category"].value_counts()
    return [int(counts.get(category, 0)) for category in CATEGORIES]


@pytest.fixture(scope="module")
def claus_2020():
    """Wide pre (time 1) / post (time 4) frame of the claus_2020 depression study."""
    long = pd.read_csv(FIXTURES / "claus_2020.csv")
    wide = {}
    for measure in ("bdi", "hamd", "who"):
        table = long.pivot(index="id", columns="time", values=measure)
        wide[f"{measure}_pre"] = table[1.0]
        wide[f"{measure}_post"] = table[4.0]
    return pd.DataFrame(wide)


@pytest.fixture(scope="module")
def jacobson_1989():
    long = pd.read_csv(FIXTURES / "jacobson_1989.csv")
    table = long.pivot(index="subject", columns="time", values="gds")
    return pd.DataFrame({"pre": table["pre"], "post": table["post"]})


# --- Jacobson–Truax ----------------------------------------------------------------------------


def test_the_jacobson_truax_1991_worked_example():
    # Jacobson & Truax (1991): pre 32, post 53, SD 7.5, reliability .80 gives SE 3.35,
    # S_diff 4.74 and RC 4.43.
    se_measurement = standard_error_of_measurement(7.5, 0.80)
    se_difference = standard_error_of_difference(se_measurement)
    assert round(se_measurement, 2) == 3.35
    assert round(se_difference, 2) == 4.74
    assert round(reliable_change_index(32, 53, sd=7.5, reliability=0.80), 2) == 4.43


@pytest.mark.parametrize(
    ("rci", "direction", "category"),
    [
        (Z_TWO_TAILED_5, "higher_is_better", "unchanged"),  # exactly at the critical value
        (np.nextafter(Z_TWO_TAILED_5, 9), "higher_is_better", "improved"),
        (-Z_TWO_TAILED_5, "higher_is_better", "unchanged"),
        (np.nextafter(-Z_TWO_TAILED_5, -9), "higher_is_better", "deteriorated"),
        (-2.0, "lower_is_better", "improved"),
        (2.0, "lower_is_better", "deteriorated"),
        (-Z_TWO_TAILED_5, "lower_is_better", "unchanged"),
        (1.96, "higher_is_better", "improved"),  # 1.96 > 1.959964
    ],
)
def test_reliable_change_needs_the_rci_strictly_beyond_the_critical_value(rci, direction, category):
    assert rci_category(rci, direction) == category


def test_critical_values_are_the_normal_quantiles():
    assert pytest.approx(1.959964, abs=1e-6) == Z_TWO_TAILED_5
    assert pytest.approx(1.644854, abs=1e-6) == Z_ONE_TAILED_5


@pytest.mark.parametrize(
    ("code", "pre", "post", "reliable"),
    [
        ("phq9", 16, 10, "improved"),  # exactly 6 points: reliable (>=)
        ("phq9", 16, 11, "unchanged"),
        ("phq9", 10, 16, "deteriorated"),
        ("gad7", 12, 8, "improved"),  # exactly 4
        ("gad7", 12, 9, "unchanged"),
        ("oq45", 80, 66, "improved"),  # exactly 14
        ("oq45", 80, 67, "unchanged"),
        ("who5", 40, 50, "improved"),  # higher is better, 10 points
        ("who5", 50, 40, "deteriorated"),
        ("who5", 40, 48, "unchanged"),
    ],
)
def test_fixed_published_reliable_change_values_are_inclusive(code, pre, post, reliable):
    instrument = get_instrument(code)
    assert (
        fixed_point_category(
            pre, post, reliable_change=instrument.reliable_change, direction=instrument.direction
        )
        == reliable
    )


@pytest.mark.parametrize(
    ("code", "pre", "post", "category"),
    [
        ("phq9", 18, 7, "recovered"),
        ("phq9", 10, 4, "recovered"),  # case at exactly 10, reliable at exactly 6
        ("phq9", 15, 9, "recovered"),
        ("phq9", 18, 10, "improved"),  # reliable drop but still a case at 10
        ("phq9", 12, 9, "unchanged"),  # crossed the cutoff without reliable change
        ("phq9", 9, 15, "harmed"),
        ("phq9", 12, 18, "deteriorated"),  # already a case
        ("gad7", 11, 7, "recovered"),
        ("gad7", 8, 4, "recovered"),
        ("who5", 40, 56, "recovered"),  # higher is better; 52 % is not poor well-being
        ("who5", 40, 50, "improved"),  # 50 % is still poor well-being
        ("ors", 20, 25, "recovered"),  # ORS cutoff 25, RC 5
        ("ors", 20, 24, "unchanged"),
        ("core10", 16, 10, "recovered"),
        ("oq45", 70, 56, "recovered"),
        ("k10", 30, 12, None),  # no published reliable change value
        ("session_rating", 30, 38, None),
    ],
)
def test_classify_change_by_instrument(code, pre, post, category):
    assert classify_instrument_change(get_instrument(code), pre, post)["category"] == category


@settings(max_examples=300, deadline=None)
@given(
    st.sampled_from(["phq9", "gad7", "who5", "ors", "core10", "oq45"]),
    st.data(),
)
def test_swapping_pre_and_post_mirrors_the_instrument_category(code, data):
    instrument = get_instrument(code)
    step = instrument.total_multiplier
    totals = st.integers(int(instrument.min_total) // step, int(instrument.max_total) // step).map(
        lambda raw: raw * step
    )
    pre, post = data.draw(totals), data.draw(totals)
    forward = classify_instrument_change(instrument, pre, post)["category"]
    backward = classify_instrument_change(instrument, post, pre)["category"]
    assert backward == MIRROR[forward]


@settings(max_examples=300, deadline=None)
@given(
    st.floats(0, 60),
    st.floats(0, 60),
    st.floats(1, 20),
    st.floats(0.05, 0.95),
    st.sampled_from(["lower_is_better", "higher_is_better"]),
)
def test_swapping_pre_and_post_mirrors_the_reliable_change(pre, post, sd, reliability, direction):
    forward = rci_category(
        reliable_change_index(pre, post, sd=sd, reliability=reliability), direction
    )
    backward = rci_category(
        reliable_change_index(post, pre, sd=sd, reliability=reliability), direction
    )
    assert backward == MIRROR[forward]


def test_vectorised_instrument_classification_matches_the_scalar_one():
    instrument = get_instrument("phq9")
    pre = [18, 10, 15, 18, 12, 9, 12, None, 5]
    post = [7, 4, 9, 10, 9, 15, 18, 6, None]
    frame = classify_instrument_change_frame(
        instrument,
        [np.nan if v is None else v for v in pre],
        [np.nan if v is None else v for v in post],
    )
    for position, (before, after) in enumerate(zip(pre, post, strict=True)):
        if before is None or after is None:
            assert frame["category"].iloc[position] is None
            continue
        expected = classify_instrument_change(instrument, before, after)
        assert frame["category"].iloc[position] == expected["category"]
        assert frame["reliable"].iloc[position] == expected["reliable"]
        assert bool(frame["clinical_at_pre"].iloc[position]) == expected["clinical_at_pre"]


@pytest.mark.parametrize(
    ("reliable", "clinical_pre", "functional_post", "category"),
    [
        ("improved", True, True, "recovered"),
        ("improved", True, False, "improved"),
        ("improved", False, True, "improved"),
        ("unchanged", True, True, "unchanged"),
        ("deteriorated", False, False, "harmed"),
        ("deteriorated", True, False, "deteriorated"),
        ("deteriorated", False, True, "deteriorated"),
        (None, True, True, None),
    ],
)
def test_change_categories(reliable, clinical_pre, functional_post, category):
    assert change_category(reliable, clinical_pre, functional_post) == category


def test_cutoffs_for_a_higher_is_better_scale_with_equal_sds():
    values = jacobson_truax_cutoffs(
        clinical_mean=40, clinical_sd=7.5, functional_mean=60, functional_sd=7.5,
        direction="higher_is_better",
    )  # fmt: skip
    assert (values.a, values.b, values.c) == (55, 45, 50)


def test_cutoffs_for_a_lower_is_better_scale_weight_c_by_the_sds():
    values = jacobson_truax_cutoffs(
        clinical_mean=20, clinical_sd=5, functional_mean=5, functional_sd=4,
        direction="lower_is_better",
    )  # fmt: skip
    assert values.a == 10  # 20 − 2·5, toward health
    assert values.b == 13  # 5 + 2·4, toward illness
    assert values.c == pytest.approx((4 * 20 + 5 * 5) / 9)


def test_cutoffs_b_and_c_need_functional_norms():
    values = jacobson_truax_cutoffs(clinical_mean=20, clinical_sd=5, direction="lower_is_better")
    assert (values.b, values.c) == (None, None)


# --- the published data sets -------------------------------------------------------------------

# Counts from the test snapshots of the R package clinicalsignificance (cs_combined, claus_2020
# HAM-D, pre = 1, post = 4, reliability .80, functional M = 8, SD = 8, cutoff c; NK with
# reliability_post .50). Order: recovered, improved, unchanged, deteriorated, harmed.
HAMD_REFERENCE = {
    "JT": [26, 3, 10, 1, 0],
    "GLN": [26, 3, 10, 1, 0],
    "HLL": [12, 0, 16, 11, 1],
    "EN": [26, 6, 5, 3, 0],
    "NK": [26, 2, 11, 1, 0],
    "HA": [23, 9, 7, 1, 0],
}


@pytest.mark.parametrize("method", list(HAMD_REFERENCE))
def test_claus_2020_hamd_reproduces_the_reference_counts_for_every_method(claus_2020, method):
    result = clinical_significance_frame(
        claus_2020,
        pre="hamd_pre",
        post="hamd_post",
        method=method,
        reliability=0.80,
        reliability_post=0.50 if method == "NK" else None,
        direction="lower_is_better",
        cutoff="c",
        functional_mean=8,
        functional_sd=8,
    )
    assert category_counts(result) == HAMD_REFERENCE[method]
    assert result.attrs["n_complete"] == 40  # 43 patients, 40 complete pre/post pairs


def test_claus_2020_bdi_jacobson_truax_matches_the_package_summary(claus_2020):
    # The package reports: M clinical 35.48, SD 8.16; cutoff a 19.16, cutoff c 21.6 (with
    # functional M = SD = 8); 10 recovered, 8 improved, 22 unchanged at reliability .80.
    common = {
        "pre": "bdi_pre",
        "post": "bdi_post",
        "reliability": 0.80,
        "direction": "lower_is_better",
    }
    by_a = clinical_significance_frame(claus_2020, cutoff="a", **common)
    by_c = clinical_significance_frame(
        claus_2020, cutoff="c", functional_mean=8, functional_sd=8, **common
    )
    assert round(by_a.attrs["m_pre"], 2) == 35.48 and round(by_a.attrs["sd_pre"], 2) == 8.16
    assert round(by_a.attrs["cutoff"], 2) == 19.16
    assert round(by_c.attrs["cutoff"], 1) == 21.6
    assert category_counts(by_a) == category_counts(by_c) == [10, 8, 22, 0, 0]
    # With reliability .81 (the package README) one more patient changes reliably.
    at_81 = clinical_significance_frame(
        claus_2020,
        cutoff="c",
        functional_mean=8,
        functional_sd=8,
        **{**common, "reliability": 0.81},
    )
    assert category_counts(at_81) == [10, 9, 21, 0, 0]


def test_patients_without_a_post_score_get_no_category(claus_2020):
    result = clinical_significance_frame(
        claus_2020, pre="bdi_pre", post="bdi_post", reliability=0.8,
        direction="lower_is_better", cutoff="a",
    )  # fmt: skip
    missing = claus_2020["bdi_post"].isna()
    assert missing.sum() == 3
    assert result.loc[missing, "category"].isna().all()
    assert result.loc[missing, "clinical_pre"].isna().all()
    assert result.loc[~missing, "category"].notna().all()


def test_hageman_arrindell_is_more_lenient_than_jacobson_truax_on_the_same_data(claus_2020):
    # HA tests one-tailed at 1.645 and corrects for the reliability of the differences, so on
    # claus_2020 BDI it calls more patients reliably improved than JT does (25 vs 18), while its
    # "true" cutoff (21.57) is pulled slightly toward the clinical mean by √reliability.
    common = {
        "pre": "bdi_pre", "post": "bdi_post", "reliability": 0.80, "direction": "lower_is_better",
        "cutoff": "c", "functional_mean": 8, "functional_sd": 8,
    }  # fmt: skip
    jt = clinical_significance_frame(claus_2020, method="JT", **common)
    ha = clinical_significance_frame(claus_2020, method="HA", **common)
    assert ha.attrs["critical"] == Z_ONE_TAILED_5 and jt.attrs["critical"] == Z_TWO_TAILED_5
    assert round(ha.attrs["cutoff"], 2) == 21.57  # the package's "c_true" value
    jt_reliably_better = (jt["reliable"] == "improved").sum()
    ha_reliably_better = (ha["reliable"] == "improved").sum()
    assert (jt_reliably_better, ha_reliably_better) == (18, 25)
    # Every patient JT calls reliably improved, HA does too.
    assert (ha.loc[jt["reliable"] == "improved", "reliable"] == "improved").all()
    # HA's per-case crossing test is stricter than "post below the cutoff": fewer recover.
    assert category_counts(ha) == [7, 18, 15, 0, 0]
    assert category_counts(jt)[0] == 10


def test_hageman_arrindell_recovers_only_patients_who_started_in_the_clinical_range(claus_2020):
    # Patient 3 starts at BDI 15, below the cutoff, and improves reliably to 5. Older releases of
    # clinicalsignificance counted such a patient as recovered (8 rather than 7 on this data);
    # CLINICAL.md §2 and release 2.0.0 require clinical status at pre.
    result = clinical_significance_frame(
        claus_2020, pre="bdi_pre", post="bdi_post", method="HA", reliability=0.80,
        direction="lower_is_better", cutoff="c", functional_mean=8, functional_sd=8,
    )  # fmt: skip
    patient = result.loc[3.0]
    assert (patient["pre"], patient["post"]) == (15, 5)
    assert not patient["clinical_pre"] and patient["category"] == "improved"
    assert not result.loc[result["category"] == "recovered", "clinical_pre"].eq(False).any()


JACOBSON_GDS_REFERENCE = {
    # Global Distress Scale, reliability .80, cutoff a from the sample (as in the package's
    # snapshots for jacobson_1989); 26 couples have both scores.
    "JT": [10, 4, 12, 0, 0],
    "GLN": [12, 4, 10, 0, 0],
    "HLL": [7, 0, 11, 8, 0],
    "EN": [12, 5, 9, 0, 0],
    "NK": [12, 4, 10, 0, 0],
}


@pytest.mark.parametrize("method", list(JACOBSON_GDS_REFERENCE))
def test_jacobson_1989_gds_reproduces_the_reference_counts(jacobson_1989, method):
    result = clinical_significance_frame(
        jacobson_1989, method=method, reliability=0.80, direction="lower_is_better", cutoff="a"
    )
    assert result.attrs["n_complete"] == 26
    assert category_counts(result) == JACOBSON_GDS_REFERENCE[method]


def test_hsu_linn_lord_judges_change_against_the_groups_own_improvement(jacobson_1989):
    # HLL centres post scores on the post mean: after a therapy that helped most couples, a
    # couple who improved less than the group is "deteriorated" although its score fell.
    result = clinical_significance_frame(
        jacobson_1989, method="HLL", reliability=0.80, direction="lower_is_better", cutoff="a"
    )
    deteriorated = result[result["category"] == "deteriorated"]
    assert len(deteriorated) == 8
    assert (deteriorated["change"] <= 0).sum() >= 1


def test_cutoff_c_without_functional_norms_is_refused(jacobson_1989):
    with pytest.raises(ValueError, match="functional_mean and functional_sd"):
        clinical_significance_frame(
            jacobson_1989, reliability=0.8, direction="lower_is_better", cutoff="c"
        )


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"method": "XYZ"}, "method must be one of"),
        ({"cutoff": "d"}, "cutoff must be one of"),
        ({"reliability": 1.0}, "reliability must lie strictly between 0 and 1"),
        ({"direction": "up"}, "direction must be"),
    ],
)
def test_bad_arguments_are_refused(jacobson_1989, overrides, message):
    arguments = {"reliability": 0.8, "direction": "lower_is_better", "cutoff": "a"} | overrides
    with pytest.raises(ValueError, match=message):
        clinical_significance_frame(jacobson_1989, **arguments)


@settings(max_examples=150, deadline=None)
@given(
    st.lists(st.tuples(st.integers(0, 27), st.integers(0, 27)), min_size=3, max_size=30),
)
def test_swapping_pre_and_post_mirrors_jacobson_truax_categories_with_fixed_norms(pairs):
    # With published norms the JT statistics do not depend on which column is "pre", so the five
    # categories mirror exactly (scores exactly on the cutoff excluded: both tests are strict).
    frame = pd.DataFrame(pairs, columns=["pre", "post"])
    common = {
        "method": "JT", "reliability": 0.85, "direction": "lower_is_better", "cutoff": "c",
        "functional_mean": 5, "functional_sd": 4, "clinical_mean": 16, "clinical_sd": 5,
    }  # fmt: skip
    forward = clinical_significance_frame(frame, **common)
    assume((frame != forward.attrs["cutoff"]).all().all())
    backward = clinical_significance_frame(frame, pre="post", post="pre", **common)
    assert backward["category"].map(MIRROR).tolist() == forward["category"].tolist()


# --- effect size --------------------------------------------------------------------------------


def test_pre_post_effect_size_is_positive_for_improvement():
    pre = [20, 18, 16, 14]
    post = [10, 10, 8, 8]
    sd = np.std(pre, ddof=1)
    assert pre_post_effect_size(pre, post, direction="lower_is_better") == pytest.approx(
        (17 - 9) / sd
    )
    assert pre_post_effect_size(post, pre, direction="higher_is_better") == pytest.approx(
        (17 - 9) / np.std(post, ddof=1)
    )
    assert pre_post_effect_size(pre, post, direction="lower_is_better", sd_pre=4) == 2.0


def test_claus_2020_bdi_effect_size(claus_2020):
    d = pre_post_effect_size(
        claus_2020["bdi_pre"], claus_2020["bdi_post"], direction="lower_is_better"
    )
    complete = claus_2020[["bdi_pre", "bdi_post"]].dropna()
    expected = (complete["bdi_pre"].mean() - complete["bdi_post"].mean()) / complete[
        "bdi_pre"
    ].std()
    assert d == pytest.approx(expected) and d > 0


# --- NHS Talking Therapies ----------------------------------------------------------------------

OUTCOME_KEYS = (
    "finished_course_of_treatment",
    "case_at_start",
    "case_at_end",
    "recovery",
    "reliable_improvement",
    "reliable_deterioration",
    "reliable_recovery",
    "no_reliable_change",
)


@pytest.mark.parametrize(
    ("scores", "sessions", "expected"),
    [
        # phq first/last, gad first/last
        ((15, 8, 10, 5), 6, (True, True, False, True, True, False, True, False)),
        # still a case on GAD-7 (8) at the end: no recovery although PHQ-9 dropped reliably
        ((15, 8, 10, 8), 6, (True, True, True, False, True, False, False, False)),
        # reliable drop on PHQ-9 and reliable rise on GAD-7: no reliable change
        ((20, 14, 6, 10), 4, (True, True, True, False, False, False, False, True)),
        # drop of exactly 6 (PHQ-9) is reliable; 5 is not
        ((16, 10, 3, 3), 3, (True, True, True, False, True, False, False, False)),
        ((16, 11, 3, 3), 3, (True, True, True, False, False, False, False, True)),
        # drop of exactly 4 on GAD-7 is reliable, and recovery from caseness at exactly 8
        ((5, 5, 8, 4), 2, (True, True, False, True, True, False, True, False)),
        # not a case at the start: recovery undefined
        ((9, 3, 7, 2), 5, (True, False, False, None, True, False, None, False)),
        # reliable deterioration
        ((9, 15, 7, 7), 5, (True, False, True, None, False, True, None, False)),
        # fewer than two attended sessions: no outcome
        ((15, 5, 10, 2), 1, (False, None, None, None, None, None, None, None)),
    ],
)
def test_talking_therapies_paired_outcomes(scores, sessions, expected):
    outcome = talking_therapies_outcome(*scores, sessions)
    assert tuple(outcome[key] for key in OUTCOME_KEYS) == expected


def test_talking_therapies_needs_all_four_scores():
    outcome = talking_therapies_outcome(15, None, 10, 5, 6)
    assert outcome["finished_course_of_treatment"] is True
    assert all(outcome[key] is None for key in OUTCOME_KEYS[1:])


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.integers(0, 27),
            st.integers(0, 27),
            st.integers(0, 21),
            st.integers(0, 21),
            st.integers(0, 12),
        ),  # fmt: skip
        min_size=1,
        max_size=20,
    )
)
def test_talking_therapies_frame_matches_the_scalar_outcome(episodes):
    frame = pd.DataFrame(
        episodes,
        columns=["phq9_first", "phq9_last", "gad7_first", "gad7_last", "attended_sessions"],
    )
    vectorised = talking_therapies_frame(frame)
    for position, episode in enumerate(episodes):
        scalar = talking_therapies_outcome(*episode)
        row = vectorised.iloc[position]
        assert {key: (None if pd.isna(row[key]) else bool(row[key])) for key in OUTCOME_KEYS} == (
            scalar
        )
        # The three change outcomes are mutually exclusive and exhaustive for finished episodes.
        if scalar["finished_course_of_treatment"]:
            flags = [
                scalar["reliable_improvement"],
                scalar["reliable_deterioration"],
                scalar["no_reliable_change"],
            ]
            assert flags.count(True) == 1


# --- sudden gains and losses --------------------------------------------------------------------


def test_a_textbook_sudden_gain():
    # The suddengains package's own example: 32, 31, 33 then 5, 6, 7 with a cutoff of 7.
    [gain] = sudden_changes([32, 31, 33, 5, 6, 7], reliable_change=7)
    assert (gain.kind, gain.pregain_index, gain.magnitude) == ("gain", 2, 28)


def test_a_sudden_loss_is_the_mirror_image():
    [loss] = sudden_changes([5, 6, 7, 16, 12, 14], reliable_change=7)
    assert (loss.kind, loss.pregain_score, loss.postgain_score) == ("loss", 7, 16)


def test_a_drop_smaller_than_a_quarter_of_the_pregain_score_is_not_sudden():
    # 40 → 31 is 9 points (>= 7) but only 22.5 % of 40.
    assert sudden_changes([40, 40, 40, 31, 31, 31], reliable_change=7) == []
    assert len(sudden_changes([40, 40, 40, 30, 30, 30], reliable_change=7)) == 1


def test_a_drop_below_the_reliable_change_value_is_not_sudden():
    assert sudden_changes([20, 20, 20, 15, 15, 15], reliable_change=6) == []
    assert len(sudden_changes([20, 20, 20, 14, 14, 14], reliable_change=6)) == 1


def test_a_gain_that_is_not_stable_fails_the_third_criterion():
    # Big single drop, but the surrounding sessions swing too much for the t-test margin.
    assert sudden_changes([10, 30, 25, 12, 28, 5], reliable_change=6) == []


def test_missing_sessions_raise_the_critical_value_but_still_allow_detection():
    # Two pre-gain scores instead of three: critical t 3.182 (Lutz et al. 2013).
    [gain] = sudden_changes([None, 31, 33, 5, 6, 7], reliable_change=7)
    assert gain.pregain_index == 2
    # Fewer than two scores on one side: criterion 3 cannot be judged, so no gain is claimed.
    assert sudden_changes([33, 5, 6, 7], reliable_change=7) == []


def test_sudden_changes_on_a_higher_is_better_measure():
    [gain] = sudden_changes(
        [30, 32, 31, 60, 62, 61], reliable_change=10, direction="higher_is_better"
    )
    assert gain.kind == "gain"


def test_sudden_changes_frame_reports_each_episode():
    frame = pd.DataFrame(
        {
            "episode": [1] * 6 + [2] * 6,
            "session": list(range(1, 7)) * 2,
            "score": [32, 31, 33, 5, 6, 7, 5, 6, 7, 16, 12, 14],
        }
    ).sample(frac=1, random_state=3)  # order must not matter
    changes = sudden_changes_frame(frame, reliable_change=7)
    assert changes[["episode", "kind", "pregain_session", "postgain_session"]].values.tolist() == [
        [1, "gain", 3, 4],
        [2, "loss", 3, 4],
    ]


@pytest.mark.parametrize(
    ("pre", "post", "reliable"),
    [
        (19.1, 24.0, "unchanged"),  # +4.9: below ORS reliable change 5 (Miller et al. 2003)
        (19.1, 24.1, "improved"),  # +5.0
        (24.1, 19.1, "deteriorated"),
        (24.1, 19.2, "unchanged"),
        (3.2, 8.2, "improved"),  # 8.2 - 3.2 is 4.999999999999999 in binary floating point
        (8.7, 3.7, "deteriorated"),
    ],
)
def test_ors_reliable_change_of_five_holds_on_decimal_totals(pre, post, reliable):
    from measures import api

    assert api.classify_change("ors", pre, post)["reliable"] == reliable
    frame = classify_instrument_change_frame(get_instrument("ors"), [pre], [post])
    assert frame["reliable"].iloc[0] == reliable
