"""Licensed item text for scoring-only instruments (ORS, SRS, CORE-10, OQ-45).

We ship no copyrighted wording. A clinic that holds a licence supplies the text as a JSON text
pack, which the Django layer loads with ``manage.py load_text_pack FILE``::

    {
      "instrument": "core10",            # the instrument code the pack is for
      "version": "1",                    # must equal the instrument definition's version
      "licence_holder": "CORE System Trust",
      "licence_note": "Licensed to Example Clinic, 2025",   # optional
      "name": "CORE-10",                 # optional: replaces the display name
      "instructions": "Over the last week …",               # optional
      "items": [
        {"number": 1, "text": "…", "options": ["Not at all", "Only occasionally", "…"]},
        …
      ]
    }

Every item of the instrument needs exactly one entry. ``options`` is optional; when given it
lists one label per answer option, in the order of the definition's options (for the
scoring-only instruments: printed value 0 first). Scoring never changes: values, reverse keying
and risk items come from the definition, never from the pack.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from measures.instruments.definition import Instrument, Option


class TextPackError(ValueError):
    """The pack does not fit the instrument; ``messages`` lists every problem."""

    def __init__(self, messages: list[str]):
        self.messages = list(messages)
        super().__init__("invalid text pack: " + "; ".join(self.messages))


def _non_empty_string(value: Any) -> bool:
    return isinstance(value, str) and bool(value.strip())


def validate_text_pack(instrument: Instrument, pack: Any) -> list[str]:
    """Every problem with ``pack`` for ``instrument``; an empty list means it can be applied."""
    if not isinstance(pack, dict):
        return ["the text pack must be a JSON object"]
    errors = []
    if pack.get("instrument") != instrument.code:
        errors.append(f"the pack is for {pack.get('instrument')!r}, not {instrument.code!r}")
    if str(pack.get("version")) != instrument.version:
        errors.append(
            f"the pack is for version {pack.get('version')!r}; the definition is version "
            f"{instrument.version!r}"
        )
    if not _non_empty_string(pack.get("licence_holder")):
        errors.append("licence_holder must name who licensed the text")
    for key in ("name", "instructions", "licence_note"):
        if key in pack and not _non_empty_string(pack[key]):
            errors.append(f"{key} must be a non-empty string when given")

    entries = pack.get("items")
    if not isinstance(entries, list):
        return errors + ["items must be a list"]
    known = {item.number: item for item in instrument.items}
    seen: set[int] = set()
    for position, entry in enumerate(entries, start=1):
        if not isinstance(entry, dict):
            errors.append(f"entry {position}: must be an object")
            continue
        number = entry.get("number")
        if isinstance(number, bool) or number not in known:
            errors.append(f"entry {position}: {instrument.code} has no item {number!r}")
            continue
        if number in seen:
            errors.append(f"item {number}: appears more than once")
            continue
        seen.add(number)
        if not _non_empty_string(entry.get("text")):
            errors.append(f"item {number}: text must be a non-empty string")
        labels = entry.get("options")
        if labels is None:
            continue
        expected = len(known[number].options)
        if not isinstance(labels, list) or not all(_non_empty_string(label) for label in labels):
            errors.append(f"item {number}: options must be a list of non-empty labels")
        elif known[number].continuous:
            # A line's "options" are its anchors: [low, high], or the labels of the 0–10 points
            # of packs written before ORS/SRS became lines, whose first and last are the anchors.
            if len(labels) < 2:
                errors.append(f"item {number}: give the two anchors (low end, high end)")
        elif len(labels) != expected:
            errors.append(
                f"item {number}: {len(labels)} option labels given; the item has {expected} options"
            )
    missing = sorted(set(known) - seen)
    if missing:
        errors.append(
            f"the pack has text for {len(seen)} of {len(known)} items; missing items: "
            + ", ".join(str(number) for number in missing)
        )
    return errors


def apply_text_pack(instrument: Instrument, pack: dict) -> Instrument:
    """A copy of ``instrument`` with the pack's text; raises TextPackError if it does not fit."""
    errors = validate_text_pack(instrument, pack)
    if errors:
        raise TextPackError(errors)
    entries = {entry["number"]: entry for entry in pack["items"]}
    items = []
    for item in instrument.items:
        entry = entries[item.number]
        options = item.options
        if item.continuous:
            labels = entry.get("options")
            anchors = (labels[0].strip(), labels[-1].strip()) if labels else item.anchors
            items.append(dataclasses.replace(item, text=entry["text"].strip(), anchors=anchors))
            continue
        if entry.get("options") is not None:
            options = tuple(
                Option(value=option.value, label=label.strip(), code=option.code)
                for option, label in zip(item.options, entry["options"], strict=True)
            )
        items.append(dataclasses.replace(item, text=entry["text"].strip(), options=options))
    licence = f"{instrument.licence} Item text licensed from {pack['licence_holder'].strip()}."
    if pack.get("licence_note"):
        licence += f" {pack['licence_note'].strip()}"
    return dataclasses.replace(
        instrument,
        items=tuple(items),
        has_item_text=True,
        name=pack.get("name", instrument.name),
        instructions=pack.get("instructions", instrument.instructions),
        licence=licence.strip(),
    )


def text_pack_template(instrument: Instrument) -> dict:
    """An empty pack for ``instrument``, for a clinic to fill in from its licensed copy."""
    return {
        "instrument": instrument.code,
        "version": instrument.version,
        "licence_holder": "",
        "instructions": "",
        "items": [
            {
                "number": item.number,
                "text": "",
                "options": ["", ""] if item.continuous else ["" for _ in item.options],
            }
            for item in instrument.items
        ],
    }
