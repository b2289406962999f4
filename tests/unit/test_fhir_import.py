"""Importing FHIR R4 Questionnaires written elsewhere (fixtures: LHNCBC lforms PHQ-9, uwcirg GAD-7
and HL7 International's PHQ-9 examples, copied byte for byte, see tests/fixtures/clinical/fhir/
SOURCES.md), one written by us for the failures of issue 17 (labelled as ours there), and
malformed variants.
"""

import copy
import json
from pathlib import Path

import pytest

from measures.instruments import (
    MAX_QUESTIONNAIRE_ITEMS,
    QuestionnaireImportError,
    builtin_code_for,
    get_instrument,
    instrument_from_dict,
    instrument_from_fhir_questionnaire,
    instrument_to_dict,
    mapped_to_builtin,
    validate_definition,
)
from measures.scoring import score_answers

FHIR = Path(__file__).resolve().parents[1] / "fixtures" / "clinical" / "fhir"
ORDINAL = "http://hl7.org/fhir/StructureDefinition/ordinalValue"


def load(name):
    return json.loads((FHIR / name).read_text(encoding="utf-8"))


@pytest.fixture
def lforms_phq9():
    return load("lhncbc-lforms_R4_phq9.json")


@pytest.fixture
def uwcirg_gad7():
    return load("uwcirg-asbi-screening-app_1_Questionnaire-GAD7.json")


def import_errors(questionnaire, **kwargs):
    with pytest.raises(QuestionnaireImportError) as excinfo:
        instrument_from_fhir_questionnaire(questionnaire, **kwargs)
    return excinfo.value.messages


def coded_option(code, display, value=None, extension_url=ORDINAL):
    option = {"valueCoding": {"system": "http://loinc.org", "code": code, "display": display}}
    if value is not None:
        option["extension"] = [{"url": extension_url, "valueDecimal": value}]
    return option


def simple_questionnaire(items, **extra):
    return {
        "resourceType": "Questionnaire",
        "name": "Tiny",
        "status": "draft",
        "item": items,
        **extra,
    }


def choice_item(link_id, options, **extra):
    return {"linkId": link_id, "type": "choice", "text": f"Question {link_id}", **extra, **options}


TWO_OPTIONS = {"answerOption": [coded_option("a", "No", 0), coded_option("b", "Yes", 1)]}


# --- the real files -----------------------------------------------------------------------------


def test_the_lforms_phq9_imports_with_its_unscored_difficulty_question(lforms_phq9):
    imported = instrument_from_fhir_questionnaire(lforms_phq9, code="phq9_lforms")
    assert imported.code == "phq9_lforms"
    assert imported.name == "PHQ-9 quick depression assessment panel"
    assert len(imported.items) == 10 and len(imported.scored_items) == 9
    difficulty = imported.items[9]
    assert (difficulty.link_id, difficulty.scored) == ("/69722-7", False)
    assert difficulty.values == (0, 1, 2, 3)  # no ordinals in the file: numbered in order
    assert (imported.loinc_panel, imported.loinc_total) == ("44249-1", "44261-6")
    assert (imported.min_total, imported.max_total) == (0, 27)
    assert imported.has_item_text


def test_the_imported_phq9_matches_our_builtin_item_by_item(lforms_phq9):
    # A Questionnaire carries no missing-item rule; the importer supplies PHQ-9's (1 item).
    imported = instrument_from_fhir_questionnaire(lforms_phq9, code="phq9_lforms", max_missing=1)
    builtin = get_instrument("phq9")
    for ours, theirs in zip(builtin.items, imported.items, strict=True):
        assert ours.loinc == theirs.loinc
        assert [(o.value, o.code) for o in ours.options] == [
            (o.value, o.code) for o in theirs.options
        ]
    answers = [3, 2, 1, 0, 1, 2, 3, None, 0, 2]
    assert score_answers(imported, answers).total == score_answers(builtin, answers).total == 14


