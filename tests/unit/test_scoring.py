"""Scoring one form and whole frames: totals, proration, keying, validity and risk."""

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from measures.instruments import (
    BUILTIN_CODES,
    get_instrument,
    instrument_from_dict,
    instrument_to_dict,
)
from measures.scoring import (
    prorated_total,
    score_answers,
    score_frame,
    worsened_since_previous,
)

PHQ9 = get_instrument("phq9")
GAD7 = get_instrument("gad7")


def phq9(*answers):
    return score_answers(PHQ9, list(answers))


def test_a_complete_phq9_is_summed_banded_and_judged_for_caseness():
    result = phq9(1, 2, 3, 1, 2, 3, 1, 2, 0)
    assert (result.total, result.band, result.caseness) == (15, "moderately severe", True)
    assert result.valid and result.errors == [] and not result.prorated
    assert result.risk == "no"


def test_the_phq9_difficulty_answer_is_accepted_but_never_counts():
    without = phq9(1, 1, 1, 1, 1, 1, 1, 1, 0)
    with_difficulty = phq9(1, 1, 1, 1, 1, 1, 1, 1, 0, 3)
    assert without.total == with_difficulty.total == 8
    assert with_difficulty.item_values[9] == 3


def test_an_impossible_difficulty_answer_still_makes_the_form_invalid():
    result = phq9(1, 1, 1, 1, 1, 1, 1, 1, 0, 7)
    assert not result.valid
    assert result.errors == ["item 10 (phq9-difficulty): 7 is not one of its answer values (0–3)"]


@pytest.mark.parametrize("count", [8, 11])
def test_a_list_of_the_wrong_length_is_refused(count):
    result = score_answers(PHQ9, [0] * count)
    assert not result.valid and result.total is None
    assert result.errors == [f"phq9 expects 9 or 10 answers in item order, got {count}"]
    assert result.risk == "unknown"


@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        (4, "item 3 (phq9-3): 4 is not one of its answer values (0–3)"),
        (-1, "item 3 (phq9-3): -1 is not one of its answer values"),
        (1.5, "item 3 (phq9-3): 1.5 is not one of its answer values"),
        ("2", "item 3 (phq9-3): '2' is not a number"),
        (True, "item 3 (phq9-3): True is not a number"),
    ],
)
def test_an_answer_that_is_not_on_the_form_makes_it_invalid_naming_the_item(value, fragment):
    result = phq9(0, 0, value, 0, 0, 0, 0, 0, 0)
    assert not result.valid
    assert (result.total, result.band, result.caseness) == (None, None, None)
    assert result.errors == [fragment] or fragment in result.errors[0]


def test_whole_floats_from_a_spreadsheet_are_accepted():
    assert phq9(1.0, 2.0, 0, 0, 0, 0, 0, 0, np.int64(1)).total == 4


def test_one_missing_phq9_item_is_prorated_half_up():
    # 4 points over 8 answered items: 4 × 9 / 8 = 4.5, which rounds up to 5 ("mild"). Python's
    # round() would give 4 ("minimal"), so this pins the documented half-up rule.
    result = phq9(1, 1, 1, 1, 0, 0, 0, None, 0)
    assert (result.total, result.band, result.n_missing, result.prorated) == (5, "mild", 1, True)


@pytest.mark.parametrize(
    ("answers", "total"),
    [
        ([1, 1, 1, 0, 0, 0, None], 4),  # 3 × 7 / 6 = 3.5 → 4
        ([3, 3, 3, 0, 0, 0, None], 11),  # 9 × 7 / 6 = 10.5 → 11
        ([3, 3, 3, 3, 3, 2, None], 20),  # 17 × 7 / 6 = 19.83 → 20
        ([1, 0, 0, 0, 0, 0, None], 1),  # 7 / 6 = 1.17 → 1
    ],
)
def test_gad7_proration(answers, total):
    assert score_answers(GAD7, answers).total == total


def test_two_missing_phq9_items_cannot_be_scored():
    result = phq9(1, 1, 1, 1, 1, 1, 1, None, None)
    assert not result.valid and result.total is None
    assert result.errors == ["2 of 9 scored items are unanswered; phq9 allows at most 1"]


@pytest.mark.parametrize(
    ("answer", "risk"), [(0, "no"), (1, "yes"), (3, "yes"), (None, "unknown"), (9, "unknown")]
)
def test_phq9_item_9_sets_the_risk_state(answer, risk):
    assert phq9(0, 0, 0, 0, 0, 0, 0, 0, answer).risk == risk


