"""Writes for instrument definitions: FHIR Questionnaire imports, definitions made in the admin,
and licensed text packs. Each validates everything first and stores nothing when anything is
wrong; each write is audited.

The checks themselves are the pure ones (``measures.instruments``: ``validate_definition``,
``instrument_from_fhir_questionnaire``, ``validate_text_pack``), whose messages name the item and
the problem. Two rules are added here because they concern what a clinic already has:

* A Questionnaire is read only up to ``MAX_QUESTIONNAIRE_BYTES`` and ``MAX_QUESTIONNAIRE_ITEMS``,
  whichever door it comes through (admin upload, management command).
* A clinic's own definition of a built-in code replaces the built-in one for that clinic, so it
  must keep the built-in's direction and every risk item (PHQ-9 item 9, CORE-10 item 6) at the
  same or a lower threshold: risk alerts must never disappear because a definition was edited.
  A FHIR Questionnaire carries no bands and marks no risk items, so it is never imported under a
  built-in code; one that declares a built-in's LOINC panel (PHQ-9, GAD-7) can instead be mapped
  onto the built-in definition under its own code (``map_to_builtin``).
* A definition is not created twice for the same clinic, code and version (answers already
  stored against a version must keep meaning what they meant).
"""

from __future__ import annotations

import json
from typing import Any

from django.db import transaction
from django.utils import timezone

from audit.services import audit_record
from measures.instruments import (
    BUILTIN_CODES,
    DIRECTIONS,
    MAX_QUESTIONNAIRE_BYTES,
    QuestionnaireImportError,
    builtin_code_for,
    get_instrument,
    instrument_from_dict,
    instrument_from_fhir_questionnaire,
    instrument_to_dict,
    mapped_to_builtin,
    validate_definition,
    validate_text_pack,
)
from outcomes.models import InstrumentDefinition
from outcomes.selectors import instrument_base_for

Source = InstrumentDefinition.Source


class InstrumentRefused(ValueError):
    """The definition, Questionnaire or text pack was refused; nothing was stored.

    ``messages`` lists every problem, each naming the item (or field) and what is wrong.
    """

    def __init__(self, messages: list[str]):
        self.messages = list(messages)
        super().__init__("; ".join(self.messages))


def parse_json_payload(payload: Any, *, what: str) -> Any:
    """``payload`` as parsed JSON: bytes (an uploaded file), text, or already-parsed data."""
    if isinstance(payload, bytes | bytearray):
        try:
            payload = payload.decode("utf-8-sig")
        except UnicodeDecodeError as error:
            raise InstrumentRefused([f"the {what} is not UTF-8 text ({error.reason})"]) from None
    if isinstance(payload, str):
        try:
            return json.loads(payload)
        except json.JSONDecodeError as error:
            raise InstrumentRefused(
                [
                    f"the {what} is not valid JSON: {error.msg} at line {error.lineno}, "
                    f"column {error.colno}"
                ]
            ) from None
    return payload


def _scope_label(clinic) -> str:
    return f"clinic {clinic.slug!r}" if clinic is not None else "this installation"


def _builtin_override_errors(definition: dict) -> list[str]:
    """A clinic's definition of a built-in code must keep its direction and its risk items."""
    builtin = get_instrument(definition["code"])
    errors = []
    if definition.get("direction") != builtin.direction:
        errors.append(
            f"direction: {builtin.code} is {builtin.direction.replace('_', ' ')}; a clinic "
            "definition of a built-in instrument cannot reverse it"
        )
    raw_items = definition.get("items")
    raw_items = raw_items if isinstance(raw_items, list) else []
    items = {item.get("number"): item for item in raw_items if isinstance(item, dict)}
    for risk_item in builtin.critical_items:
        own = items.get(risk_item.number)
        threshold = None if own is None else own.get("critical_above")
        if threshold is None or threshold > risk_item.critical_above:
            errors.append(
                f"item {risk_item.number} ({risk_item.link_id}): is a risk item of {builtin.code} "
                f"(critical_above {risk_item.critical_above}); a clinic definition of "
                f"{builtin.code} must keep it, at the same or a lower threshold"
            )
    return errors


