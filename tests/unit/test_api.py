"""The public API contract (issue 3 §5): names, keys and return shapes."""

import pandas as pd
import pytest

from measures import api
from measures.rules import RuleSettings
from measures.trajectories import BandCurve

EXAMPLE_ANSWERS = {
    "phq9": [1, 2, 3, 1, 2, 3, 1, 2, 0],
    "gad7": [1, 1, 1, 1, 1, 1, 1],
    "who5": [3, 3, 3, 3, 3],
    "k10": [2] * 10,
    "session_rating": [9, 9, 9, 9],
    "ors": [5, 6, 7, 8],
    "srs": [9, 9, 9, 8],
    "core10": [1] * 10,
    "oq45": [1] * 45,
}
EXPECTED_TOTALS = {
    "phq9": 15,
    "gad7": 7,
    "who5": 60,
    "k10": 20,
    "session_rating": 36,
    "ors": 26,
    "srs": 35,
    "core10": 14,  # items 2 and 3 reverse-keyed: 8 × 1 + 2 × 3
    "oq45": 63,  # 36 × 1 + 9 reverse-keyed × 3
}


@pytest.mark.parametrize("code", sorted(EXAMPLE_ANSWERS))
def test_score_returns_exactly_the_contract_keys_for_every_code(code):
    result = api.score(code, EXAMPLE_ANSWERS[code])
    assert set(result) == {"total", "band", "caseness", "risk", "valid", "errors", "flags"}
    assert result["total"] == EXPECTED_TOTALS[code]
    assert result["valid"] is True and result["errors"] == []
    assert result["risk"] in ("yes", "no", "unknown")
    assert isinstance(result["band"], str)


def test_score_reports_problems_instead_of_raising():
    result = api.score("gad7", [1, 1, 1, 9, 1, 1, None])
    assert result == {
        "total": None,
        "band": None,
        "caseness": None,
        "risk": "no",
        "valid": False,
        "errors": ["item 4 (gad7-4): 9 is not one of its answer values (0–3)"],
        "flags": [],
    }


def test_score_of_an_unknown_instrument_raises_key_error():
    with pytest.raises(KeyError, match="unknown instrument code 'phq-9'"):
        api.score("phq-9", [0] * 9)


def test_classify_change_shape():
    assert api.classify_change("phq9", 18, 7) == {
        "change": -11,
        "reliable": "improved",
        "clinical_at_pre": True,
        "clinical_at_post": False,
        "category": "recovered",
    }


def test_reliable_change_shape_and_strictness():
    result = api.reliable_change(32, 53, sd=7.5, reliability=0.8, direction="higher_is_better")
    assert set(result) == {"se_measurement", "se_difference", "rci", "category"}
    assert result["category"] == "improved"
    assert round(result["rci"], 2) == 4.43
    # The same change on a lower-is-better measure is a reliable deterioration.
    lower = api.reliable_change(32, 53, sd=7.5, reliability=0.8, direction="lower_is_better")
    assert lower["category"] == "deteriorated"
    # A custom critical value above the RCI makes it unchanged.
    strict = api.reliable_change(
        32, 53, sd=7.5, reliability=0.8, direction="higher_is_better", critical=5
    )
    assert strict["category"] == "unchanged"


def test_cutoffs_shape():
    assert api.cutoffs(
        clinical_mean=40,
        clinical_sd=7.5,
        functional_mean=60,
        functional_sd=7.5,
        direction="higher_is_better",
    ) == {"a": 55, "b": 45, "c": 50}


def test_clinical_significance_returns_one_row_per_input_row_with_the_cutoff_in_attrs():
    frame = pd.DataFrame({"before": [20, 22, 18, 25], "after": [8, 20, 19, 6]}, index=list("wxyz"))
    result = api.clinical_significance(
        frame,
        pre="before",
        post="after",
        reliability=0.85,
        direction="lower_is_better",
        functional_mean=5,
        functional_sd=4,
    )
    assert list(result.index) == list("wxyz")
    assert {"rci", "category"} <= set(result.columns)
    assert set(result["category"]) <= {
        "recovered",
        "improved",
        "unchanged",
        "deteriorated",
        "harmed",
    }
    assert result.attrs["cutoff_type"] == "c"
    assert result.attrs["cutoff"] == pytest.approx(
        api.cutoffs(
            clinical_mean=21.25,
            clinical_sd=frame["before"].std(),
            functional_mean=5,
            functional_sd=4,
            direction="lower_is_better",
        )["c"]
    )


def test_talking_therapies_outcome_shape():
    result = api.talking_therapies_outcome(15, 8, 10, 5, 6)
    assert result == {
        "finished_course_of_treatment": True,
        "case_at_start": True,
        "case_at_end": False,
        "recovery": True,
        "reliable_improvement": True,
        "reliable_deterioration": False,
        "reliable_recovery": True,
        "no_reliable_change": False,
    }


