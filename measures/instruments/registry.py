"""Instrument definitions as JSON: loading the built-ins, validating and (de)serialising.

The built-in definitions live in ``measures/instruments/data/<code>.json``. The Django layer
stores custom or imported definitions with :func:`instrument_to_dict` and rebuilds them with
:func:`instrument_from_dict`; both sides go through :func:`validate_definition`, so a broken
definition is refused with messages that name the item and the problem.

Definition files may declare ``option_sets`` once and refer to them by name from each item
(``"options": "frequency"``); :func:`instrument_to_dict` always writes the options out in full.
"""

from __future__ import annotations

import json
import re
from functools import cache
from importlib import resources
from typing import Any

from measures.instruments.definition import (
    DIRECTIONS,
    ITEM_KINDS,
    RISK_DECISIONS,
    Band,
    Instrument,
    Item,
    Norms,
    Option,
    decimals_of,
)

FORMAT_VERSION = 1
BUILTIN_CODES: tuple[str, ...] = (
    "phq9",
    "gad7",
    "who5",
    "k10",
    "session_rating",
    "ors",
    "srs",
    "core10",
    "oq45",
)
_CODE_PATTERN = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
# A visual-analogue line is read to a millimetre at best; finer steps are noise, and whole
# numbers of steps keep totals exact (summed in integer units of the step).
MAX_STEP_DECIMALS = 2
_NORM_FIELDS = ("clinical_mean", "clinical_sd", "functional_mean", "functional_sd", "reliability")


class InvalidDefinitionError(ValueError):
    """A definition that cannot be used; ``messages`` lists every problem found."""

    def __init__(self, messages: list[str]):
        self.messages = list(messages)
        super().__init__("invalid instrument definition: " + "; ".join(self.messages))


def _is_int(value: Any) -> bool:
    # bool is an int subclass in Python, but True is never a meaningful answer value.
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _item_name(position: int, raw_item: Any) -> str:
    if isinstance(raw_item, dict):
        number = raw_item.get("number", position + 1)
        link_id = raw_item.get("link_id")
        if link_id:
            return f"item {number} ({link_id})"
        return f"item {number}"
    return f"item at position {position + 1}"


def _resolve_options(raw_item: dict, option_sets: dict) -> Any:
    options = raw_item.get("options")
    if isinstance(options, str):
        return option_sets.get(options, options)
    return options


def _total_range(definition: dict, option_sets: dict) -> tuple[float, float] | None:
    low = high = 0
    decimals = 0
    for raw_item in definition.get("items") or []:
        if not isinstance(raw_item, dict) or not raw_item.get("scored", True):
            continue
        if raw_item.get("kind") == "continuous":
            if _continuous_errors("item", raw_item):
                return None
            low += raw_item["min"]
            high += raw_item["max"]
            decimals = max(decimals, decimals_of(raw_item["step"]))
            continue
        options = _resolve_options(raw_item, option_sets)
        if not isinstance(options, list) or not options:
            return None
        values = [o.get("value") for o in options if isinstance(o, dict)]
        if not values or not all(_is_int(v) for v in values):
            return None
        # Reverse keying mirrors values inside the same range, so the range is unchanged.
        low += min(values)
        high += max(values)
    multiplier = definition.get("total_multiplier", 1)
    if not _is_int(multiplier):
        return None
    if decimals:
        return round(low * multiplier, decimals), round(high * multiplier, decimals)
    return low * multiplier, high * multiplier


def _continuous_errors(name: str, raw_item: dict) -> list[str]:
    """A continuous item: numbers min < max, a positive step that divides the range."""
    low, high, step = raw_item.get("min"), raw_item.get("max"), raw_item.get("step")
    if not (_is_number(low) and _is_number(high) and low < high):
        return [f"{name}: a continuous item needs numbers min < max"]
    if not _is_number(step) or step <= 0:
        return [f"{name}: a continuous item needs a positive step (e.g. 0.1)"]
    if decimals_of(step) > MAX_STEP_DECIMALS:
        return [f"{name}: step {step} is finer than {10**-MAX_STEP_DECIMALS}"]
    scale = 10 ** decimals_of(step)
    units = round(step * scale)
    if any(
        abs(v * scale - round(v * scale)) > 1e-9 or round(v * scale) % units for v in (low, high)
    ):
        return [f"{name}: min {low} and max {high} must be whole steps of {step}"]
    return []


