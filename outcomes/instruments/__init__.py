"""Outcome instruments as versioned data (pure: no Django imports).

Built-in definitions are JSON files in ``data/``; see docs/instruments.md for the table of
instruments, their sources and licences.
"""

from outcomes.instruments.definition import (
    DIRECTIONS,
    Band,
    Direction,
    Instrument,
    Item,
    Norms,
    Option,
)
from outcomes.instruments.registry import (
    BUILTIN_CODES,
    InvalidDefinitionError,
    builtin_instruments,
    get_instrument,
    instrument_from_dict,
    instrument_to_dict,
    load_definition_file,
    validate_definition,
)

__all__ = [
    "BUILTIN_CODES",
    "DIRECTIONS",
    "Band",
    "Direction",
    "Instrument",
    "InvalidDefinitionError",
    "Item",
    "Norms",
    "Option",
    "builtin_instruments",
    "get_instrument",
    "instrument_from_dict",
    "instrument_to_dict",
    "load_definition_file",
    "validate_definition",
]
