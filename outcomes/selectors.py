"""Reads for instruments and scores (the clinical math itself is in the pure modules).

An instrument as a clinic uses it is built in three layers: the built-in definition (or the
clinic's own definition stored in the admin or imported from FHIR, which replaces it), then the
licensed text pack, applied only where the definition has no item text of its own. A clinic's own
rows win over installation-wide rows (``clinic`` empty); among equals the newest wins.
"""

import logging
from dataclasses import dataclass

from django.db.models import Q

from measures.instruments import (
    BUILTIN_CODES,
    Instrument,
    TextPackError,
    apply_text_pack,
    builtin_instruments,
    get_instrument,
    instrument_from_dict,
)
from outcomes.models import InstrumentDefinition

logger = logging.getLogger(__name__)


def _definitions_for(clinic):
    scope = Q(clinic__isnull=True)
    if clinic is not None:
        scope |= Q(clinic=clinic)
    return InstrumentDefinition.objects.filter(active=True).filter(scope)


def _preferred(rows: list[InstrumentDefinition]) -> InstrumentDefinition | None:
    """The clinic's own row before an installation-wide one; then the newest."""
    if not rows:
        return None
    return max(rows, key=lambda row: (row.clinic_id is not None, row.created_at, row.pk))


@dataclass(frozen=True)
class _Layers:
    base: Instrument
    custom: InstrumentDefinition | None
    pack: InstrumentDefinition | None
    pack_errors: tuple[str, ...]
    instrument: Instrument


def _layers(clinic, code: str) -> _Layers:
    return _layers_of(list(_definitions_for(clinic).filter(code=code)), code)


def _layers_of(rows: list[InstrumentDefinition], code: str) -> _Layers:
    """The layers from ``rows``: every active definition row for ``code`` in the clinic's scope."""
    text_pack = InstrumentDefinition.Source.TEXT_PACK
    custom = _preferred([row for row in rows if row.source != text_pack])
    base = instrument_from_dict(custom.definition) if custom is not None else get_instrument(code)
    packs = [row for row in rows if row.source == text_pack]
    # A pack for the definition's version wins over a newer-loaded one for another version.
    pack = _preferred([row for row in packs if row.version == base.version]) or _preferred(packs)
    instrument, pack_errors = base, ()
    if pack is not None and not base.has_item_text:
        try:
            instrument = apply_text_pack(base, pack.definition)
        except TextPackError as error:
            # A pack that no longer fits (the definition moved to a new version) must not stop
            # scoring: the form stays scorable, just not sendable, and the reason says why.
            pack_errors = tuple(error.messages)
            logger.warning(
                "text pack %s for instrument %s no longer fits its definition", pack.pk, code
            )
    return _Layers(base, custom, pack, pack_errors, instrument)


def instrument_for(clinic, code: str) -> Instrument:
    """The instrument as this clinic uses it: its own definition, or the built-in one, with the
    clinic's licensed text pack applied where it loaded one. KeyError for an unknown code."""
    return _layers(clinic, code).instrument


def instruments_for(clinic, codes) -> dict[str, Instrument]:
    """Several instruments as this clinic uses them (``instrument_for`` each), from one read of
    their definition rows: a check-in's forms cost one query, not one per form. Keyed by code in
    the order given; KeyError (of the code) for an unknown one."""
    codes = list(dict.fromkeys(codes))
    rows: dict[str, list[InstrumentDefinition]] = {code: [] for code in codes}
    for row in _definitions_for(clinic).filter(code__in=codes):
        rows[row.code].append(row)
    instruments = {}
    for code in codes:
        try:
            instruments[code] = _layers_of(rows[code], code).instrument
        except KeyError as error:
            raise KeyError(code) from error
    return instruments


def instrument_base_for(clinic, code: str) -> Instrument:
    """The definition a text pack for ``code`` must fit: the clinic's own (or installation-wide)
    definition, else the built-in one, without any text pack. KeyError for an unknown code."""
    return _layers(clinic, code).base