def _duplicate_errors(*, clinic, code: str, version: str, instance=None) -> list[str]:
    existing = InstrumentDefinition.objects.filter(
        clinic=clinic, code=code, version=version, active=True
    ).exclude(source=Source.TEXT_PACK)
    if instance is not None and instance.pk is not None:
        existing = existing.exclude(pk=instance.pk)
    row = existing.first()
    if row is None:
        return []
    return [
        f"{_scope_label(clinic)} already has {code!r} version {version} "
        f"({row.get_source_display()}): edit that definition in the admin, deactivate it, "
        "or give this one another version"
    ]


def _save_definition(
    *,
    clinic,
    definition: dict,
    source: str,
    user,
    action: str,
    active: bool = True,
    instance: InstrumentDefinition | None = None,
    details: dict | None = None,
) -> InstrumentDefinition:
    row = instance if instance is not None else InstrumentDefinition()
    created = row.pk is None
    row.clinic = clinic
    row.code = definition["code"]
    row.version = definition["version"]
    row.source = source
    row.definition = definition
    row.active = active
    with transaction.atomic():
        row.save()
        audit_record(
            actor=user,
            action=action,
            obj=row,
            clinic=clinic,
            details={
                "code": row.code,
                "version": row.version,
                "source": source,
                "created": created,
                "items": len(definition.get("items") or []),
                "active": active,
                **(details or {}),
            },
        )
    return row


def questionnaire_size_errors(size: int) -> list[str]:
    """The one size limit for a Questionnaire file, whichever door it comes through."""
    if size <= MAX_QUESTIONNAIRE_BYTES:
        return []
    return [
        f"the Questionnaire file is {size / 1024 / 1024:.1f} MB; at most "
        f"{MAX_QUESTIONNAIRE_BYTES // 1024 // 1024} MB can be imported"
    ]


def instrument_import_fhir(
    *,
    clinic,
    payload: Any,
    code: str,
    user,
    direction: str = "lower_is_better",
    max_missing: int = 0,
    version: str | None = None,
    risk_loinc: dict[str, int] | None = None,
    map_to_builtin: bool = False,
) -> InstrumentDefinition:
    """Import a FHIR R4 Questionnaire (bytes, text or parsed JSON) as ``code`` for ``clinic``
    (None: every clinic on this installation). Raises InstrumentRefused and stores nothing when
    the Questionnaire cannot be scored; the messages name the linkId and the problem.

    Direction, bands, caseness and reliable change are not part of a Questionnaire: the clinic
    adds them afterwards by editing the stored definition in the admin, or, for a Questionnaire
    that declares PHQ-9's or GAD-7's LOINC panel, asks for ``map_to_builtin``: the built-in's
    definition is stored under ``code`` with the Questionnaire's linkIds and wording.
    ``risk_loinc`` names the clinic's own risk items by LOINC code (PHQ-9 item 9 is known);
    without any, the definition waits for an admin's risk decision before it can be sent.
    """
    if isinstance(payload, str | bytes | bytearray):
        errors = questionnaire_size_errors(len(payload))
        if errors:
            raise InstrumentRefused(errors)
    questionnaire = parse_json_payload(payload, what="Questionnaire file")
    errors = []
    if code in BUILTIN_CODES:
        errors.append(
            f"code {code!r} is a built-in instrument; a Questionnaire carries no bands, caseness "
            "or risk items, so importing it under a built-in code would silently drop them. "
            f"Choose another code (for example {code}_fhir)"
        )
    if direction not in DIRECTIONS:
        errors.append(f"direction {direction!r} must be one of {', '.join(DIRECTIONS)}")
    if errors:
        raise InstrumentRefused(errors)
    try:
        instrument = instrument_from_fhir_questionnaire(
            questionnaire,
            code=code,
            direction=direction,
            max_missing=max_missing,
            risk_loinc=risk_loinc,
        )
        if map_to_builtin:
            instrument = mapped_to_builtin(instrument, code=code)
    except QuestionnaireImportError as error:
        raise InstrumentRefused(error.messages) from None
    definition = instrument_to_dict(instrument)
    if version is not None:
        definition["version"] = str(version)
    errors = validate_definition(definition) or _duplicate_errors(
        clinic=clinic, code=code, version=definition["version"]
    )
    if errors:
        raise InstrumentRefused(errors)
    return _save_definition(
        clinic=clinic,
        definition=definition,
        source=Source.FHIR,
        user=user,
        action="instrument.import_fhir",
        details={
            "has_item_text": instrument.has_item_text,
            "risk_decision": instrument.risk_decision,
            "mapped_to": builtin_code_for(instrument) if map_to_builtin else None,
        },
    )