def test_the_uwcirg_gad7_skips_the_display_item_and_ignores_the_cql_total(uwcirg_gad7):
    imported = instrument_from_fhir_questionnaire(uwcirg_gad7)
    assert imported.code == "gad7"  # slug of the Questionnaire's name
    assert [item.link_id for item in imported.items][:2] == ["/69725-0", "/68509-9"]
    assert len(imported.items) == 7 and all(item.scored for item in imported.items)
    # LOINC codes without a system are recognised by their shape.
    assert (imported.loinc_panel, imported.loinc_total) == ("69737-5", "70274-6")
    assert imported.items[0].loinc == "69725-0"
    # Item 2 codes its third answer differently (LA18938-3); its value still comes from the file.
    third = imported.items[1].options[2]
    assert (third.code, third.label, third.value) == ("LA18938-3", "More days than not", 2)
    assert score_answers(imported, [3, 3, 2, 0, 0, 1, 1]).total == 10


@pytest.mark.parametrize(
    "name", ["lhncbc-lforms_R4_phq9.json", "uwcirg-asbi-screening-app_1_Questionnaire-GAD7.json"]
)
def test_imported_definitions_can_be_stored_as_json_and_rebuilt(name):
    imported = instrument_from_fhir_questionnaire(load(name), code="imported")
    stored = json.loads(json.dumps(instrument_to_dict(imported)))
    assert instrument_from_dict(stored) == imported


def test_direction_and_missing_rule_are_the_importers_choice(uwcirg_gad7):
    imported = instrument_from_fhir_questionnaire(
        uwcirg_gad7, direction="higher_is_better", max_missing=1
    )
    assert imported.higher_is_better and imported.max_missing == 1


# --- malformed variants -------------------------------------------------------------------------


def test_an_option_without_an_ordinal_is_refused_naming_the_item(lforms_phq9):
    broken = copy.deepcopy(lforms_phq9)
    broken["item"][2]["answerOption"][1]["extension"] = []
    assert import_errors(broken) == [
        "item '/44259-0': options 'Several days' have no ordinal value"
    ]


def test_a_fractional_ordinal_is_refused(uwcirg_gad7):
    broken = copy.deepcopy(uwcirg_gad7)
    broken["item"][3]["answerOption"][2]["extension"][1]["valueDecimal"] = 1.5
    messages = import_errors(broken)
    assert messages == [
        "item '/69733-4': option 'More than half the days' has ordinal value 1.5; only whole "
        "numbers can be scored"
    ]


def test_free_text_and_repeating_questions_are_refused(uwcirg_gad7):
    broken = copy.deepcopy(uwcirg_gad7)
    broken["item"].append({"linkId": "comments", "type": "text", "text": "Anything else?"})
    broken["item"][1]["repeats"] = True
    messages = import_errors(broken)
    assert "item '/69725-0': allows several answers (repeats), which cannot be scored" in messages
    assert (
        "item 'comments': type 'text' cannot be scored; only choice items with ordinal values "
        "can be imported"
    ) in messages


def test_every_problem_is_reported_at_once(lforms_phq9):
    broken = copy.deepcopy(lforms_phq9)
    broken["item"][0]["answerOption"][0]["extension"] = []
    broken["item"][4]["answerValueSet"] = "http://example.org/ValueSet/frequency"
    del broken["item"][4]["answerOption"]
    messages = import_errors(broken)
    assert len(messages) == 2
    assert messages[0].startswith("item '/44250-9'")
    assert messages[1] == (
        "item '/44251-7': answerValueSet 'http://example.org/ValueSet/frequency' is not a "
        "ValueSet contained in the Questionnaire; include it as a contained resource"
    )


def test_duplicate_link_ids_are_refused(uwcirg_gad7):
    broken = copy.deepcopy(uwcirg_gad7)
    broken["item"][2]["linkId"] = broken["item"][1]["linkId"]
    assert any("link_id '/69725-0' is used by another item" in m for m in import_errors(broken))


def test_duplicate_answer_values_are_refused():
    options = {"answerOption": [coded_option("a", "No", 1), coded_option("b", "Yes", 1)]}
    messages = import_errors(simple_questionnaire([choice_item("q1", options)]))
    assert messages == ["item 1 (q1): answer value 1 appears more than once"]


