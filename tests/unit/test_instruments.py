"""Built-in instrument definitions, the registry and definition validation (no database)."""

import json

import pytest

from measures.instruments import (
    BUILTIN_CODES,
    Instrument,
    InvalidDefinitionError,
    builtin_instruments,
    get_instrument,
    instrument_from_dict,
    instrument_to_dict,
    load_definition_file,
    validate_definition,
)

TEXT_SHIPPED = ("phq9", "gad7", "who5", "k10", "session_rating")
SCORING_ONLY = ("ors", "srs", "core10", "oq45")


def small_definition(**overrides):
    """A valid three-item custom definition to break in the validation tests."""
    definition = {
        "code": "custom",
        "name": "Custom check-in",
        "version": "1",
        "direction": "lower_is_better",
        "has_item_text": True,
        "max_missing": 0,
        "option_sets": {
            "scale": [
                {"value": 0, "label": "Never"},
                {"value": 1, "label": "Sometimes"},
                {"value": 2, "label": "Often"},
            ]
        },
        "bands": [{"low": 0, "high": 3, "label": "low"}, {"low": 4, "high": 6, "label": "high"}],
        "items": [
            {"number": 1, "link_id": "q1", "text": "First", "options": "scale"},
            {"number": 2, "link_id": "q2", "text": "Second", "options": "scale"},
            {"number": 3, "link_id": "q3", "text": "Third", "options": "scale"},
        ],
    }
    definition.update(overrides)
    return definition


def test_every_builtin_loads_under_its_code():
    instruments = builtin_instruments()
    assert set(instruments) == set(BUILTIN_CODES)
    for code, instrument in instruments.items():
        assert isinstance(instrument, Instrument)
        assert instrument.code == code
        assert instrument.sources, f"{code} must cite its sources"


def test_unknown_code_raises_a_key_error_that_lists_the_known_codes():
    with pytest.raises(KeyError) as excinfo:
        get_instrument("bdi2")
    message = str(excinfo.value)
    assert "bdi2" in message
    assert "phq9" in message and "oq45" in message


@pytest.mark.parametrize("code", BUILTIN_CODES)
def test_each_definition_survives_a_round_trip_through_json(code):
    instrument = get_instrument(code)
    as_json = json.dumps(instrument_to_dict(instrument))
    assert instrument_from_dict(json.loads(as_json)) == instrument


@pytest.mark.parametrize("code", BUILTIN_CODES)
def test_each_data_file_passes_validation(code):
    assert validate_definition(load_definition_file(code)) == []


@pytest.mark.parametrize(
    ("code", "n_items", "n_scored", "min_total", "max_total", "direction"),
    [
        ("phq9", 10, 9, 0, 27, "lower_is_better"),
        ("gad7", 7, 7, 0, 21, "lower_is_better"),
        ("who5", 5, 5, 0, 100, "higher_is_better"),
        ("k10", 10, 10, 10, 50, "lower_is_better"),
        ("session_rating", 4, 4, 0, 40, "higher_is_better"),
        ("ors", 4, 4, 0, 40, "higher_is_better"),
        ("srs", 4, 4, 0, 40, "higher_is_better"),
        ("core10", 10, 10, 0, 40, "lower_is_better"),
        ("oq45", 45, 45, 0, 180, "lower_is_better"),
    ],
)
def test_item_counts_ranges_and_direction_match_clinical_md(
    code, n_items, n_scored, min_total, max_total, direction
):
    instrument = get_instrument(code)
    assert len(instrument.items) == n_items
    assert len(instrument.scored_items) == n_scored
    assert (instrument.min_total, instrument.max_total) == (min_total, max_total)
    assert instrument.direction == direction


@pytest.mark.parametrize("code", TEXT_SHIPPED)
def test_free_instruments_ship_text_for_every_item_and_option(code):
    instrument = get_instrument(code)
    assert instrument.has_item_text and instrument.can_be_sent
    for item in instrument.items:
        assert item.text
        assert all(option.label for option in item.options)


@pytest.mark.parametrize("code", SCORING_ONLY)
def test_licensed_instruments_ship_no_item_text(code):
    instrument = get_instrument(code)
    assert not instrument.has_item_text and not instrument.can_be_sent
    assert all(item.text is None for item in instrument.items)
    assert instrument.items[0].label == "Item 1"
    # Option labels are the bare numbers, never the copyrighted anchors.
    assert all(
        option.label == str(option.value) for item in instrument.items for option in item.options
    )


def test_phq9_difficulty_item_is_asked_but_never_scored_and_item_9_is_the_risk_item():
    phq9 = get_instrument("phq9")
    assert not phq9.item(10).scored
    assert [item.number for item in phq9.critical_items] == [9]
    assert phq9.item(9).critical_above == 0
    assert (phq9.loinc_panel, phq9.loinc_total) == ("44249-1", "44261-6")
    assert phq9.max_missing == 1 and phq9.reliable_change == 6


def test_gad7_loinc_total_and_published_numbers():
    gad7 = get_instrument("gad7")
    assert gad7.loinc_total == "70274-6"
    assert (gad7.caseness_cutoff, gad7.reliable_change, gad7.max_missing) == (8, 4, 1)


