"""The staff charts are pure functions of data: built and checked here without a database."""

import json
from datetime import UTC, date, datetime, timedelta

import pandas as pd
import pytest

from dashboards import charts
from measures import trajectories
from measures.instruments import get_instrument

START = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


def scores(*totals, instrument="phq9", answers=None):
    frame = pd.DataFrame(
        {
            "instrument": instrument,
            "administered_at": [START + timedelta(weeks=week) for week in range(len(totals))],
            "total": [float(total) for total in totals],
            "band": "",
        }
    )
    if answers is not None:
        frame["answers"] = answers
    return frame


def trace(figure, name_start):
    return next(t for t in figure["data"] if t.get("name", "").startswith(name_start))


def test_the_trajectory_figure_is_plain_json_with_scores_curve_and_limits():
    figure = charts.trajectory_figure(get_instrument("phq9"), scores(18, 16, 15, 17, 19))
    json.dumps(figure)  # what json_script will embed
    assert trace(figure, "PHQ-9 score")["y"] == [18, 16, 15, 17, 19]
    expected = trace(figure, "Expected recovery (provisional default)")
    yellow = trace(figure, "Tolerance band")
    red = trace(figure, "Off-track limit")
    # The curve starts at the client's own intake and falls (continuous default, CLINICAL.md §4).
    assert expected["y"][0] == pytest.approx(18)
    assert expected["y"][4] < 18
    # Limits sit above the expected score for a lower-is-better measure, red beyond yellow.
    # No limits in week 2; in week 3 only the not-improving limit, intake 18 + 0.05·6; the band
    # from week 4 (the shipped rules.DEFAULT_FIRST_LIMIT_WEEK).
    assert yellow["y"][:2] == [None, None] and red["y"][:3] == [None] * 3
    assert yellow["y"][2] == 18.3
    limits = zip(expected["y"][3:], yellow["y"][3:], red["y"][3:], strict=True)
    assert all(r >= y >= e for e, y, r in limits)
    assert figure["layout"]["meta"]["curve"] == "default"
    assert "provisional" in figure["layout"]["meta"]["curve_words"]


def test_the_expected_curve_matches_outcomes_trajectories_at_each_week():
    # The settings the reference below is computed with, passed explicitly.
    course = charts.expected_course(
        get_instrument("phq9"),
        intake=18,
        baseline_at=START,
        last_week=5,
        z_yellow=trajectories.Z_RED,
        first_limit_week=trajectories.FIRST_LIMIT_WEEK,
        not_improving_share=trajectories.NOT_IMPROVING_SHARE,
    )
    for week in (3, 6):
        reference = trajectories.expected_score("phq9", 18, week)
        row = course[course["week"] == week].iloc[0]
        assert row["expected"] == pytest.approx(reference.expected)
        yellow, red = trajectories.tolerance_limits(
            reference.expected, reference.sigma, z_yellow=trajectories.Z_RED
        )
        yellow, _ = trajectories.not_improving_limits(
            yellow, expected=reference.expected, intake=18, week=week, reliable_change=6
        )
        assert row["yellow_limit"] == pytest.approx(float(yellow))
        assert row["red_limit"] == pytest.approx(red, nan_ok=True)
        assert row["at"] == START + timedelta(weeks=week - 1)


def test_a_fitted_clinic_curve_replaces_the_default_and_is_labelled_fitted():
    fitted = trajectories.BandCurve("phq9", 15, 19, b0=17.0, b1=-2.0, sigma=3.0, source="fitted")
    figure = charts.trajectory_figure(get_instrument("phq9"), scores(17, 15), curves=[fitted])
    expected = trace(figure, "Expected recovery (fitted)")
    assert expected["y"][0] == pytest.approx(17.0)
    assert figure["layout"]["meta"]["curve"] == "fitted"


