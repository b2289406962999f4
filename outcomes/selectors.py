"""Reads for instruments and scores (the clinical math itself is in the pure modules)."""

from django.db.models import Q

from outcomes.instruments import (
    Instrument,
    apply_text_pack,
    builtin_instruments,
    get_instrument,
    instrument_from_dict,
)
from outcomes.models import InstrumentDefinition


def _definitions_for(clinic):
    return InstrumentDefinition.objects.filter(active=True).filter(
        Q(clinic__isnull=True) | Q(clinic=clinic)
    )


def instrument_for(clinic, code: str) -> Instrument:
    """The instrument as this clinic uses it: its own definition, or the built-in one with the
    clinic's licensed text pack applied where it loaded one. KeyError for an unknown code."""
    definitions = _definitions_for(clinic).filter(code=code).order_by("-created_at")
    custom = definitions.exclude(source=InstrumentDefinition.Source.TEXT_PACK).first()
    if custom is not None:
        return instrument_from_dict(custom.definition)
    instrument = get_instrument(code)
    pack = definitions.filter(source=InstrumentDefinition.Source.TEXT_PACK).first()
    if pack is not None:
        instrument = apply_text_pack(instrument, pack.definition)
    return instrument


def instruments_available(clinic) -> dict[str, Instrument]:
    """Every instrument the clinic can score, keyed by code."""
    available = dict(builtin_instruments())
    codes = set(_definitions_for(clinic).values_list("code", flat=True))
    for code in codes | set(available):
        available[code] = instrument_for(clinic, code)
    return available