@pytest.mark.parametrize(
    ("resource", "message"),
    [
        ({"resourceType": "Patient"}, "the resource is not a FHIR Questionnaire"),
        (simple_questionnaire([]), "the Questionnaire has no choice items to score"),
        (
            simple_questionnaire(
                [
                    choice_item(
                        "q1", {"answerOption": [coded_option("a", "No"), coded_option("b", "Yes")]}
                    )
                ]
            ),
            "no item has ordinal values (ordinalValue or itemWeight extensions); nothing can be "
            "scored",
        ),
        (
            simple_questionnaire([{"linkId": "q1", "type": "choice", "text": "Q"}]),
            "item 'q1': has neither answerOption nor answerValueSet",
        ),
    ],
)
def test_unusable_resources_are_refused(resource, message):
    assert import_errors(resource) == [message]


# --- variations found in other questionnaires --------------------------------------------------


def test_nested_groups_are_flattened_in_document_order(uwcirg_gad7):
    nested = copy.deepcopy(uwcirg_gad7)
    questions = nested["item"][1:8]
    nested["item"] = [
        nested["item"][0],
        {"linkId": "g1", "type": "group", "item": questions[:3]},
        {
            "linkId": "g2",
            "type": "group",
            "item": [{"linkId": "g2a", "type": "group", "item": questions[3:]}],
        },
    ]
    flat = instrument_from_fhir_questionnaire(uwcirg_gad7)
    grouped = instrument_from_fhir_questionnaire(nested)
    assert [item.link_id for item in grouped.items] == [item.link_id for item in flat.items]
    assert [item.number for item in grouped.items] == list(range(1, 8))


def test_answers_from_a_contained_value_set_with_ordinal_extensions():
    value_set = {
        "resourceType": "ValueSet",
        "id": "frequency",
        "compose": {
            "include": [
                {
                    "system": "http://loinc.org",
                    "concept": [
                        {
                            "code": "LA6568-5",
                            "display": "Not at all",
                            "extension": [{"url": ORDINAL, "valueDecimal": 0}],
                        },
                        {
                            "code": "LA6569-3",
                            "display": "Several days",
                            "extension": [{"url": ORDINAL, "valueInteger": 1}],
                        },
                    ],
                }
            ]
        },
    }
    questionnaire = simple_questionnaire(
        [choice_item("q1", {"answerValueSet": "#frequency"})], contained=[value_set]
    )
    item = instrument_from_fhir_questionnaire(questionnaire).items[0]
    assert [(o.value, o.label, o.code) for o in item.options] == [
        (0, "Not at all", "LA6568-5"),
        (1, "Several days", "LA6569-3"),
    ]


def test_weights_from_a_contained_code_system_item_weight_property():
    code_system = {
        "resourceType": "CodeSystem",
        "id": "answers",
        "url": "http://example.org/CodeSystem/answers",
        "concept": [
            {
                "code": "never",
                "display": "Never",
                "property": [{"code": "itemWeight", "valueDecimal": 0}],
            },
            {
                "code": "often",
                "display": "Often",
                "property": [{"code": "itemWeight", "valueDecimal": 2}],
                "concept": [
                    {
                        "code": "always",
                        "display": "Always",
                        "property": [{"code": "itemWeight", "valueInteger": 3}],
                    }
                ],
            },
        ],
    }
    value_set = {
        "resourceType": "ValueSet",
        "id": "answers-vs",
        "compose": {"include": [{"system": "http://example.org/CodeSystem/answers"}]},
    }
    questionnaire = simple_questionnaire(
        [choice_item("q1", {"answerValueSet": "#answers-vs"})], contained=[code_system, value_set]
    )
    item = instrument_from_fhir_questionnaire(questionnaire).items[0]
    assert [(o.value, o.code) for o in item.options] == [(0, "never"), (2, "often"), (3, "always")]


def test_a_value_set_expansion_is_read():
    value_set = {
        "resourceType": "ValueSet",
        "id": "vs",
        "expansion": {
            "contains": [
                {"code": "n", "display": "No", "extension": [{"url": ORDINAL, "valueDecimal": 0}]},
                {"code": "y", "display": "Yes", "extension": [{"url": ORDINAL, "valueDecimal": 1}]},
            ]
        },
    }
    questionnaire = simple_questionnaire(
        [choice_item("q1", {"answerValueSet": "#vs"})], contained=[value_set]
    )
    assert instrument_from_fhir_questionnaire(questionnaire).items[0].values == (0, 1)