def instrument_import_notes(row: InstrumentDefinition) -> list[str]:
    """What an admin must know after an import: the risk decision, a recognised built-in, and
    what still stops sending. Both doors (admin page, command) show the same lines."""
    instrument = instrument_from_dict(row.definition)
    notes = []
    builtin_code = builtin_code_for(instrument)
    mapped = any(source.startswith("Mapped to the built-in") for source in instrument.sources)
    if builtin_code is not None and not mapped:
        how_declared = (
            f"LOINC panel {instrument.loinc_panel}" if instrument.loinc_panel else "by its title"
        )
        notes.append(
            f"This Questionnaire declares itself the {get_instrument(builtin_code).name} "
            f"({how_declared}). "
            "It was imported as a bare copy without "
            f"bands, caseness or reliable change; import it again mapped to the built-in "
            f'{builtin_code} (admin: tick "Map to the built-in instrument"; command: '
            "--map-to-builtin) to get them."
        )
    risk_items = [
        f"item {item.number} (LOINC {item.loinc}) answered above {item.critical_above}"
        for item in instrument.critical_items
    ]
    if risk_items:
        notes.append(f"Risk alert when {', or '.join(risk_items)}.")
    elif instrument.risk_decision == "pending":
        notes.append(
            "No risk item was recognised: it cannot be sent to clients until an admin marks the "
            'risk item (critical_above on the item and risk_decision "items") or states that '
            'it has none (risk_decision "none") in the definition.'
        )
    if not instrument.has_item_text:
        notes.append(
            "Some items have no text: it can be entered in session, but not sent to clients "
            "until their text is added."
        )
    return notes


def instrument_definition_check(
    *, clinic, definition: Any, instance: InstrumentDefinition | None = None
) -> tuple[dict | None, list[str]]:
    """Validate a definition written in the admin without storing it: ``(normalised, errors)``.

    The normalised form has option sets written out and totals computed, so the stored row reads
    back as exactly the instrument that was validated. The admin form calls this to show every
    problem next to the textarea; :func:`instrument_define` calls it again before writing.
    """
    try:
        definition = parse_json_payload(definition, what="definition")
    except InstrumentRefused as error:
        return None, error.messages
    errors = validate_definition(definition)
    if errors:
        if isinstance(definition, dict) and definition.get("code") in BUILTIN_CODES:
            # Say that a risk item was dropped even when the definition has other problems too.
            errors.extend(
                error for error in _builtin_override_errors(definition) if error not in errors
            )
        return None, errors
    definition = instrument_to_dict(instrument_from_dict(definition))
    code = definition["code"]
    existing = instance is not None and instance.pk is not None
    if existing and instance.code != code:
        errors.append(
            f"code: this definition is {instance.code!r}; a different code ({code!r}) is a "
            "different instrument, so add it as a new definition"
        )
    if code in BUILTIN_CODES:
        errors.extend(_builtin_override_errors(definition))
    errors.extend(
        _duplicate_errors(
            clinic=clinic,
            code=code,
            version=definition["version"],
            instance=instance if existing else None,
        )
    )
    return (None, errors) if errors else (definition, [])