def test_core10_reverse_keys_items_2_and_3_and_flags_item_6():
    core10 = get_instrument("core10")
    assert [item.number for item in core10.items if item.reverse] == [2, 3]
    assert [item.number for item in core10.critical_items] == [6]


def test_who5_total_is_a_percentage():
    assert get_instrument("who5").total_multiplier == 4


def test_our_session_rating_does_not_reuse_srs_wording():
    # The SRS anchors are copyrighted; our items must be our own (CLINICAL.md §1).
    srs_phrases = (
        "heard, understood",
        "respected",
        "something missing",
        "good fit",
        "what i wanted to work on",
        "right for me",
    )
    rating = get_instrument("session_rating")
    texts = " ".join(
        [item.text.lower() for item in rating.items]
        + [anchor.lower() for item in rating.items for anchor in item.anchors]
    )
    for phrase in srs_phrases:
        assert phrase not in texts
    assert [item.number for item in rating.items] == [1, 2, 3, 4]
    # Visual-analogue lines read to 0.1 (CLINICAL.md §1), with our own anchors at both ends.
    assert all(
        (item.kind, item.minimum, item.maximum, item.step) == ("continuous", 0, 10, 0.1)
        for item in rating.items
    )
    assert all(len(item.anchors) == 2 for item in rating.items)


BAND_BOUNDARIES = {
    "phq9": [
        (0, "minimal"), (4, "minimal"), (5, "mild"), (9, "mild"), (10, "moderate"),
        (14, "moderate"), (15, "moderately severe"), (19, "moderately severe"), (20, "severe"),
        (27, "severe"),
    ],
    "gad7": [
        (0, "minimal"), (4, "minimal"), (5, "mild"), (9, "mild"), (10, "moderate"),
        (14, "moderate"), (15, "severe"), (21, "severe"),
    ],
    "k10": [
        (10, "low"), (15, "low"), (16, "moderate"), (21, "moderate"), (22, "high"), (29, "high"),
        (30, "very high"), (50, "very high"),
    ],
    "core10": [
        (0, "healthy"), (5, "healthy"), (6, "low"), (10, "low"), (11, "mild"), (14, "mild"),
        (15, "moderate"), (19, "moderate"), (20, "moderate-severe"), (24, "moderate-severe"),
        (25, "severe"), (40, "severe"),
    ],
    "who5": [
        (0, "likely depression"), (28, "likely depression"), (32, "poor well-being"),
        (48, "poor well-being"), (52, "no poor well-being"),
    ],
    "oq45": [(63, "normal range"), (64, "clinical range")],
    "ors": [(24, "clinical range"), (24.9, "clinical range"), (25, "non-clinical range")],
    "srs": [(35, "alliance concern"), (35.9, "alliance concern"), (36, "no alliance concern")],
    "session_rating": [
        (35.4, "alliance concern"), (35.9, "alliance concern"), (36, "no alliance concern"),
    ],
}  # fmt: skip


@pytest.mark.parametrize(
    ("code", "total", "label"),
    [(code, total, label) for code, rows in BAND_BOUNDARIES.items() for total, label in rows],
)
def test_band_boundaries_follow_the_published_tables(code, total, label):
    assert get_instrument(code).band_for(total) == label


@pytest.mark.parametrize("code", BUILTIN_CODES)
def test_every_possible_total_falls_in_exactly_one_band(code):
    instrument = get_instrument(code)
    step = instrument.total_multiplier
    scale = 10**instrument.decimals  # ORS, SRS and session rating totals have one decimal
    for units in range(
        int(instrument.min_total * scale), int(instrument.max_total * scale) + 1, step
    ):
        total = units / scale if scale > 1 else units
        matching = [band for band in instrument.bands if band.contains(total)]
        assert len(matching) == 1, f"{code} total {total} is in {len(matching)} bands"
    assert instrument.band_for(instrument.max_total + 1) is None


@pytest.mark.parametrize(
    ("code", "total", "is_case"),
    [
        ("phq9", 9, False),
        ("phq9", 10, True),
        ("gad7", 7, False),
        ("gad7", 8, True),
        ("who5", 48, True),
        ("who5", 51, True),
        ("who5", 52, False),
        ("ors", 24, True),
        ("ors", 25, False),
        ("srs", 35, True),
        ("srs", 36, False),
        ("session_rating", 35, True),
        ("session_rating", 36, False),
        ("core10", 10, False),
        ("core10", 11, True),
        ("oq45", 63, False),
        ("oq45", 64, True),
        ("k10", 30, None),
    ],
)
def test_caseness_boundaries(code, total, is_case):
    assert get_instrument(code).is_case(total) is is_case


def test_a_valid_custom_definition_builds_an_instrument():
    instrument = instrument_from_dict(small_definition())
    assert instrument.max_total == 6
    assert instrument.band_for(4) == "high"


def test_subscales_are_listed_in_item_order():
    definition = small_definition()
    definition["items"][0]["subscale"] = "mood"
    definition["items"][1]["subscale"] = "sleep"
    definition["items"][2]["subscale"] = "mood"
    assert instrument_from_dict(definition).subscales == ("mood", "sleep")