def test_the_registry_and_vectorised_scoring_are_exposed():
    assert api.get_instrument("phq9").code == "phq9"
    assert "oq45" in api.builtin_instruments()
    frame = pd.DataFrame([EXAMPLE_ANSWERS["gad7"]])
    assert api.score_frame(api.get_instrument("gad7"), frame)["total"].tolist() == [7]


def test_score_returns_the_who5_screen_for_depression_flag_and_band():
    # Topp et al. 2015: any item at 0 or 1 means screen for depression; <= 28 % likely depression.
    low = api.score("who5", [1, 2, 1, 2, 1])
    assert (low["total"], low["band"]) == (28, "likely depression")
    assert low["flags"] == ["an item answered 0 or 1: screen for depression"]
    fine = api.score("who5", [2, 2, 2, 2, 2])
    assert (fine["total"], fine["band"], fine["flags"]) == (40, "poor well-being", [])


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ((30, 8, 10, 5, 6), "phq9_first 30 is outside the phq9 range 0–27"),
        ((15, 8, 10, 22, 6), "gad7_last 22 is outside the gad7 range 0–21"),
        ((15, -1, 10, 5, 6), "phq9_last -1 is outside the phq9 range 0–27"),
        (("15", 8, 10, 5, 6), "phq9_first must be a phq9 total or None, got '15'"),
        ((15, 8, True, 5, 6), "gad7_first must be a gad7 total or None, got True"),
        ((15, 8, 10, 5, "six"), "attended_sessions must be a whole number of sessions ≥ 0"),
        ((15, 8, 10, 5, 2.5), "attended_sessions must be a whole number of sessions ≥ 0"),
    ],
)
def test_talking_therapies_outcome_refuses_impossible_inputs(arguments, message):
    with pytest.raises(ValueError, match=message):
        api.talking_therapies_outcome(*arguments)


def test_talking_therapies_outcome_still_reads_nan_as_a_missing_score():
    assert api.talking_therapies_outcome(15, float("nan"), 10, 5, 6)["recovery"] is None


def test_clinical_significance_without_functional_norms_uses_cutoff_a():
    frame = pd.DataFrame({"pre": [20, 22, 18, 25], "post": [8, 20, 19, 6]})
    result = api.clinical_significance(frame, reliability=0.85, direction="lower_is_better")
    assert result.attrs["cutoff_type"] == "a"
    sd = frame["pre"].std()
    assert result.attrs["cutoff"] == pytest.approx(21.25 - 2 * sd)
    with pytest.raises(ValueError, match="needs the functional population's norms"):
        api.clinical_significance(frame, reliability=0.85, direction="lower_is_better", cutoff="c")


# evaluate_alerts (issue 16) ----------------------------------------------------------------------


def _weekly_phq9(totals, *, episode_id=1):
    start = pd.Timestamp("2025-01-06 09:00", tz="UTC")
    return pd.DataFrame(
        {
            "episode_id": episode_id,
            "administration_id": range(1, len(totals) + 1),
            "instrument": "phq9",
            "administered_at": [start + pd.Timedelta(weeks=week) for week in range(len(totals))],
            "total": [float(total) for total in totals],
            "risk": "no",
        }
    )


def test_evaluate_alerts_returns_one_row_per_alert_with_its_reason():
    alerts = api.evaluate_alerts(_weekly_phq9([15, 15, 19, 19, 20, 20]))
    assert list(alerts.columns) == [
        "episode_id",
        "administration_id",
        "rule",
        "severity",
        "instrument",
        "trigger",
        "reason",
    ]
    off_track = alerts[alerts["rule"] == "not_on_track"]
    assert off_track["severity"].tolist() == ["warning", "high"]
    assert off_track["reason"].iloc[1].endswith("off the curve for 2 scores in a row")


def test_evaluate_alerts_takes_settings_and_curves():
    # At week 3 from an intake of 15 the shipped not-improving limit is 15 + 0.05·6 = 15.3.
    history = _weekly_phq9([15, 15, 17.7])
    assert api.evaluate_alerts(history)["rule"].tolist() == ["not_on_track"]
    # At week 4 the provisional curve expects an improvement from 15, a flat fitted curve none.
    unchanged = _weekly_phq9([15, 15, 15, 14])
    assert api.evaluate_alerts(unchanged)["administration_id"].tolist() == [4]
    flat = BandCurve("phq9", 10, 27, b0=15, b1=0, sigma=2, source="fitted")
    assert api.evaluate_alerts(unchanged, curves=[flat]).empty
    previous = RuleSettings(z_yellow=1.6449, first_limit_week=5, not_improving_share=0.3)
    assert api.evaluate_alerts(_weekly_phq9([15, 15, 16.5]), settings=previous).empty
    strict = RuleSettings(z_yellow=0.5, z_red=1.0, first_limit_week=3)
    assert len(api.evaluate_alerts(_weekly_phq9([15, 15, 16.5]), settings=strict, curves=[flat]))