def instrument_codes_for(clinic) -> list[str]:
    """Every instrument code the clinic can score: built-in ones first, then its own."""
    own = set(_definitions_for(clinic).values_list("code", flat=True)) - set(BUILTIN_CODES)
    return list(BUILTIN_CODES) + sorted(own)


def instruments_available(clinic) -> dict[str, Instrument]:
    """Every instrument the clinic can score, keyed by code."""
    available = dict(builtin_instruments())
    for code in instrument_codes_for(clinic):
        available[code] = instrument_for(clinic, code)
    return available


def instrument_send_block_reason(clinic, code: str) -> str | None:
    """Why this clinic cannot send ``code`` to clients by e-mailed link, or None when it can.

    A form is only shown to a client when every item has its text (``Instrument.can_be_sent``):
    the scoring-only instruments (ORS, SRS, CORE-10, OQ-45) need the clinic's licensed text pack;
    an imported Questionnaire whose items carry no text needs the text added in the admin; one
    imported without a recognised risk item waits for an admin's risk decision (a risk answer on
    a form nobody reads as risk would go unseen). The form can still be entered by staff in
    session or from paper either way.
    """
    try:
        layers = _layers(clinic, code)
    except KeyError:
        return f"'{code}' is not an instrument this clinic knows."
    return _block_reason(layers, code)


def _block_reason(layers: _Layers, code: str) -> str | None:
    instrument = layers.instrument
    if instrument.can_be_sent:
        return None
    reasons = []
    if not instrument.has_item_text:
        reasons.append(_missing_text_reason(layers, code))
    if instrument.risk_decision == "pending":
        reasons.append(
            f"{instrument.name} was imported without a recognised risk item: in the admin, mark "
            'its risk item (critical_above on the item and risk_decision "items") or state that '
            'it has none (risk_decision "none") before sending it. It can still be entered in '
            "session."
        )
    return " ".join(reasons)


def _missing_text_reason(layers: _Layers, code: str) -> str:
    instrument = layers.instrument
    name = instrument.name
    if layers.pack_errors:
        return (
            f"The {name} text pack loaded on {layers.pack.created_at:%Y-%m-%d} no longer fits "
            f"version {layers.base.version} of its definition ({'; '.join(layers.pack_errors)}): "
            "load a text pack for the current version (admin: Instrument definitions → Load "
            "text pack, or manage.py load_text_pack) before sending it."
        )
    if layers.custom is None and code in BUILTIN_CODES:
        return (
            f"{name} item text is licensed: load your clinic's licensed text pack (admin: "
            "Instrument definitions → Load text pack, or manage.py load_text_pack) before "
            "sending it. It can still be entered in session."
        )
    missing = [str(item.number) for item in instrument.items if not item.text]
    return (
        f"{name} has items without text (item {', '.join(missing)}): add their text to the "
        "definition in the admin, or load a text pack for it, before sending it. It can still "
        "be entered in session."
    )


def instruments_overview(clinic) -> list[dict]:
    """One row per instrument the clinic can score, for the admin's "available instruments"
    page: where its definition and text come from, and why it cannot be sent where it cannot."""
    rows = []
    for code in instrument_codes_for(clinic):
        try:
            layers = _layers(clinic, code)
        except KeyError:
            continue
        instrument = layers.instrument
        if layers.custom is None:
            origin = "built-in"
        else:
            origin = layers.custom.get_source_display()
            if layers.custom.clinic_id is None:
                origin += " (installation-wide)"
        if layers.pack is not None and not layers.pack_errors:
            text = "licensed text pack"
        elif layers.base.has_item_text:
            text = "in the definition"
        else:
            text = "none"
        rows.append(
            {
                "code": code,
                "name": instrument.name,
                "version": instrument.version,
                "items": len(instrument.items),
                "origin": origin,
                "text": text,
                "can_be_sent": instrument.can_be_sent,
                "reason": _block_reason(layers, code),
            }
        )
    return rows