def validate_definition(definition: Any) -> list[str]:
    """Return every problem with a definition dict, each naming the item and the problem.

    An empty list means :func:`instrument_from_dict` will accept it.
    """
    if not isinstance(definition, dict):
        return ["the definition must be a JSON object"]
    errors: list[str] = []

    code = definition.get("code")
    if not isinstance(code, str) or not _CODE_PATTERN.match(code):
        errors.append(
            f"code {code!r} must be lower-case letters, digits and underscores, "
            "starting with a letter"
        )
    for key in ("name", "version"):
        if not isinstance(definition.get(key), str) or not definition.get(key).strip():
            errors.append(f"{key} must be a non-empty string")
    if definition.get("direction") not in DIRECTIONS:
        errors.append(
            f"direction {definition.get('direction')!r} must be one of {', '.join(DIRECTIONS)}"
        )

    option_sets = definition.get("option_sets") or {}
    if not isinstance(option_sets, dict):
        errors.append("option_sets must be an object mapping a name to a list of options")
        option_sets = {}

    raw_items = definition.get("items")
    if not isinstance(raw_items, list) or not raw_items:
        errors.append("items must be a non-empty list")
        raw_items = []

    has_item_text = definition.get("has_item_text", True)
    seen_numbers: set[Any] = set()
    seen_link_ids: set[Any] = set()
    scored_count = 0
    for position, raw_item in enumerate(raw_items):
        name = _item_name(position, raw_item)
        if not isinstance(raw_item, dict):
            errors.append(f"{name}: must be an object")
            continue
        number = raw_item.get("number")
        if not _is_int(number) or number < 1:
            errors.append(f"{name}: number must be a positive integer")
        elif number in seen_numbers:
            errors.append(f"{name}: number {number} is used by another item")
        elif number != position + 1:
            errors.append(f"{name}: items must be numbered 1, 2, 3 … in order")
        seen_numbers.add(number)

        link_id = raw_item.get("link_id")
        if not isinstance(link_id, str) or not link_id.strip():
            errors.append(f"{name}: link_id must be a non-empty string")
        elif link_id in seen_link_ids:
            errors.append(f"{name}: link_id {link_id!r} is used by another item")
        seen_link_ids.add(link_id)

        text = raw_item.get("text")
        if text is not None and (not isinstance(text, str) or not text.strip()):
            errors.append(f"{name}: text must be a non-empty string or null")
        if has_item_text and not text:
            errors.append(f"{name}: has no text, but has_item_text is true")

        for flag in ("scored", "reverse"):
            if not isinstance(raw_item.get(flag, flag == "scored"), bool):
                errors.append(f"{name}: {flag} must be true or false")
        if raw_item.get("scored", True) is True:
            scored_count += 1

        kind = raw_item.get("kind", "choice")
        if kind not in ITEM_KINDS:
            errors.append(f"{name}: kind {kind!r} must be one of {', '.join(ITEM_KINDS)}")
            continue
        if kind == "continuous":
            errors.extend(_continuous_item_errors(name, raw_item, has_item_text))
            continue
        raw_options = raw_item.get("options")
        options = _resolve_options(raw_item, option_sets)
        if isinstance(raw_options, str) and isinstance(options, str):
            errors.append(f"{name}: refers to an unknown option set {options!r}")
            continue
        if not isinstance(options, list) or len(options) < 2:
            errors.append(f"{name}: needs a list of at least two answer options")
            continue
        values: list[int] = []
        for option_position, option in enumerate(options, start=1):
            if not isinstance(option, dict):
                errors.append(f"{name}: option {option_position} must be an object")
                continue
            value = option.get("value")
            if not _is_int(value):
                errors.append(
                    f"{name}: option {option_position} has value {value!r}; values must be whole"
                    " numbers"
                )
                continue
            if value in values:
                errors.append(f"{name}: answer value {value} appears more than once")
            values.append(value)
            if not isinstance(option.get("label"), str) or not option.get("label").strip():
                errors.append(f"{name}: option {option_position} needs a label")
            if option.get("code") is not None and not isinstance(option.get("code"), str):
                errors.append(f"{name}: option {option_position} code must be a string")

        critical_above = raw_item.get("critical_above")
        if critical_above is not None:
            if not _is_int(critical_above):
                errors.append(f"{name}: critical_above must be a whole number or null")
            elif values and not (min(values) <= critical_above < max(values)):
                errors.append(
                    f"{name}: critical_above {critical_above} can never be exceeded by answers "
                    f"{min(values)}–{max(values)} (or is always exceeded)"
                )
        for key in ("subscale", "loinc"):
            if raw_item.get(key) is not None and not isinstance(raw_item.get(key), str):
                errors.append(f"{name}: {key} must be a string or null")

    if raw_items and scored_count == 0:
        errors.append("at least one item must be scored")
    errors.extend(_risk_decision_errors(definition, raw_items))

    max_missing = definition.get("max_missing", 0)
    if not _is_int(max_missing) or max_missing < 0:
        errors.append("max_missing must be a whole number ≥ 0")
    elif scored_count and max_missing >= scored_count:
        errors.append(f"max_missing {max_missing} must be smaller than the {scored_count} items")
    multiplier = definition.get("total_multiplier", 1)
    if not _is_int(multiplier) or multiplier < 1:
        errors.append("total_multiplier must be a whole number ≥ 1")

    for key in ("caseness_cutoff", "reliable_change", "drop_alert_points"):
        value = definition.get(key)
        if value is not None and not _is_number(value):
            errors.append(f"{key} must be a number or null")
    reliable_change = definition.get("reliable_change")
    if _is_number(reliable_change) and reliable_change <= 0:
        errors.append("reliable_change must be positive")
    alert = definition.get("item_alert_at_or_below")
    if alert is not None and not _is_int(alert):
        errors.append("item_alert_at_or_below must be a whole number or null")

    norms = definition.get("norms") or {}
    if not isinstance(norms, dict):
        errors.append("norms must be an object")
        norms = {}
    for key, value in norms.items():
        if key not in _NORM_FIELDS:
            errors.append(f"norms: unknown field {key!r}")
        elif value is not None and not _is_number(value):
            errors.append(f"norms: {key} must be a number or null")
    reliability = norms.get("reliability")
    if _is_number(reliability) and not 0 < reliability < 1:
        errors.append("norms: reliability must lie between 0 and 1")
    for key in ("clinical_sd", "functional_sd"):
        if _is_number(norms.get(key)) and norms[key] <= 0:
            errors.append(f"norms: {key} must be positive")

    total_range = _total_range(definition, option_sets)
    if total_range is not None:
        for key, computed in zip(("min_total", "max_total"), total_range, strict=True):
            given = definition.get(key)
            if given is not None and given != computed:
                errors.append(f"{key} is {given} but the items add up to {computed}")
    errors.extend(_band_errors(definition.get("bands") or [], total_range))

    sources = definition.get("sources", [])
    if not isinstance(sources, list) or not all(isinstance(s, str) for s in sources):
        errors.append("sources must be a list of strings")
    return errors