def instrument_define(
    *,
    clinic,
    definition: Any,
    user,
    active: bool = True,
    instance: InstrumentDefinition | None = None,
) -> InstrumentDefinition:
    """Store a definition written in the admin (JSON, see docs/instruments.md), or save changes
    to an existing one (``instance``, e.g. bands and caseness added to an imported
    Questionnaire). Raises InstrumentRefused and stores nothing when it is invalid."""
    normalised, errors = instrument_definition_check(
        clinic=clinic, definition=definition, instance=instance
    )
    if errors:
        raise InstrumentRefused(errors)
    existing = instance is not None and instance.pk is not None
    return _save_definition(
        clinic=clinic,
        definition=normalised,
        source=instance.source if existing else Source.ADMIN,
        user=user,
        action="instrument.define",
        active=active,
        instance=instance,
    )


def instrument_definition_set_active(
    *, row: InstrumentDefinition, active: bool, user
) -> InstrumentDefinition:
    """Withdraw (or restore) a definition or text pack. Rows are never deleted: answers stored
    against a custom instrument must stay readable."""
    if row.active != active:
        with transaction.atomic():
            row.active = active
            row.save(update_fields=["active"])
            audit_record(
                actor=user,
                action="instrument.activate" if active else "instrument.deactivate",
                obj=row,
                clinic=row.clinic,
                details={"code": row.code, "version": row.version, "source": row.source},
            )
    return row


def text_pack_load(*, clinic, payload: Any, user) -> InstrumentDefinition:
    """Validate a licensed text pack (docs/instruments.md, "Text packs") and store it for
    ``clinic`` (None: every clinic on this installation). A pack for the same instrument and
    version replaces the one loaded before. Raises InstrumentRefused and stores nothing when the
    pack does not fit; the messages name the item and the problem."""
    pack = parse_json_payload(payload, what="text pack")
    if not isinstance(pack, dict):
        raise InstrumentRefused(["the text pack must be a JSON object"])
    code = pack.get("instrument")
    if not isinstance(code, str) or not code:
        raise InstrumentRefused(["instrument: the pack must name the instrument code it is for"])
    try:
        instrument = instrument_base_for(clinic, code)
    except KeyError:
        raise InstrumentRefused(
            [
                f"instrument: {code!r} is not an instrument {_scope_label(clinic)} knows "
                f"(built-in codes: {', '.join(BUILTIN_CODES)})"
            ]
        ) from None
    if instrument.has_item_text:
        raise InstrumentRefused(
            [
                f"instrument: {instrument.name} already has its item text; text packs are for "
                "instruments shipped without it (ors, srs, core10, oq45) or imported without it"
            ]
        )
    errors = validate_text_pack(instrument, pack)
    if errors:
        raise InstrumentRefused(errors)
    version = str(pack["version"])
    existing = InstrumentDefinition.objects.filter(
        clinic=clinic, code=code, version=version, source=Source.TEXT_PACK
    ).first()
    row = existing if existing is not None else InstrumentDefinition()
    row.clinic = clinic
    row.code = code
    row.version = version
    row.source = Source.TEXT_PACK
    row.definition = pack
    row.active = True
    # The load time: the send-block reason quotes it when a pack stops fitting.
    row.created_at = timezone.now()
    with transaction.atomic():
        row.save()
        audit_record(
            actor=user,
            action="instrument.text_pack_load",
            obj=row,
            clinic=clinic,
            details={
                "code": code,
                "version": version,
                "replaced": existing is not None,
                "items": len(pack["items"]),
            },
        )
    return row