def test_severity_bands_caseness_and_reliable_change_lines_are_drawn():
    figure = charts.trajectory_figure(get_instrument("phq9"), scores(14, 12))
    shapes = figure["layout"]["shapes"]
    bands = [shape for shape in shapes if shape["type"] == "rect"]
    assert len(bands) == 5  # minimal, mild, moderate, moderately severe, severe
    labels = [a["text"] for a in figure["layout"]["annotations"]]
    assert "moderately severe" in labels
    lines = {
        shape["y0"] for shape in shapes if shape["type"] == "line" and shape["xref"] == "paper"
    }
    assert 10 in lines  # caseness
    assert {20.0, 8.0} <= lines  # intake 14 ± 6 (reliable change, NHS Talking Therapies)


def test_alerts_and_timeline_events_are_marked():
    alert = charts.AlertMark(at=START + timedelta(weeks=1), total=22, label="Risk", severity="u")
    event = charts.EventMark(on=date(2026, 1, 8), label="Medication <change>")
    figure = charts.trajectory_figure(
        get_instrument("phq9"), scores(16, 22), alerts=[alert], events=[event]
    )
    marker = trace(figure, "Alert")
    assert marker["y"] == [22] and marker["marker"]["symbol"] == "triangle-up"
    texts = [a["text"] for a in figure["layout"]["annotations"]]
    assert "Medication &lt;change&gt;" in texts  # escaped: plotly renders annotation HTML


def test_one_score_still_draws_the_point_and_the_expected_course():
    figure = charts.trajectory_figure(get_instrument("phq9"), scores(17))
    assert trace(figure, "PHQ-9 score")["y"] == [17]
    assert len(trace(figure, "Expected recovery")["x"]) == 1 + charts.FORECAST_WEEKS


def test_an_instrument_without_a_curve_says_so_and_still_charts_the_scores():
    figure = charts.trajectory_figure(get_instrument("who5"), scores(40, 48, 60, instrument="who5"))
    assert figure["layout"]["meta"]["curve"] is None
    assert (
        "No expected recovery curve exists for WHO-5" in figure["layout"]["meta"]["no_curve_reason"]
    )
    assert trace(figure, "WHO-5 score")["y"] == [40, 48, 60]
    assert "higher is better" in figure["layout"]["yaxis"]["title"]["text"]
    assert not [t for t in figure["data"] if t.get("name", "").startswith("Expected")]


def test_an_intake_below_caseness_has_no_curve_and_the_reason_says_why():
    figure = charts.trajectory_figure(get_instrument("phq9"), scores(6, 7))
    assert figure["layout"]["meta"]["curve"] is None
    assert "below caseness" in figure["layout"]["meta"]["no_curve_reason"]


def test_no_scores_gives_an_empty_chart_not_an_error():
    figure = charts.trajectory_figure(get_instrument("gad7"), scores(instrument="gad7"))
    assert figure["layout"]["meta"]["no_curve_reason"] == "No scores yet."


def test_the_sparkline_is_svg_on_the_instrument_scale_with_the_scores_in_its_title():
    svg = charts.sparkline_svg([20, 10, 0], low=0, high=27, label="PHQ-9")
    assert svg.startswith("<svg") and 'role="img"' in svg
    assert "<title>PHQ-9: 20, 10, 0</title>" in svg
    assert "<script" not in svg
    # 0 sits at the bottom edge (y = height - padding), 20 near the top.
    assert 'cy="25.0"' in svg


def test_a_sparkline_of_one_score_is_a_dot_and_of_none_is_empty():
    assert "<polyline" not in charts.sparkline_svg([12], low=0, high=27, label="PHQ-9")
    assert "<circle" in charts.sparkline_svg([12], low=0, high=27, label="PHQ-9")
    assert charts.sparkline_svg([], low=0, high=27, label="PHQ-9") == ""


def test_session_ratings_mark_concerns_with_shape_as_well_as_colour():
    ratings = pd.DataFrame(
        {"administered_at": [START, START + timedelta(weeks=1)], "total": [38.0, 31.0]}
    )
    figure = charts.session_rating_figure(ratings)
    marker = figure["data"][0]["marker"]
    assert marker["symbol"] == ["circle", "diamond-open"]
    assert figure["layout"]["shapes"][0]["y0"] == 36