def _continuous_item_errors(name: str, raw_item: dict, has_item_text: bool) -> list[str]:
    errors = _continuous_errors(name, raw_item)
    if raw_item.get("options"):
        errors.append(f"{name}: a continuous item has anchors, not options")
    anchors = raw_item.get("anchors")
    if anchors is not None and not (
        isinstance(anchors, list)
        and len(anchors) == 2
        and all(isinstance(a, str) and a.strip() for a in anchors)
    ):
        errors.append(f"{name}: anchors must be two labels, for the low and the high end")
    elif anchors is None and has_item_text:
        errors.append(f"{name}: has no anchors, but has_item_text is true")
    critical_above = raw_item.get("critical_above")
    if critical_above is not None and not errors:
        if not _is_number(critical_above):
            errors.append(f"{name}: critical_above must be a number or null")
        elif not raw_item["min"] <= critical_above < raw_item["max"]:
            errors.append(
                f"{name}: critical_above {critical_above} can never be exceeded by answers "
                f"{raw_item['min']}–{raw_item['max']} (or is always exceeded)"
            )
    for key in ("subscale", "loinc"):
        if raw_item.get(key) is not None and not isinstance(raw_item.get(key), str):
            errors.append(f"{name}: {key} must be a string or null")
    return errors


def _risk_decision(definition: dict) -> str:
    # Marking a risk item is itself the decision; definitions written before the field existed
    # without one had decided there was none.
    if any(
        isinstance(i, dict) and i.get("critical_above") is not None for i in definition["items"]
    ):
        return "items"
    return definition.get("risk_decision") or "none"