def test_risk_is_reported_even_when_the_form_cannot_be_scored():
    result = phq9(None, None, None, 0, 0, 0, 0, 0, 2)
    assert not result.valid
    assert result.risk == "yes"


def test_an_unanswered_risk_item_is_never_imputed_even_when_the_total_is_prorated():
    result = phq9(3, 3, 3, 3, 3, 3, 3, 3, None)
    assert result.valid and result.prorated and result.total == 27
    assert result.risk == "unknown"


def two_risk_items_instrument():
    definition = instrument_to_dict(GAD7)
    definition.update(code="two_risks", loinc_total=None)
    definition["items"][5]["critical_above"] = 1
    definition["items"][6]["critical_above"] = 0
    return instrument_from_dict(definition)


@pytest.mark.parametrize(
    ("item6", "item7", "risk"),
    [
        (None, 1, "yes"),  # another risk item endorsed: "yes" even with one unanswered
        (2, None, "yes"),
        (1, None, "unknown"),  # 1 is not above item 6's threshold of 1
        (1, 0, "no"),
        (None, 0, "unknown"),
    ],
)
def test_risk_with_several_critical_items(item6, item7, risk):
    result = score_answers(two_risk_items_instrument(), [0, 0, 0, 0, 0, item6, item7])
    assert result.risk == risk


def test_core10_reverse_keys_items_2_and_3():
    core10 = get_instrument("core10")
    all_zero = score_answers(core10, [0] * 10)
    assert all_zero.total == 8 and all_zero.item_values[:3] == (0, 4, 4)
    assert score_answers(core10, [4] * 10).total == 32


def test_core10_item_6_is_a_risk_item():
    core10 = get_instrument("core10")
    answers = [0, 4, 4, 0, 0, 1, 0, 0, 0, 0]
    assert score_answers(core10, answers).risk == "yes"
    answers[5] = None
    assert score_answers(core10, answers).risk == "unknown"


def test_oq45_reverse_keys_its_nine_positively_worded_items():
    oq45 = get_instrument("oq45")
    # Printed 0 everywhere: only the nine reverse-keyed items contribute (4 each).
    assert score_answers(oq45, [0] * 45).total == 36


@pytest.mark.parametrize(
    ("answers", "total", "case", "flags"),
    [
        ([3, 3, 3, 3, 3], 60, False, ()),
        ([3, 3, 3, 2, 2], 52, False, ()),  # raw 13: not poor well-being
        ([3, 3, 2, 2, 2], 48, True, ()),  # raw 12 < 13: poor well-being
        ([5, 5, 5, 5, 1], 84, False, ("an item answered 0 or 1: screen for depression",)),
        ([0, 0, 0, 0, 0], 0, True, ("an item answered 0 or 1: screen for depression",)),
    ],
)
def test_who5_reports_the_percentage_and_flags_low_items(answers, total, case, flags):
    result = score_answers(get_instrument("who5"), answers)
    assert (result.total, result.caseness, result.flags) == (total, case, flags)
    assert result.raw_total * 4 == result.total


def test_k10_starts_at_10_and_refuses_zero():
    k10 = get_instrument("k10")
    assert score_answers(k10, [1] * 10).total == 10
    assert score_answers(k10, [1] * 10).band == "low"
    assert not score_answers(k10, [0] + [1] * 9).valid


def test_answers_can_be_given_by_item_number_or_link_id():
    by_number = score_answers(GAD7, {1: 3, 2: 3, 3: 3, 4: 0, 5: 0, 6: 0, 7: 0})
    by_link = score_answers(GAD7, {f"gad7-{n}": v for n, v in enumerate([3, 3, 3, 0, 0, 0, 0], 1)})
    assert by_number.total == by_link.total == 9
    unknown = score_answers(GAD7, {1: 0, 99: 1})
    assert not unknown.valid and "gad7 has no item 99" in unknown.errors


def test_subscale_totals_are_given_only_when_the_subscale_is_complete():
    definition = instrument_to_dict(GAD7)
    definition.update(code="gad7_split", max_missing=1)
    for item in definition["items"]:
        item["subscale"] = "worry" if item["number"] <= 3 else "tension"
    instrument = instrument_from_dict(definition)
    assert score_answers(instrument, [1, 2, 3, 1, 1, 1, 1]).subscales == {
        "worry": 6,
        "tension": 4,
    }
    assert score_answers(instrument, [1, 2, None, 1, 1, 1, 1]).subscales == {
        "worry": None,
        "tension": 4,
    }


