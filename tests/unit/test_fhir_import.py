"""Importing FHIR R4 Questionnaires written elsewhere (fixtures: LHNCBC lforms PHQ-9 and uwcirg
GAD-7, copied byte for byte, see tests/fixtures/clinical/fhir/SOURCES.md) and malformed variants.
"""

import copy
import json
from pathlib import Path

import pytest

from outcomes.instruments import (
    QuestionnaireImportError,
    get_instrument,
    instrument_from_dict,
    instrument_from_fhir_questionnaire,
    instrument_to_dict,
)
from outcomes.scoring import score_answers

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