@pytest.mark.parametrize(
    "url",
    [
        "http://hl7.org/fhir/StructureDefinition/itemWeight",
        "http://hl7.org/fhir/StructureDefinition/iso21090-CO-value",
    ],
)
def test_other_ordinal_extensions_are_understood(url):
    options = {"answerOption": [coded_option("a", "No", 0, url), coded_option("b", "Yes", 4, url)]}
    assert instrument_from_fhir_questionnaire(
        simple_questionnaire([choice_item("q1", options)])
    ).items[0].values == (0, 4)


def test_an_ordinal_on_the_coding_itself_is_read():
    option = {
        "valueCoding": {
            "code": "x",
            "display": "X",
            "extension": [{"url": ORDINAL, "valueDecimal": 2}],
        }
    }
    other = coded_option("y", "Y", 0)
    questionnaire = simple_questionnaire([choice_item("q1", {"answerOption": [other, option]})])
    assert instrument_from_fhir_questionnaire(questionnaire).items[0].values == (0, 2)


def test_codes_with_spaces_are_kept_and_trimmed():
    options = {
        "answerOption": [
            coded_option(" not at all ", "Not at all", 0),
            coded_option("a lot", "A lot", 1),
        ]
    }
    item = instrument_from_fhir_questionnaire(
        simple_questionnaire([choice_item("q1", options)])
    ).items[0]
    assert [o.code for o in item.options] == ["not at all", "a lot"]


def test_integer_answer_options_are_their_own_values():
    options = {"answerOption": [{"valueInteger": 1}, {"valueInteger": 2}, {"valueInteger": 3}]}
    instrument = instrument_from_fhir_questionnaire(
        simple_questionnaire([choice_item("q1", options)])
    )
    assert instrument.items[0].values == (1, 2, 3)
    assert instrument.code == "tiny"


def test_a_question_without_text_makes_the_instrument_unsendable():
    item = choice_item("q1", TWO_OPTIONS)
    del item["text"]
    instrument = instrument_from_fhir_questionnaire(simple_questionnaire([item]))
    assert not instrument.has_item_text
    assert instrument.items[0].label == "Item 1"


# --- issue 17: the instrument's meaning survives the import ------------------------------------

OURS_PHQ9 = "ours_phq9-contained-valueset-by-url.json"
# (file, construct, number of scored items, maximum total): two real files and one of ours.
EVERY_FIXTURE = [
    pytest.param("lhncbc-lforms_R4_phq9.json", "phq9", 9, 27, id="lforms-phq9"),
    pytest.param("uwcirg-asbi-screening-app_1_Questionnaire-GAD7.json", "gad7", 7, 21, id="uwcirg"),
    pytest.param(OURS_PHQ9, "phq9", 9, 27, id="ours-phq9"),
]


def extremes(instrument, pick):
    """Every scored item answered at its lowest or highest value; unscored items left out."""
    return {item.number: pick(item.values) for item in instrument.scored_items}


@pytest.mark.parametrize(("name", "construct", "n_scored", "maximum"), EVERY_FIXTURE)
def test_every_fixture_scores_from_zero_to_the_published_maximum(
    name, construct, n_scored, maximum
):
    imported = instrument_from_fhir_questionnaire(load(name), code="imported")
    assert len(imported.scored_items) == n_scored
    assert (imported.min_total, imported.max_total) == (0, maximum)
    assert score_answers(imported, extremes(imported, max)).total == maximum
    assert score_answers(imported, extremes(imported, min)).total == 0
    assert builtin_code_for(imported) == construct


@pytest.mark.parametrize(("name", "construct", "n_scored", "maximum"), EVERY_FIXTURE)
def test_every_fixture_maps_onto_its_builtin_with_bands_caseness_and_risk(
    name, construct, n_scored, maximum
):
    mapped = mapped_to_builtin(
        instrument_from_fhir_questionnaire(load(name), code="imported"), code="imported"
    )
    builtin = get_instrument(construct)
    assert mapped.code == "imported" and mapped.bands == builtin.bands
    assert (mapped.caseness_cutoff, mapped.reliable_change, mapped.max_missing) == (
        builtin.caseness_cutoff,
        builtin.reliable_change,
        builtin.max_missing,
    )
    assert [i.critical_above for i in mapped.items] == [
        i.critical_above for i in builtin.items if i.loinc in {m.loinc for m in mapped.items}
    ]
    top = score_answers(mapped, extremes(mapped, max))
    assert (top.total, top.band, top.caseness) == (maximum, "severe", True)
    assert score_answers(mapped, extremes(mapped, min)).total == 0
    assert mapped.can_be_sent


