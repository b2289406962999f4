"""Licensed text packs for scoring-only instruments. The packs here carry placeholder wording:
no copyrighted item text belongs in this repository, not even in tests."""

import pytest

from measures.instruments import (
    TextPackError,
    apply_text_pack,
    get_instrument,
    text_pack_template,
    validate_text_pack,
)
from measures.scoring import score_answers

CORE10 = get_instrument("core10")


def core10_pack(**overrides):
    pack = {
        "instrument": "core10",
        "version": "1",
        "licence_holder": "Example licence holder",
        "licence_note": "Licensed to Example Clinic",
        "instructions": "Placeholder instructions",
        "items": [
            {
                "number": number,
                "text": f"Placeholder statement {number}",
                "options": ["never", "rarely", "sometimes", "often", "always"],
            }
            for number in range(1, 11)
        ],
    }
    pack.update(overrides)
    return pack


def test_a_complete_pack_makes_the_instrument_sendable():
    licensed = apply_text_pack(CORE10, core10_pack())
    assert licensed.has_item_text and licensed.can_be_sent
    assert licensed.item(4).text == "Placeholder statement 4"
    assert [option.label for option in licensed.item(1).options][0] == "never"
    assert licensed.instructions == "Placeholder instructions"
    assert "Example licence holder" in licensed.licence
    assert "Licensed to Example Clinic" in licensed.licence
    # The built-in definition is untouched (instruments are immutable).
    assert not CORE10.has_item_text


def test_a_pack_never_changes_scoring():
    licensed = apply_text_pack(CORE10, core10_pack())
    answers = [1, 0, 0, 2, 3, 1, 0, 4, 2, 1]
    assert score_answers(licensed, answers) == score_answers(CORE10, answers)
    assert [item.reverse for item in licensed.items] == [item.reverse for item in CORE10.items]
    assert licensed.critical_items == tuple(item for item in licensed.items if item.number == 6)
    assert [option.value for option in licensed.item(2).options] == [0, 1, 2, 3, 4]


def test_option_labels_are_optional():
    pack = core10_pack()
    for entry in pack["items"]:
        del entry["options"]
    licensed = apply_text_pack(CORE10, pack)
    assert [option.label for option in licensed.item(1).options] == ["0", "1", "2", "3", "4"]


def test_a_pack_for_another_instrument_or_version_is_refused():
    messages = validate_text_pack(CORE10, core10_pack(instrument="oq45", version="2"))
    assert messages == [
        "the pack is for 'oq45', not 'core10'",
        "the pack is for version '2'; the definition is version '1'",
    ]


def test_every_problem_with_the_items_is_reported_together():
    pack = core10_pack(licence_holder=" ")
    pack["items"][2]["text"] = ""
    pack["items"][3]["options"] = ["only", "three", "labels"]
    pack["items"][4]["number"] = 11
    pack["items"].append(dict(pack["items"][0]))
    del pack["items"][9]
    with pytest.raises(TextPackError) as excinfo:
        apply_text_pack(CORE10, pack)
    assert excinfo.value.messages == [
        "licence_holder must name who licensed the text",
        "item 3: text must be a non-empty string",
        "item 4: 3 option labels given; the item has 5 options",
        "entry 5: core10 has no item 11",
        "item 1: appears more than once",
        "the pack has text for 8 of 10 items; missing items: 5, 10",
    ]


def test_a_pack_that_is_not_an_object_is_refused():
    assert validate_text_pack(CORE10, ["core10"]) == ["the text pack must be a JSON object"]
    assert "items must be a list" in validate_text_pack(CORE10, core10_pack(items=None))


@pytest.mark.parametrize("code", ["ors", "srs", "core10", "oq45"])
def test_the_template_lists_every_item_and_option_and_fills_in_cleanly(code):
    instrument = get_instrument(code)
    pack = text_pack_template(instrument)
    assert len(pack["items"]) == len(instrument.items)
    # An unfilled template is refused, so nobody ships blank questions by mistake.
    assert validate_text_pack(instrument, pack)
    pack["licence_holder"] = "Example licence holder"
    pack["instructions"] = "Placeholder"
    for entry in pack["items"]:
        entry["text"] = f"Placeholder {entry['number']}"
        entry["options"] = [f"label {n}" for n in range(len(entry["options"]))]
    assert apply_text_pack(instrument, pack).can_be_sent


def test_a_translation_pack_can_replace_free_text_too():
    phq9 = get_instrument("phq9")
    pack = text_pack_template(phq9)
    pack.update(licence_holder="Pfizer Inc. (free to reproduce)", instructions="Übersetzung")
    for entry in pack["items"]:
        entry["text"] = f"Frage {entry['number']}"
        entry["options"] = [f"Antwort {n}" for n in range(4)]
    translated = apply_text_pack(phq9, pack)
    assert translated.item(9).text == "Frage 9"
    assert translated.item(9).critical_above == 0


def _ors_pack(options):
    return {
        "instrument": "ors",
        "version": "adult",
        "licence_holder": "Example licence holder",
        "items": [
            {"number": n, "text": f"Placeholder line {n}", "options": options} for n in range(1, 5)
        ],
    }


def test_an_ors_pack_gives_each_line_its_two_anchors():
    ors = apply_text_pack(get_instrument("ors"), _ors_pack(["placeholder low", "placeholder high"]))
    assert ors.can_be_sent
    assert ors.items[0].anchors == ("placeholder low", "placeholder high")
    assert score_answers(ors, [4.2, 5.0, 3.8, 6.1]).total == 19.1


def test_a_pack_written_for_the_old_0_to_10_points_still_fits_the_lines():
    # Packs loaded before ORS/SRS became lines labelled all 11 points; the ends are the anchors.
    labels = ["placeholder low"] + [str(n) for n in range(1, 10)] + ["placeholder high"]
    ors = apply_text_pack(get_instrument("ors"), _ors_pack(labels))
    assert ors.items[3].anchors == ("placeholder low", "placeholder high")
    assert validate_text_pack(get_instrument("ors"), _ors_pack(["one"])) == [
        f"item {n}: give the two anchors (low end, high end)" for n in range(1, 5)
    ]