def _risk_decision_errors(definition: dict, raw_items: list) -> list[str]:
    decision = definition.get("risk_decision")
    if decision is None:
        return []
    if decision not in RISK_DECISIONS:
        return [f"risk_decision {decision!r} must be one of {', '.join(RISK_DECISIONS)}"]
    marked = any(isinstance(i, dict) and i.get("critical_above") is not None for i in raw_items)
    if decision == "items" and not marked:
        return [
            'risk_decision is "items" but no item has critical_above: mark the risk item, or '
            'set risk_decision to "none" if the instrument has none'
        ]
    return []


def _band_errors(raw_bands: Any, total_range: tuple[float, float] | None) -> list[str]:
    if not isinstance(raw_bands, list):
        return ["bands must be a list"]
    errors: list[str] = []
    previous_high = None
    for position, band in enumerate(raw_bands, start=1):
        if not isinstance(band, dict):
            errors.append(f"band {position}: must be an object")
            continue
        low, high, label = band.get("low"), band.get("high"), band.get("label")
        if not (_is_number(low) and _is_number(high)) or low > high:
            errors.append(f"band {position} ({label}): needs numbers low ≤ high")
            continue
        if not isinstance(label, str) or not label.strip():
            errors.append(f"band {position}: needs a label")
        if previous_high is not None and low <= previous_high:
            errors.append(f"band {position} ({label}): overlaps the band before it")
        if total_range is not None and (low < total_range[0] or high > total_range[1]):
            errors.append(
                f"band {position} ({label}): {low}–{high} lies outside the possible totals "
                f"{total_range[0]}–{total_range[1]}"
            )
        previous_high = high
    return errors


def instrument_from_dict(definition: dict) -> Instrument:
    """Build an :class:`Instrument` from its JSON form; raise InvalidDefinitionError if broken."""
    errors = validate_definition(definition)
    if errors:
        raise InvalidDefinitionError(errors)
    option_sets = definition.get("option_sets") or {}
    items = []
    for raw_item in definition["items"]:
        if raw_item.get("kind") == "continuous":
            anchors = raw_item.get("anchors")
            items.append(
                Item(
                    number=raw_item["number"],
                    link_id=raw_item["link_id"],
                    text=raw_item.get("text"),
                    options=(),
                    scored=raw_item.get("scored", True),
                    reverse=raw_item.get("reverse", False),
                    critical_above=raw_item.get("critical_above"),
                    subscale=raw_item.get("subscale"),
                    loinc=raw_item.get("loinc"),
                    kind="continuous",
                    minimum=raw_item["min"],
                    maximum=raw_item["max"],
                    step=raw_item["step"],
                    anchors=tuple(a.strip() for a in anchors) if anchors else None,
                )
            )
            continue
        options = _resolve_options(raw_item, option_sets)
        items.append(
            Item(
                number=raw_item["number"],
                link_id=raw_item["link_id"],
                text=raw_item.get("text"),
                options=tuple(
                    Option(value=o["value"], label=o["label"], code=o.get("code")) for o in options
                ),
                scored=raw_item.get("scored", True),
                reverse=raw_item.get("reverse", False),
                critical_above=raw_item.get("critical_above"),
                subscale=raw_item.get("subscale"),
                loinc=raw_item.get("loinc"),
            )
        )
    min_total, max_total = _total_range(definition, option_sets)
    norms = definition.get("norms") or {}
    return Instrument(
        code=definition["code"],
        name=definition["name"],
        version=definition["version"],
        items=tuple(items),
        direction=definition["direction"],
        bands=tuple(
            Band(low=b["low"], high=b["high"], label=b["label"])
            for b in definition.get("bands") or []
        ),
        caseness_cutoff=definition.get("caseness_cutoff"),
        caseness_rule=definition.get("caseness_rule", ""),
        reliable_change=definition.get("reliable_change"),
        norms=Norms(**{key: norms.get(key) for key in _NORM_FIELDS}),
        max_missing=definition.get("max_missing", 0),
        total_multiplier=definition.get("total_multiplier", 1),
        min_total=min_total,
        max_total=max_total,
        licence=definition.get("licence", ""),
        has_item_text=definition.get("has_item_text", True),
        loinc_panel=definition.get("loinc_panel"),
        loinc_total=definition.get("loinc_total"),
        sources=tuple(definition.get("sources", ())),
        instructions=definition.get("instructions"),
        item_alert_at_or_below=definition.get("item_alert_at_or_below"),
        item_alert_label=definition.get("item_alert_label"),
        drop_alert_points=definition.get("drop_alert_points"),
        risk_decision=_risk_decision(definition),
    )