@pytest.mark.parametrize("name", ["lhncbc-lforms_R4_phq9.json", OURS_PHQ9])
def test_an_imported_phq9_keeps_item_9_as_its_risk_item(name):
    imported = instrument_from_fhir_questionnaire(load(name), code="imported")
    assert [(i.number, i.loinc, i.critical_above) for i in imported.critical_items] == [
        (9, "44260-8", 0)
    ]
    assert imported.risk_decision == "items" and imported.can_be_sent
    answers = dict.fromkeys(range(1, 10), 0)
    assert score_answers(imported, answers).risk == "no"
    assert score_answers(imported, {**answers, 9: 3}).risk == "yes"
    assert score_answers(imported, {**answers, 9: None}).risk == "unknown"


def test_the_difficulty_question_is_never_scored_even_with_ordinal_values():
    imported = instrument_from_fhir_questionnaire(load(OURS_PHQ9), code="imported")
    difficulty = imported.items[9]
    assert (difficulty.loinc, difficulty.scored) == ("69722-7", False)
    symptoms = dict.fromkeys(range(1, 10), 1)
    # Symptom sum 9 with "somewhat difficult": the PHQ-9 total stays 9, not 10.
    assert score_answers(imported, {**symptoms, 10: 1}).total == 9
    # Skipping the optional question leaves the form valid.
    skipped = score_answers(imported, symptoms)
    assert skipped.valid and skipped.total == 9


def test_the_lforms_difficulty_question_stays_unscored_when_given_ordinals(lforms_phq9):
    with_ordinals = copy.deepcopy(lforms_phq9)
    for value, option in enumerate(with_ordinals["item"][10]["answerOption"]):
        option["extension"] = [{"url": ORDINAL, "valueDecimal": value}]
    imported = instrument_from_fhir_questionnaire(with_ordinals, code="imported")
    assert imported.max_total == 27 and len(imported.scored_items) == 9


def test_a_questionnaire_without_a_known_risk_item_waits_for_a_risk_decision(uwcirg_gad7):
    imported = instrument_from_fhir_questionnaire(uwcirg_gad7)
    assert imported.risk_decision == "pending"
    assert imported.has_item_text and not imported.can_be_sent
    stored = instrument_to_dict(imported)
    assert instrument_from_dict({**stored, "risk_decision": "none"}).can_be_sent


def test_a_clinic_can_name_its_own_risk_items_by_loinc(uwcirg_gad7):
    # GAD-7 item 7, "feeling afraid as if something awful might happen", as a clinic's choice.
    imported = instrument_from_fhir_questionnaire(uwcirg_gad7, risk_loinc={"69736-7": 1})
    assert [(i.number, i.critical_above) for i in imported.critical_items] == [(7, 1)]
    assert imported.risk_decision == "items" and imported.can_be_sent
    assert score_answers(imported, [0, 0, 0, 0, 0, 0, 2]).risk == "yes"


@pytest.mark.parametrize(
    ("decision", "message"),
    [
        ("items", 'risk_decision is "items" but no item has critical_above'),
        ("maybe", "risk_decision 'maybe' must be one of items, none, pending"),
    ],
)
def test_a_risk_decision_must_be_known_and_agree_with_the_marked_items(decision, message):
    definition = instrument_to_dict(get_instrument("gad7"))
    definition["risk_decision"] = decision
    errors = validate_definition(definition)
    assert any(error.startswith(message) for error in errors), errors


@pytest.mark.parametrize("decision", ["pending", "none"])
def test_marking_a_risk_item_is_itself_the_risk_decision(uwcirg_gad7, decision):
    definition = instrument_to_dict(instrument_from_fhir_questionnaire(uwcirg_gad7))
    definition["risk_decision"] = decision
    definition["items"][6]["critical_above"] = 1
    instrument = instrument_from_dict(definition)
    assert instrument.risk_decision == "items" and instrument.can_be_sent


