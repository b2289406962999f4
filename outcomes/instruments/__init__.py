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
from outcomes.instruments.fhir import QuestionnaireImportError, instrument_from_fhir_questionnaire
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
from outcomes.instruments.textpack import (
    TextPackError,
    apply_text_pack,
    text_pack_template,
    validate_text_pack,
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
    "QuestionnaireImportError",
    "TextPackError",
    "apply_text_pack",
    "builtin_instruments",
    "get_instrument",
    "instrument_from_dict",
    "instrument_from_fhir_questionnaire",
    "instrument_to_dict",
    "load_definition_file",
    "text_pack_template",
    "validate_definition",
    "validate_text_pack",
]
