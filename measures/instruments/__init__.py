"""Outcome instruments as versioned data (pure: no Django imports).

Built-in definitions are JSON files in ``data/``; see docs/instruments.md for the table of
instruments, their sources and licences.
"""

from measures.instruments.definition import (
    DIRECTIONS,
    RISK_DECISIONS,
    Band,
    Direction,
    Instrument,
    Item,
    Norms,
    Option,
)
from measures.instruments.fhir import (
    KNOWN_RISK_LOINC,
    MAX_QUESTIONNAIRE_BYTES,
    MAX_QUESTIONNAIRE_ITEMS,
    QuestionnaireImportError,
    builtin_code_for,
    instrument_from_fhir_questionnaire,
    mapped_to_builtin,
)
from measures.instruments.registry import (
    BUILTIN_CODES,
    InvalidDefinitionError,
    builtin_instruments,
    get_instrument,
    instrument_from_dict,
    instrument_to_dict,
    load_definition_file,
    validate_definition,
)
from measures.instruments.textpack import (
    TextPackError,
    apply_text_pack,
    text_pack_template,
    validate_text_pack,
)

__all__ = [
    "BUILTIN_CODES",
    "DIRECTIONS",
    "KNOWN_RISK_LOINC",
    "MAX_QUESTIONNAIRE_BYTES",
    "MAX_QUESTIONNAIRE_ITEMS",
    "RISK_DECISIONS",
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
    "builtin_code_for",
    "builtin_instruments",
    "get_instrument",
    "instrument_from_dict",
    "instrument_from_fhir_questionnaire",
    "instrument_to_dict",
    "load_definition_file",
    "mapped_to_builtin",
    "text_pack_template",
    "validate_definition",
    "validate_text_pack",
]
