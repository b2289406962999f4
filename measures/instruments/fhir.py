"""Import a FHIR R4 ``Questionnaire`` (JSON) as an :class:`Instrument`.

What is read:

* Question items of type ``choice``/``open-choice`` (and R5 ``coding``) become items, in document
  order; ``group`` items are flattened (their children keep their order); ``display`` items are
  skipped.
* Answer values come from the ordinal extension ``http://hl7.org/fhir/StructureDefinition/
  ordinalValue`` (R4), ``…/itemWeight`` (R5/SDC) or the older ``…/iso21090-CO-value``, placed on
  the ``answerOption`` or on its ``valueCoding``; an ``answerOption.valueInteger`` is its own value.
  Answers in a contained ValueSet (``answerValueSet: "#id"``) are read from its expansion or its
  ``compose.include.concept`` list, with weights from the concept extension or from a contained
  CodeSystem's ``itemWeight`` property.
* An item whose options carry no values at all (the PHQ-9 "difficulty" question in the LHNCBC
  file) is imported as asked-but-unscored, its options numbered 0, 1, 2 … in order.
* Items computed by an SDC ``calculatedExpression`` or a CQF ``cqf-expression`` (FHIRPath or CQL
  totals) are ignored: we compute totals ourselves. The total item's LOINC code becomes
  ``loinc_total``. LOINC's answer list LL358-3, referred to by URL, is known.
* A Questionnaire that names itself the PHQ-9 or GAD-7 (LOINC panel code, or title) must be it as
  published, or it is refused naming it.
* Codes are LOINC when the system is ``http://loinc.org``, or absent and the code has LOINC's
  ``digits-checkdigit`` shape (the uwcirg GAD-7 file omits the system).

Anything else (free-text, date or boolean questions, repeating answers, non-whole or partial
ordinal values, answer sets outside the resource) is refused with
:class:`QuestionnaireImportError`, whose ``messages`` each name the item's ``linkId`` and the
problem. Direction, bands, caseness and reliable change are not part of a Questionnaire: the
clinic adds them to the imported definition.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from measures.instruments.definition import Instrument
from measures.instruments.registry import (
    get_instrument,
    instrument_from_dict,
    instrument_to_dict,
    validate_definition,
)

LOINC_SYSTEM = "http://loinc.org"
ORDINAL_EXTENSIONS = (
    "http://hl7.org/fhir/StructureDefinition/ordinalValue",
    "http://hl7.org/fhir/StructureDefinition/itemWeight",
    "http://hl7.org/fhir/StructureDefinition/iso21090-CO-value",
)
CALCULATED_EXPRESSION = (
    "http://hl7.org/fhir/uv/sdc/StructureDefinition/sdc-questionnaire-calculatedExpression"
)
# Items computed rather than asked: the SDC calculatedExpression, and the older CQF
# ``cqf-expression`` that the FHIR R4 specification's own PHQ-9 example uses for its total.
CALCULATED_EXTENSIONS = (
    CALCULATED_EXPRESSION,
    "http://hl7.org/fhir/StructureDefinition/cqf-expression",
)
# R5's ValueSet.expansion.contains.property carried into R4 as an extension (the SDC IG's PHQ-9
# example gives its answers' weights this way).
EXPANSION_PROPERTY_EXTENSION = (
    "http://hl7.org/fhir/5.0/StructureDefinition/extension-ValueSet.expansion.contains.property"
)
WEIGHT_PROPERTIES = ("itemWeight", "ordinalValue", "weight")
CHOICE_TYPES = ("choice", "open-choice", "coding")
_LOINC_SHAPE = re.compile(r"^\d{1,8}-\d$")

# Questions that are asked but never part of any total, whatever ordinals their answers carry:
# the PHQ-9 "how difficult have these problems made it…" item (LOINC 69722-7) is excluded from
# the 0–27 total by Kroenke, Spitzer & Williams 2001 and by its own Questionnaires' FHIRPath.
NEVER_SCORED_LOINC = frozenset({"69722-7"})
# Risk items known by LOINC, with the answer value above which they signal risk, None meaning
# "any answer but the lowest" whatever the numbering: PHQ-9 item 9 ("thoughts that you would be
# better off dead…", 44260-8), any answer but "not at all" (Kroenke et al. 2001). A clinic can
# name more (``risk_loinc``).
KNOWN_RISK_LOINC: dict[str, int | None] = {"44260-8": None}
# Built-in instruments recognised by their LOINC panel code (CLINICAL.md §1 LOINC codes).
BUILTIN_BY_LOINC_PANEL: dict[str, str] = {"44249-1": "phq9", "69737-5": "gad7"}
# ... or, where a Questionnaire declares no panel code, by the name it gives itself. Used only to
# refuse a Questionnaire that calls itself the PHQ-9 or GAD-7 but is not it as published (the
# HL7 SDC IG's PHQ-9 example weighs "nearly every day" 4, totalling 36): scored on the PHQ-9's
# bands by a reader who trusts the title, it would mislead.
BUILTIN_BY_TITLE: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"\bPHQ-?9\b|patient health questionnaire\W*(9|nine)\b", re.IGNORECASE), "phq9"),
    (
        re.compile(r"\bGAD-?7\b|generali[sz]ed anxiety disorder\W*(7|seven)\b", re.IGNORECASE),
        "gad7",
    ),
)
# LOINC answer lists that Questionnaires refer to by URL without containing them, with the values
# their instruments score. LL358-3 ("Not at all" … "Nearly every day") is the answer list of every
# PHQ-9 (44249-1) and GAD-7 (69737-5) symptom item in LOINC, scored 0–3 (Kroenke, Spitzer &
# Williams 2001; Spitzer et al. 2006). The FHIR R4 specification's PHQ-9 example refers to it so.
KNOWN_ANSWER_LISTS: dict[str, tuple[tuple[str, str, int], ...]] = {
    "http://loinc.org/vs/LL358-3": (
        ("LA6568-5", "Not at all", 0),
        ("LA6569-3", "Several days", 1),
        ("LA6570-1", "More than half the days", 2),
        ("LA6571-9", "Nearly every day", 3),
    ),
}
# One limit for every door in (admin upload, management command, parsed JSON): the largest real
# instruments have a few hundred questions (OQ-45 has 45, MMPI-2-RF 338); 37,000 is an attack or
# an accident, and every item becomes a form field and a database value per response.
MAX_QUESTIONNAIRE_BYTES = 5 * 1024 * 1024
MAX_QUESTIONNAIRE_ITEMS = 500


class QuestionnaireImportError(ValueError):
    """The Questionnaire cannot become an instrument; ``messages`` name the linkId and problem."""

    def __init__(self, messages: list[str]):
        self.messages = list(messages)
        super().__init__("cannot import Questionnaire: " + "; ".join(self.messages))


def _ordinal(element: dict) -> Any:
    for extension in element.get("extension") or []:
        if extension.get("url") in ORDINAL_EXTENSIONS:
            for key in ("valueDecimal", "valueInteger"):
                if key in extension:
                    return extension[key]
    return None


def _loinc(codings: list | None) -> str | None:
    for coding in codings or []:
        code = (coding.get("code") or "").strip()
        system = coding.get("system")
        if system == LOINC_SYSTEM or (system is None and _LOINC_SHAPE.match(code)):
            return code
    return None


def _slug(text: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")
    if not slug or not slug[0].isalpha():
        slug = f"q_{slug}"
    return slug[:64]


class _TooManyItems(Exception):
    pass


class _Importer:
    def __init__(self, questionnaire: dict, risk_loinc: Mapping[str, int | None]):
        self.questionnaire = questionnaire
        self.risk_loinc = risk_loinc
        self.errors: list[str] = []
        self.contained = {
            resource.get("id"): resource
            for resource in questionnaire.get("contained") or []
            if isinstance(resource, dict)
        }
        self.items: list[dict] = []
        self.loinc_total: str | None = None
        self.items_seen = 0

    def walk(self, items: list) -> None:
        if not isinstance(items, list):
            self.errors.append("an item list is not a JSON array")
            return
        for item in items:
            # Every node counts (groups and display items too): the limit bounds the work done.
            self.items_seen += 1
            if self.items_seen > MAX_QUESTIONNAIRE_ITEMS:
                raise _TooManyItems
            if not isinstance(item, dict):
                self.errors.append("an item is not a JSON object")
                continue
            link_id = item.get("linkId") or "(no linkId)"
            item_type = item.get("type")
            if item_type == "display":
                continue
            if item_type == "group":
                self.walk(item.get("item") or [])
                continue
            if any(e.get("url") in CALCULATED_EXTENSIONS for e in item.get("extension") or []):
                # A computed total (FHIRPath or CQL): ignored, we score ourselves.
                self.loinc_total = self.loinc_total or _loinc(item.get("code"))
                continue
            if item_type not in CHOICE_TYPES:
                self.errors.append(
                    f"item {link_id!r}: type {item_type!r} cannot be scored; only choice items "
                    "with ordinal values can be imported"
                )
                continue
            if not item.get("linkId"):
                self.errors.append("a choice item has no linkId")
                continue
            if item.get("repeats"):
                self.errors.append(
                    f"item {link_id!r}: allows several answers (repeats), which cannot be scored"
                )
                continue
            self.add_choice_item(item)
            # Questions may nest follow-up questions; they are asked in document order.
            self.walk(item.get("item") or [])

    def add_choice_item(self, item: dict) -> None:
        link_id = item["linkId"]
        options = self.options_for(item)
        if options is None:
            return
        if not options:
            self.errors.append(f"item {link_id!r}: has no answer options")
            return
        loinc = _loinc(item.get("code"))
        with_value = [option for option in options if option["value"] is not None]
        scored = bool(with_value) and loinc not in NEVER_SCORED_LOINC
        if scored and len(with_value) != len(options):
            missing = ", ".join(repr(o["label"]) for o in options if o["value"] is None)
            self.errors.append(f"item {link_id!r}: options {missing} have no ordinal value")
            return
        for position, option in enumerate(options):
            value = option["value"]
            if value is None or not scored:
                # An unscored question's answers are only recorded: numbered in order.
                option["value"] = position
            elif isinstance(value, bool) or not float(value).is_integer():
                self.errors.append(
                    f"item {link_id!r}: option {option['label']!r} has ordinal value {value!r}; "
                    "only whole numbers can be scored"
                )
                return
            else:
                option["value"] = int(value)
        text = item.get("text")
        values = [option["value"] for option in options]
        critical_above = None
        if scored and loinc in self.risk_loinc:
            critical_above = self.risk_loinc[loinc]
            if critical_above is None:
                critical_above = min(values)
        if critical_above is not None and not min(values) <= critical_above < max(values):
            self.errors.append(
                f"item {link_id!r}: LOINC {loinc} is a risk item (answers above "
                f"{critical_above}), but its answers are {min(values)}–{max(values)}"
            )
            return
        self.items.append(
            {
                "number": len(self.items) + 1,
                "link_id": link_id,
                "text": text.strip() if isinstance(text, str) and text.strip() else None,
                "scored": scored,
                "critical_above": critical_above,
                "loinc": loinc,
                "options": options,
            }
        )

    def options_for(self, item: dict) -> list[dict] | None:
        link_id = item["linkId"]
        if item.get("answerOption"):
            options = []
            for answer in item["answerOption"]:
                option = self.option_from_answer(link_id, answer)
                if option is None:
                    return None
                options.append(option)
            return options
        if item.get("answerValueSet"):
            return self.options_from_value_set(link_id, item["answerValueSet"])
        self.errors.append(f"item {link_id!r}: has neither answerOption nor answerValueSet")
        return None

    def option_from_answer(self, link_id: str, answer: dict) -> dict | None:
        coding = answer.get("valueCoding")
        if isinstance(coding, dict):
            value = _ordinal(answer)
            if value is None:
                value = _ordinal(coding)
            code = (coding.get("code") or "").strip() or None
            label = coding.get("display") or code
            if not label:
                self.errors.append(f"item {link_id!r}: an answer has neither code nor display")
                return None
            return {"value": value, "label": label, "code": code}
        if "valueInteger" in answer:
            value = _ordinal(answer)
            return {
                "value": answer["valueInteger"] if value is None else value,
                "label": str(answer["valueInteger"]),
                "code": None,
            }
        if "valueString" in answer:
            return {"value": _ordinal(answer), "label": answer["valueString"], "code": None}
        kinds = ", ".join(key for key in answer if key.startswith("value")) or "none"
        self.errors.append(f"item {link_id!r}: answer type {kinds} is not supported")
        return None

    def contained_value_set(self, reference: str) -> dict | None:
        """A contained ValueSet by local reference (``#id``) or by its canonical URL (with or
        without ``|version``): both are valid ways to point at a contained resource."""
        if reference.startswith("#"):
            return self.contained.get(reference[1:])
        url, _, version = reference.partition("|")
        for resource in self.contained.values():
            if resource.get("resourceType") != "ValueSet" or resource.get("url") != url:
                continue
            if not version or resource.get("version") in (None, version):
                return resource
        return None

    def options_from_value_set(self, link_id: str, reference: str) -> list[dict] | None:
        value_set = self.contained_value_set(reference)
        known = KNOWN_ANSWER_LISTS.get(reference.partition("|")[0])
        if value_set is None and known is not None:
            return [{"value": value, "label": label, "code": code} for code, label, value in known]
        if not value_set or value_set.get("resourceType") != "ValueSet":
            self.errors.append(
                f"item {link_id!r}: answerValueSet {reference!r} is not a ValueSet contained in "
                "the Questionnaire; include it as a contained resource"
            )
            return None
        options = []
        expansion = (value_set.get("expansion") or {}).get("contains")
        if expansion:
            for concept in expansion:
                options.append(self.option_from_concept(concept, concept.get("system")))
            return options
        for include in (value_set.get("compose") or {}).get("include") or []:
            system = include.get("system")
            concepts = include.get("concept")
            if concepts is None:
                concepts = self.code_system_concepts(system)
                if concepts is None:
                    self.errors.append(
                        f"item {link_id!r}: value set {reference!r} includes all of {system!r}, "
                        "which is not a CodeSystem contained in the Questionnaire"
                    )
                    return None
            for concept in concepts:
                options.append(self.option_from_concept(concept, system))
        return options

    def code_system_concepts(self, system: str | None) -> list[dict] | None:
        for resource in self.contained.values():
            if resource.get("resourceType") != "CodeSystem":
                continue
            if system in (resource.get("url"), f"#{resource.get('id')}"):
                return list(_flatten_concepts(resource.get("concept") or []))
        return None

    def option_from_concept(self, concept: dict, system: str | None) -> dict:
        code = (concept.get("code") or "").strip() or None
        value = _ordinal(concept)
        if value is None:
            value = _concept_weight(concept)
        if value is None and system:
            for candidate in self.code_system_concepts(system) or []:
                if (candidate.get("code") or "").strip() == code:
                    value = _ordinal(candidate)
                    if value is None:
                        value = _concept_weight(candidate)
                    if not concept.get("display"):
                        concept = {**concept, "display": candidate.get("display")}
                    break
        return {"value": value, "label": concept.get("display") or code, "code": code}


def _flatten_concepts(concepts: list) -> list[dict]:
    flat = []
    for concept in concepts:
        flat.append(concept)
        flat.extend(_flatten_concepts(concept.get("concept") or []))
    return flat


def _concept_weight(concept: dict) -> Any:
    for prop in concept.get("property") or []:
        if prop.get("code") in WEIGHT_PROPERTIES:
            for key in ("valueDecimal", "valueInteger"):
                if key in prop:
                    return prop[key]
    for extension in concept.get("extension") or []:
        if extension.get("url") != EXPANSION_PROPERTY_EXTENSION:
            continue
        parts = {part.get("url"): part for part in extension.get("extension") or []}
        if (parts.get("code") or {}).get("valueCode") in WEIGHT_PROPERTIES:
            value = parts.get("value[x]") or {}
            for key in ("valueDecimal", "valueInteger"):
                if key in value:
                    return value[key]
    return None


def instrument_from_fhir_questionnaire(
    questionnaire: dict,
    *,
    code: str | None = None,
    direction: str = "lower_is_better",
    max_missing: int = 0,
    risk_loinc: Mapping[str, int] | None = None,
) -> Instrument:
    """Build an instrument definition from a FHIR R4 Questionnaire resource (parsed JSON).

    ``code`` defaults to a slug of the Questionnaire's ``name`` (or ``id``/``title``).
    ``risk_loinc`` adds the clinic's own risk items (LOINC code → answers above this value
    signal risk) to :data:`KNOWN_RISK_LOINC`. When no item is recognised as a risk item the
    instrument's ``risk_decision`` is "pending": it cannot be sent to clients until an admin
    marks a risk item or states "none".
    Raises :class:`QuestionnaireImportError` listing every problem found.
    """
    if not isinstance(questionnaire, dict) or questionnaire.get("resourceType") != "Questionnaire":
        raise QuestionnaireImportError(["the resource is not a FHIR Questionnaire"])
    importer = _Importer(questionnaire, {**KNOWN_RISK_LOINC, **(risk_loinc or {})})
    try:
        importer.walk(questionnaire.get("item") or [])
    except _TooManyItems:
        raise QuestionnaireImportError(
            [f"the Questionnaire has more than {MAX_QUESTIONNAIRE_ITEMS} items; none was imported"]
        ) from None
    if not importer.items and not importer.errors:
        importer.errors.append("the Questionnaire has no choice items to score")
    if importer.items and not any(item["scored"] for item in importer.items):
        importer.errors.append(
            "no item has ordinal values (ordinalValue or itemWeight extensions); nothing can be "
            "scored"
        )
    if importer.errors:
        raise QuestionnaireImportError(importer.errors)

    title = questionnaire.get("title") or questionnaire.get("name") or questionnaire.get("id")
    has_risk_item = any(item["critical_above"] is not None for item in importer.items)
    definition = {
        "code": code or _slug(questionnaire.get("name") or questionnaire.get("id") or title or ""),
        "name": title or "Imported questionnaire",
        "version": str(questionnaire.get("version") or "1"),
        "direction": direction,
        "licence": questionnaire.get("copyright") or "",
        "has_item_text": all(item["text"] for item in importer.items),
        "loinc_panel": _loinc(questionnaire.get("code")),
        "loinc_total": importer.loinc_total,
        "max_missing": max_missing,
        "risk_decision": "items" if has_risk_item else "pending",
        "sources": [f"Imported from FHIR Questionnaire {questionnaire.get('url') or title}"],
        "items": importer.items,
    }
    errors = validate_definition(definition)
    if errors:
        raise QuestionnaireImportError(errors)
    instrument = instrument_from_dict(definition)
    declared = builtin_code_for(instrument) or _builtin_by_title(title)
    if declared is not None:
        errors, _ = _conformance(instrument, get_instrument(declared))
        if errors:
            if instrument.loinc_panel:
                how = (
                    f"It declares itself so by its LOINC panel code {instrument.loinc_panel}; "
                    "scored on the published instrument's bands it would mislead. If it is your "
                    "own adaptation, remove that panel code and import it under a code of its own."
                )
            else:
                how = (
                    f"Its title {title!r} names it so; scored on the published instrument's bands "
                    "it would mislead. If it is your own adaptation, give it a title of its own "
                    "and import it again."
                )
            raise QuestionnaireImportError([*errors, how])
    return instrument


def _builtin_by_title(title: str | None) -> str | None:
    for pattern, builtin_code in BUILTIN_BY_TITLE:
        if title and pattern.search(title):
            return builtin_code
    return None


def _conformance(imported: Instrument, builtin: Instrument) -> tuple[list[str], list[tuple]]:
    """How ``imported`` departs from ``builtin`` as published, and its items paired with the
    built-in's: by LOINC code where the Questionnaire codes its items, else scored items by
    position (a Questionnaire without item codes, like the HL7 SDC IG's PHQ-9 example)."""
    construct = f"{builtin.name} (LOINC {builtin.loinc_panel})"
    errors: list[str] = []
    pairs: list[tuple] = []
    if any(item.loinc for item in imported.items):
        theirs = {item.loinc: item for item in imported.items if item.loinc}
        for ours in builtin.items:
            item = theirs.get(ours.loinc)
            if item is None:
                if ours.scored:
                    errors.append(
                        f"not the {construct}: its item {ours.number} (LOINC {ours.loinc}) is "
                        "missing"
                    )
                continue
            pairs.append((ours, item))
        known = {ours.loinc for ours in builtin.items}
        extra = [item for item in imported.scored_items if item.loinc not in known]
    else:
        ours_scored, theirs_scored = builtin.scored_items, imported.scored_items
        pairs = list(zip(ours_scored, theirs_scored, strict=False))
        extra = list(theirs_scored[len(ours_scored) :])
        if len(theirs_scored) < len(ours_scored):
            errors.append(
                f"not the {construct}: it has {len(theirs_scored)} scored items, the published "
                f"instrument {len(ours_scored)}"
            )
    by_loinc = any(item.loinc for item in imported.items)
    for ours, item in pairs:
        if ours.scored and item.values != ours.values:
            which = f"LOINC {ours.loinc}" if by_loinc else f"its item {ours.number} by position"
            errors.append(
                f"not the {construct}: item {item.link_id!r} ({which}) is valued "
                f"{_range_text(item.values)}, the published instrument "
                f"{_range_text(ours.values)}"
            )
    for item in extra:
        errors.append(
            f"not the {construct}: item {item.link_id!r} is scored but is not one of its items"
        )
    return errors, pairs


def builtin_code_for(imported: Instrument) -> str | None:
    """The built-in instrument this Questionnaire declares itself to be: by LOINC panel code, or,
    without one, by the title it gives itself."""
    if imported.loinc_panel:
        return BUILTIN_BY_LOINC_PANEL.get(imported.loinc_panel)
    return _builtin_by_title(imported.name)


def mapped_to_builtin(imported: Instrument, *, code: str) -> Instrument:
    """The built-in instrument the Questionnaire declares (bands, caseness, reliable change, risk
    items, missing-item rule), stored as ``code`` with the Questionnaire's linkIds and wording so
    its answers line up item by item (matched by LOINC).

    Refused, naming the instrument, when the Questionnaire is not that instrument as published:
    a scored item missing or extra, or answers valued differently (a 1–4 PHQ-9 is not the
    PHQ-9, and its bands would mislead).
    """
    builtin_code = builtin_code_for(imported)
    if builtin_code is None:
        raise QuestionnaireImportError(
            [
                f"the Questionnaire's LOINC panel code {imported.loinc_panel!r} is not one we know"
                if imported.loinc_panel
                else "the Questionnaire declares no LOINC panel code and its title names no "
                "instrument we know"
            ]
        )
    builtin = get_instrument(builtin_code)
    errors, pairs = _conformance(imported, builtin)
    items = [
        {
            "number": number,
            "link_id": item.link_id,
            "text": item.text or ours.text,
            "scored": ours.scored,
            "reverse": ours.reverse,
            "critical_above": ours.critical_above,
            "subscale": ours.subscale,
            "loinc": ours.loinc,
            "options": [{"value": o.value, "label": o.label, "code": o.code} for o in ours.options],
        }
        for number, (ours, item) in enumerate(pairs, start=1)
    ]
    if errors:
        raise QuestionnaireImportError(errors)
    definition = instrument_to_dict(builtin)
    definition.update(
        code=code,
        name=imported.name,
        has_item_text=all(item["text"] for item in items),
        items=items,
        sources=[*builtin.sources, *imported.sources, f"Mapped to the built-in {builtin_code}"],
    )
    return instrument_from_dict(definition)


def _range_text(values: tuple[int, ...]) -> str:
    return f"{min(values)}–{max(values)}"