@pytest.mark.parametrize(
    ("previous", "current", "worse"), [(38, 37, True), (38, 38, False), (36, 40, False)]
)
def test_a_one_point_drop_in_the_session_rating_is_flagged(previous, current, worse):
    assert worsened_since_previous(get_instrument("session_rating"), previous, current) is worse


def test_no_drop_rule_means_no_flag():
    assert worsened_since_previous(PHQ9, 10, 20) is None
    assert worsened_since_previous(get_instrument("session_rating"), None, 30) is None


def test_prorated_total_rounds_half_up_exactly():
    assert prorated_total(4, 9, 8) == 5  # 4.5
    assert prorated_total(12, 9, 8) == 14  # 13.5
    assert prorated_total(13, 9, 8) == 15  # 14.625


# --- vectorised path ----------------------------------------------------------------------------


def test_score_frame_scores_each_row_and_keeps_the_index():
    frame = pd.DataFrame(
        [[1, 2, 3, 1, 2, 3, 1, 2, 1], [1, 1, 1, 1, 0, 0, 0, None, 0], [1, 1, 1, 1, 1, 1, 1, 5, 0]],
        index=["a", "b", "c"],
    )
    scored = score_frame(PHQ9, frame)
    assert list(scored.index) == ["a", "b", "c"]
    assert scored["total"].tolist() == [16, 5, pd.NA]
    assert scored["band"].tolist() == ["moderately severe", "mild", None]
    assert scored["risk"].tolist() == ["yes", "no", "no"]
    assert scored["valid"].tolist() == [True, True, False]
    assert scored["n_missing"].tolist() == [0, 1, 0]


def test_score_frame_finds_columns_by_link_id_in_any_order():
    answers = {
        f"gad7-{n}": [v] for n, v in zip(range(7, 0, -1), [0, 0, 0, 0, 3, 3, 3], strict=True)
    }
    frame = pd.DataFrame({"client": ["x"], **answers})
    assert score_frame(GAD7, frame)["total"].tolist() == [9]


def test_score_frame_takes_explicit_item_columns():
    frame = pd.DataFrame({"q": [1], "r": [1], "s": [1], "t": [1], "u": [1], "v": [1], "w": [1]})
    assert score_frame(GAD7, frame, item_columns=list("qrstuvw"))["total"].tolist() == [7]


def test_score_frame_refuses_the_wrong_number_of_columns():
    with pytest.raises(ValueError, match="gad7 needs 7–7 item columns"):
        score_frame(GAD7, pd.DataFrame({"a": [1], "b": [2]}))


def _strategy_for_answer(item):
    """Mostly valid answers, some missing, a few impossible values."""
    if item.continuous:
        tenths = st.integers(0, 100).map(lambda n: n / 10)
        return st.one_of(
            tenths, tenths, tenths, st.none(), st.sampled_from([-0.1, 10.1, 0.05, 3.33])
        )
    return st.one_of(
        st.sampled_from(item.values),
        st.sampled_from(item.values),
        st.sampled_from(item.values),
        st.none(),
        st.sampled_from([-1, item.max_value + 1, 0.5]),
    )


@st.composite
def administrations(draw):
    instrument = get_instrument(draw(st.sampled_from(BUILTIN_CODES)))
    n_rows = draw(st.integers(min_value=1, max_value=12))
    rows = []
    for _ in range(n_rows):
        # Bias towards few missing items so that proration is exercised, not just invalid forms.
        rows.append([draw(_strategy_for_answer(item)) for item in instrument.items])
    return instrument, rows