def test_a_definition_stored_before_risk_decisions_existed_reads_as_decided():
    definition = instrument_to_dict(get_instrument("gad7"))
    del definition["risk_decision"]
    assert instrument_from_dict(definition).risk_decision == "none"
    assert get_instrument("phq9").risk_decision == "items"


def test_a_contained_value_set_is_found_by_its_canonical_url(lforms_phq9):
    questionnaire = copy.deepcopy(lforms_phq9)
    first = questionnaire["item"][0]
    value_set = {
        "resourceType": "ValueSet",
        "id": "frequency",
        "url": "http://example.org/ValueSet/frequency",
        "version": "2",
        "expansion": {
            "contains": [
                {**option["valueCoding"], "extension": option["extension"][1:]}
                for option in first.pop("answerOption")
            ]
        },
    }
    questionnaire["contained"] = [value_set]
    for reference in ("#frequency", value_set["url"], f"{value_set['url']}|2"):
        first["answerValueSet"] = reference
        item = instrument_from_fhir_questionnaire(questionnaire).items[0]
        assert item.values == (0, 1, 2, 3), reference
    first["answerValueSet"] = f"{value_set['url']}|3"
    assert "not a ValueSet contained in the Questionnaire" in import_errors(questionnaire)[0]


def test_a_questionnaire_with_too_many_items_is_refused_before_reading_them_all():
    items = [choice_item(f"q{n}", TWO_OPTIONS) for n in range(MAX_QUESTIONNAIRE_ITEMS + 1)]
    assert import_errors(simple_questionnaire(items)) == [
        f"the Questionnaire has more than {MAX_QUESTIONNAIRE_ITEMS} items; none was imported"
    ]
    nested = simple_questionnaire(
        [{"linkId": "g", "type": "group", "item": items[:MAX_QUESTIONNAIRE_ITEMS]}]
    )
    assert import_errors(nested)[0].startswith("the Questionnaire has more than")
    assert (
        len(
            instrument_from_fhir_questionnaire(
                simple_questionnaire(items[:MAX_QUESTIONNAIRE_ITEMS])
            ).items
        )
        == MAX_QUESTIONNAIRE_ITEMS
    )


def test_a_phq9_valued_one_to_four_is_refused_as_the_builtin_naming_it(lforms_phq9):
    shifted = copy.deepcopy(lforms_phq9)
    for item in shifted["item"][:9]:
        for option in item["answerOption"]:
            option["extension"][1]["valueDecimal"] += 1
    # Refused at import: a Questionnaire that declares the PHQ-9's panel code must be the PHQ-9.
    messages = import_errors(shifted, code="imported")
    assert len(messages) == 10
    assert "remove that panel code" in messages[-1]
    assert messages[0] == (
        "not the Patient Health Questionnaire-9 (PHQ-9) (LOINC 44249-1): item '/44250-9' "
        "(LOINC 44250-9) is valued 1–4, the published instrument 0–3"
    )


def test_a_phq9_missing_its_risk_item_is_not_mapped_to_the_builtin(lforms_phq9):
    short = copy.deepcopy(lforms_phq9)
    del short["item"][8]
    assert import_errors(short, code="imported")[:-1] == [
        "not the Patient Health Questionnaire-9 (PHQ-9) (LOINC 44249-1): its item 9 "
        "(LOINC 44260-8) is missing"
    ]


# --- HL7 International's own PHQ-9 Questionnaires (CC0; see SOURCES.md) ----------------------
# The FHIR R4 specification's example and two of the SDC implementation guide's. None of the three
# is the PHQ-9 as published, and each is refused naming it: the R4 example (and the SDC "cqf"
# variant built from it) lacks item 9 and scores a "difficulty" question coded 44256-6; the SDC
# profile example weighs "nearly every day" 4, so its total would run to 36 on bands made for 27.