def test_the_item_heatmap_has_a_row_per_scored_item_and_a_column_per_form():
    answers = [[0, 1, 2, 3, 0, 1, 2, 3, 1, 2], [3, 3, 3, 3, 3, 3, 3, 3, 0, None]]
    figure = charts.item_heatmap_figure(get_instrument("phq9"), scores(15, 24, answers=answers))
    heatmap = figure["data"][0]
    assert len(heatmap["y"]) == 9  # item 10 (difficulty) is asked, never scored
    assert heatmap["z"][8] == [1, 0]  # item 9 across the two forms
    assert heatmap["y"][0].startswith("1. Little interest")


def test_the_review_figure_uses_plain_words_and_shows_no_alerts_or_limits():
    figure = charts.review_figure(get_instrument("phq9"), scores(18, 15, 12))
    names = [t["name"] for t in figure["data"]]
    assert names == [
        "Where people starting where you did often are (a first estimate)",
        "Your answers",
    ]
    assert figure["layout"]["yaxis"]["title"]["text"] == "Lower means feeling better"
    assert "Moderately severe" in [a["text"] for a in figure["layout"]["annotations"]]


def test_the_review_figure_calls_a_default_curve_a_first_estimate_and_a_fitted_one_not():
    default = charts.review_figure(get_instrument("phq9"), scores(18, 15, 12))
    assert default["layout"]["meta"]["curve"] == "default"
    assert "a first estimate" in default["data"][0]["name"]
    fitted_curve = trajectories.BandCurve(
        "phq9", 15, 19, b0=17.0, b1=-2.0, sigma=3.0, source="fitted"
    )
    fitted = charts.review_figure(get_instrument("phq9"), scores(18, 15, 12), curves=[fitted_curve])
    assert fitted["layout"]["meta"]["curve"] == "fitted"
    assert fitted["data"][0]["name"] == "Where people starting where you did often are"


@pytest.mark.parametrize(
    "totals, instrument",
    [((6, 5), "phq9"), ((60, 72), "who5"), ((30, 25), "k10")],
    ids=["below-caseness", "who5", "k10"],
)
def test_the_review_figure_says_when_it_has_no_dashed_line(totals, instrument):
    figure = charts.review_figure(
        get_instrument(instrument), scores(*totals, instrument=instrument)
    )
    assert figure["layout"]["meta"]["curve"] is None
    assert all(trace.get("line", {}).get("dash") != "dash" for trace in figure["data"])
    empty = charts.review_figure(get_instrument("phq9"), scores())
    assert empty["layout"]["meta"]["curve"] is None and empty["data"] == []


def test_decimal_session_ratings_are_charted_as_given_and_35_4_is_a_concern():
    ratings = scores(35.4, 36.0, 39.9, instrument="session_rating")
    ratings["answers"] = [[8.6, 8.6, 8.6, 9.6], [9, 9, 9, 9], [10, 10, 10, 9.9]]
    figure = charts.session_rating_figure(
        ratings, items=["Relationship", "Goals", "Approach", "Overall"]
    )
    rating = trace(figure, "Session rating")
    assert rating["y"] == [35.4, 36.0, 39.9]
    assert rating["marker"]["symbol"] == ["diamond-open", "circle", "circle"]
    assert "Overall: 9.6" in rating["text"][0]
    assert charts.sparkline_svg([19.1, 24.1], low=0, high=40, label="ORS").count("19.1, 24.1") == 2


def test_the_item_heatmap_shows_visual_analogue_marks_to_one_decimal():
    figure = charts.item_heatmap_figure(
        get_instrument("ors"), scores(19.1, instrument="ors", answers=[[4.2, 5.0, 3.8, 6.1]])
    )
    assert [row[0] for row in figure["data"][0]["z"]] == [4.2, 5.0, 3.8, 6.1]