def _same(left, right):
    if left is None or left is pd.NA or (isinstance(left, float) and math.isnan(left)):
        return right is None or right is pd.NA or (isinstance(right, float) and math.isnan(right))
    return left == right


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(administrations())
def test_vectorised_and_scalar_scoring_agree_exactly(case):
    instrument, rows = case
    frame = pd.DataFrame(rows, columns=[item.link_id for item in instrument.items], dtype=object)
    vectorised = score_frame(instrument, frame)
    for position, answers in enumerate(rows):
        scalar = score_answers(instrument, answers)
        row = vectorised.iloc[position]
        assert _same(row["total"], scalar.total), (answers, row["total"], scalar.total)
        assert _same(row["band"], scalar.band)
        assert _same(row["caseness"], scalar.caseness)
        assert row["risk"] == scalar.risk
        assert bool(row["valid"]) == scalar.valid
        assert int(row["n_missing"]) == scalar.n_missing
        assert bool(row["prorated"]) == scalar.prorated


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.sampled_from([0, 1, 2, 3]), min_size=8, max_size=8),
    st.integers(min_value=0, max_value=7),
)
def test_proration_never_invents_a_risk_answer(other_answers, gap_position):
    # Item 9 unanswered: whatever else happens, the risk state is "unknown", never "no".
    answers = other_answers[:]
    answers.insert(8, None)
    assert score_answers(PHQ9, answers).risk == "unknown"
    # And a missing non-risk item never turns an answered "no" into anything else.
    answers[8] = 0
    answers[gap_position] = None
    result = score_answers(PHQ9, answers)
    assert result.risk == "no" and result.valid and result.prorated


@settings(max_examples=200, deadline=None)
@given(st.data())
def test_a_prorated_total_stays_within_the_instruments_range(data):
    instrument = get_instrument(data.draw(st.sampled_from(["phq9", "gad7"])))
    answers = [data.draw(st.sampled_from(item.values)) for item in instrument.scored_items]
    answers[data.draw(st.integers(0, len(answers) - 1))] = None
    result = score_answers(instrument, answers)
    answered = [a for a in answers if a is not None]
    assert instrument.min_total <= result.total <= instrument.max_total
    assert abs(result.total - sum(answered) * len(answers) / len(answered)) <= 0.5


# --- visual-analogue items (ORS, SRS, session rating: 0–10 lines read to 0.1) -----------------


def test_ors_marks_to_a_tenth_are_valid_and_total_to_one_decimal():
    result = score_answers(get_instrument("ors"), [4.2, 5.0, 3.8, 6.1])
    assert result.valid and result.errors == []
    assert result.total == 19.1 and result.band == "clinical range" and result.caseness is True


def test_srs_marks_are_summed_exactly_and_rounding_them_would_hide_the_concern():
    srs = get_instrument("srs")
    exact = score_answers(srs, [8.6, 8.6, 8.6, 9.6])
    assert exact.total == 35.4  # exactly, not 35.400000000000006
    assert (exact.band, exact.caseness) == ("alliance concern", True)
    rounded = score_answers(srs, [9, 9, 9, 10])
    assert (rounded.total, rounded.caseness) == (37, False)


@pytest.mark.parametrize(
    ("code", "answers", "total", "is_case"),
    [
        ("ors", [6.2, 6.2, 6.2, 6.3], 24.9, True),  # adult cutoff 25 (Miller et al. 2003)
        ("ors", [6.2, 6.2, 6.3, 6.3], 25.0, False),
        ("srs", [9.0, 9.0, 9.0, 8.9], 35.9, True),  # < 36 (Duncan et al. 2003)
        ("srs", [9.0, 9.0, 9.0, 9.0], 36.0, False),
        ("session_rating", [9.0, 9.0, 9.0, 8.9], 35.9, True),
        ("session_rating", [9.0, 9.0, 9.0, 9.0], 36.0, False),
    ],
)
def test_cutoffs_hold_on_both_sides_for_decimal_totals(code, answers, total, is_case):
    result = score_answers(get_instrument(code), answers)
    assert (result.total, result.caseness) == (total, is_case)
    frame = score_frame(get_instrument(code), pd.DataFrame([answers]))
    assert frame["total"].iloc[0] == total and bool(frame["caseness"].iloc[0]) is is_case


@pytest.mark.parametrize(
    "value", [10.1, -0.1, 4.25, "4.2", True], ids=["above", "below", "hundredths", "text", "bool"]
)
def test_a_mark_off_the_line_or_between_tenths_is_refused_naming_the_item(value):
    result = score_answers(get_instrument("ors"), [value, 5, 5, 5])
    assert not result.valid
    assert result.errors[0].startswith("item 1 (ors-1): ")


def test_decimal_totals_come_out_of_the_frame_as_floats():
    frame = pd.DataFrame({"a": [8.6, 10], "b": [8.6, 10], "c": [8.6, None], "d": [9.6, 10]})
    scored = score_frame(get_instrument("srs"), frame)
    assert str(scored["total"].dtype) == "Float64"
    assert scored["total"].iloc[0] == 35.4 and scored["total"].isna().iloc[1]