HL7_R4_PHQ9 = "hl7-fhir-r4-examples_Questionnaire-phq-9-questionnaire.json"
HL7_SDC_PHQ9 = "hl7-fhir-uv-sdc_Questionnaire-questionnaire-sdc-profile-example-PHQ9.json"
HL7_SDC_CQF_PHQ9 = "hl7-fhir-uv-sdc_Questionnaire-questionnaire-sdc-profile-example-cqf-PHQ9.json"
PHQ9_NAME = "Patient Health Questionnaire-9 (PHQ-9) (LOINC 44249-1)"


@pytest.mark.parametrize("name", [HL7_R4_PHQ9, HL7_SDC_CQF_PHQ9])
def test_hl7s_phq9_without_item_9_is_refused_naming_the_phq9(name):
    messages = import_errors(load(name), code="imported")
    # The answers come from LOINC's answer list LL358-3 by URL and the CQL total is skipped: what
    # is left to say is what makes it not the PHQ-9.
    assert messages[:-1] == [
        f"not the {PHQ9_NAME}: its item 9 (LOINC 44260-8) is missing",
        f"not the {PHQ9_NAME}: item 'Difficulty' is scored but is not one of its items",
    ]
    assert "LOINC panel code 44249-1" in messages[-1]


def test_hl7s_phq9_answer_list_by_url_and_cql_total_are_understood():
    """With item 9 put back (answers from LOINC's list, as the other eight) and the difficulty
    question given its LOINC code, the R4 example is the PHQ-9: 0–27, item 9 the risk item."""
    questionnaire = load(HL7_R4_PHQ9)
    items = questionnaire["item"]
    difficulty = items.pop()
    total = items.pop()
    assert total["type"] == "integer" and "cqf-expression" in total["extension"][0]["url"]
    items.append({**items[0], "linkId": "Thoughts", "code": [{"code": "44260-8"}]})
    items.append(total)
    items.append({**difficulty, "code": [{"system": "http://loinc.org", "code": "69722-7"}]})
    imported = instrument_from_fhir_questionnaire(questionnaire, code="imported")
    assert (imported.min_total, imported.max_total, imported.loinc_total) == (0, 27, "44261-6")
    assert [o.code for o in imported.items[0].options] == [
        "LA6568-5",
        "LA6569-3",
        "LA6570-1",
        "LA6571-9",
    ]
    assert [i.number for i in imported.critical_items] == [9]
    assert imported.items[9].scored is False
    assert score_answers(imported, extremes(imported, max)).total == 27
    assert mapped_to_builtin(imported, code="imported").can_be_sent


def test_the_sdc_phq9_weighted_zero_to_four_is_refused_naming_the_phq9_by_its_title():
    messages = import_errors(load(HL7_SDC_PHQ9), code="imported")
    assert messages[0] == (
        f"not the {PHQ9_NAME}: item 'H1/T1/Q1' (its item 1 by position) is valued 0–4, the "
        "published instrument 0–3"
    )
    assert len(messages) == 10  # nine items, and why the title matters
    assert "Patient Health Questionnaire - 9 Item" in messages[-1]


def test_the_sdc_phq9_with_published_weights_maps_by_position_with_item_9_as_risk():
    """Its weights sit in R5's expansion property extension; once "nearly every day" weighs 3 it
    is the PHQ-9 as published, recognised by title (it has no codes), item 9 its risk item."""
    questionnaire = load(HL7_SDC_PHQ9)
    weight = questionnaire["contained"][0]["expansion"]["contains"][3]["extension"][0]
    weight["extension"][1]["valueDecimal"] = 3
    imported = instrument_from_fhir_questionnaire(questionnaire, code="imported")
    assert (len(imported.scored_items), imported.min_total, imported.max_total) == (9, 0, 27)
    assert imported.risk_decision == "pending"  # nothing in the file says which item is risk
    assert builtin_code_for(imported) == "phq9"
    mapped = mapped_to_builtin(imported, code="imported")
    assert [(i.number, i.link_id, i.critical_above) for i in mapped.critical_items] == [
        (9, "H1/T1/Q9", 0)
    ]
    answers = dict.fromkeys(range(1, 10), 0)
    assert score_answers(mapped, {**answers, 9: 1}).risk == "yes"
    assert score_answers(mapped, extremes(mapped, max)).band == "severe"