def instrument_to_dict(instrument: Instrument) -> dict:
    """The JSON form of an instrument; ``instrument_from_dict`` rebuilds an equal object."""
    return {
        "format_version": FORMAT_VERSION,
        "code": instrument.code,
        "name": instrument.name,
        "version": instrument.version,
        "direction": instrument.direction,
        "licence": instrument.licence,
        "has_item_text": instrument.has_item_text,
        "instructions": instrument.instructions,
        "loinc_panel": instrument.loinc_panel,
        "loinc_total": instrument.loinc_total,
        "caseness_cutoff": instrument.caseness_cutoff,
        "caseness_rule": instrument.caseness_rule,
        "reliable_change": instrument.reliable_change,
        "max_missing": instrument.max_missing,
        "total_multiplier": instrument.total_multiplier,
        "min_total": instrument.min_total,
        "max_total": instrument.max_total,
        "item_alert_at_or_below": instrument.item_alert_at_or_below,
        "item_alert_label": instrument.item_alert_label,
        "drop_alert_points": instrument.drop_alert_points,
        "risk_decision": instrument.risk_decision,
        "norms": {key: getattr(instrument.norms, key) for key in _NORM_FIELDS},
        "bands": [{"low": b.low, "high": b.high, "label": b.label} for b in instrument.bands],
        "sources": list(instrument.sources),
        "items": [_item_to_dict(item) for item in instrument.items],
    }


def _item_to_dict(item: Item) -> dict:
    shared = {
        "number": item.number,
        "link_id": item.link_id,
        "text": item.text,
        "scored": item.scored,
        "reverse": item.reverse,
        "critical_above": item.critical_above,
        "subscale": item.subscale,
        "loinc": item.loinc,
    }
    if item.continuous:
        return {
            **shared,
            "kind": "continuous",
            "min": item.minimum,
            "max": item.maximum,
            "step": item.step,
            "anchors": list(item.anchors) if item.anchors else None,
        }
    return {
        **shared,
        "options": [{"value": o.value, "label": o.label, "code": o.code} for o in item.options],
    }


def load_definition_file(code: str) -> dict:
    """The raw JSON of a built-in definition (for admins who want to start from a copy)."""
    if code not in BUILTIN_CODES:
        raise KeyError(_unknown_message(code))
    text = (
        resources.files("measures.instruments")
        .joinpath("data", f"{code}.json")
        .read_text(encoding="utf-8")
    )
    return json.loads(text)


def _unknown_message(code: str) -> str:
    return f"unknown instrument code {code!r}; built-in codes are: {', '.join(BUILTIN_CODES)}"


@cache
def _loaded_builtins() -> dict[str, Instrument]:
    return {code: instrument_from_dict(load_definition_file(code)) for code in BUILTIN_CODES}


def builtin_instruments() -> dict[str, Instrument]:
    """Every built-in instrument by code (files are read once; instruments are immutable)."""
    return dict(_loaded_builtins())


def get_instrument(code: str) -> Instrument:
    """The built-in instrument with this code; KeyError naming the known codes otherwise."""
    instruments = _loaded_builtins()
    if code not in instruments:
        raise KeyError(_unknown_message(code))
    return instruments[code]