def _break_item(position, **changes):
    definition = small_definition()
    definition["items"][position].update(changes)
    return definition


@pytest.mark.parametrize(
    ("definition", "expected_fragment"),
    [
        (_break_item(2, link_id="q1"), "item 3 (q1): link_id 'q1' is used by another item"),
        (_break_item(1, number=7), "item 7 (q2): items must be numbered"),
        (_break_item(2, text=None), "item 3 (q3): has no text, but has_item_text is true"),
        (_break_item(1, options="frequency"), "item 2 (q2): refers to an unknown option set"),
        (
            _break_item(2, options=[{"value": 0, "label": "No"}, {"value": 0.5, "label": "Half"}]),
            "item 3 (q3): option 2 has value 0.5",
        ),
        (
            _break_item(2, options=[{"value": 1, "label": "A"}, {"value": 1, "label": "B"}]),
            "item 3 (q3): answer value 1 appears more than once",
        ),
        (_break_item(2, critical_above=2), "item 3 (q3): critical_above 2 can never be exceeded"),
        (_break_item(0, options=[{"value": 0, "label": "Only"}]), "item 1 (q1): needs a list"),
        (_break_item(0, scored="yes"), "item 1 (q1): scored must be true or false"),
    ],
)
def test_invalid_items_are_refused_with_a_message_naming_the_item(definition, expected_fragment):
    errors = validate_definition(definition)
    assert any(expected_fragment in error for error in errors), errors
    with pytest.raises(InvalidDefinitionError) as excinfo:
        instrument_from_dict(definition)
    assert excinfo.value.messages == errors


@pytest.mark.parametrize(
    ("overrides", "expected_fragment"),
    [
        ({"code": "Bad Code"}, "code 'Bad Code'"),
        ({"direction": "up"}, "direction 'up'"),
        ({"max_missing": 3}, "max_missing 3 must be smaller than the 3 items"),
        ({"max_total": 9}, "max_total is 9 but the items add up to 6"),
        (
            {
                "bands": [
                    {"low": 0, "high": 4, "label": "low"},
                    {"low": 4, "high": 6, "label": "hi"},
                ]
            },
            "band 2 (hi): overlaps",
        ),
        ({"bands": [{"low": 0, "high": 8, "label": "all"}]}, "band 1 (all): 0–8 lies outside"),
        ({"norms": {"reliability": 1.2}}, "reliability must lie between 0 and 1"),
        ({"reliable_change": -2}, "reliable_change must be positive"),
        ({"items": []}, "items must be a non-empty list"),
    ],
)
def test_invalid_instrument_settings_are_refused(overrides, expected_fragment):
    errors = validate_definition(small_definition(**overrides))
    assert any(expected_fragment in error for error in errors), errors


def test_a_definition_must_score_at_least_one_item():
    definition = small_definition()
    for item in definition["items"]:
        item["scored"] = False
    assert "at least one item must be scored" in validate_definition(definition)


def test_a_non_object_definition_is_refused():
    assert validate_definition(["not", "a", "dict"]) == ["the definition must be a JSON object"]


def _vas_definition(**item_overrides):
    item = {
        "number": 1,
        "link_id": "vas1",
        "text": "How was this week?",
        "kind": "continuous",
        "min": 0,
        "max": 10,
        "step": 0.1,
        "anchors": ["very bad", "very good"],
        **item_overrides,
    }
    return {
        "code": "weekly_line",
        "name": "Weekly line",
        "version": "1",
        "direction": "higher_is_better",
        "items": [item, {**item, "number": 2, "link_id": "vas2"}],
    }


def test_a_continuous_item_in_tenths_is_a_valid_definition_and_round_trips():
    instrument = instrument_from_dict(_vas_definition())
    assert (instrument.min_total, instrument.max_total, instrument.decimals) == (0, 20, 1)
    assert instrument.items[0].anchors == ("very bad", "very good")
    assert instrument_from_dict(instrument_to_dict(instrument)) == instrument


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"step": 0.3}, "item 1 (vas1): min 0 and max 10 must be whole steps of 0.3"),
        ({"step": 0.001}, "item 1 (vas1): step 0.001 is finer than 0.01"),
        ({"step": 0}, "item 1 (vas1): a continuous item needs a positive step (e.g. 0.1)"),
        ({"min": 10, "max": 0}, "item 1 (vas1): a continuous item needs numbers min < max"),
        ({"anchors": ["only one"]}, "item 1 (vas1): anchors must be two labels"),
        ({"anchors": None}, "item 1 (vas1): has no anchors, but has_item_text is true"),
        ({"kind": "slider"}, "item 1 (vas1): kind 'slider' must be one of choice, continuous"),
        ({"critical_above": 10}, "item 1 (vas1): critical_above 10 can never be exceeded"),
    ],
)
def test_a_broken_continuous_item_is_refused_naming_it(overrides, message):
    errors = validate_definition(_vas_definition(**overrides))
    assert any(error.startswith(message) for error in errors), errors
