"""Import a FHIR R4 Questionnaire (JSON) as a custom instrument; see docs/instruments.md."""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from measures.instruments import DIRECTIONS
from outcomes.instrument_services import (
    InstrumentRefused,
    instrument_import_fhir,
    instrument_import_notes,
    questionnaire_size_errors,
)
from outcomes.management.commands._instrument_args import clinic_from_slug, read_file, refused


def risk_loinc_argument(text: str) -> tuple[str, int]:
    """``CODE`` or ``CODE:ABOVE`` (answers above ABOVE signal risk; default 0)."""
    code, _, above = text.partition(":")
    try:
        return code.strip(), int(above) if above else 0
    except ValueError:
        raise CommandError(f"--risk-loinc {text!r}: write CODE or CODE:ABOVE") from None


class Command(BaseCommand):
    help = (
        "Import a FHIR R4 Questionnaire (JSON) as a custom instrument, for one clinic "
        "(--clinic SLUG) or for every clinic on this installation. Nothing is stored when "
        "anything is wrong. Add bands, caseness and reliable change in the admin afterwards."
    )

    def add_arguments(self, parser):
        parser.add_argument("file", help="the Questionnaire resource, a JSON file")
        parser.add_argument(
            "--code",
            required=True,
            help="the instrument code: lower-case letters, digits and underscores",
        )
        parser.add_argument("--clinic", help="the clinic's slug; omit for every clinic")
        parser.add_argument("--direction", choices=DIRECTIONS, default="lower_is_better")
        parser.add_argument(
            "--max-missing",
            type=int,
            default=0,
            help="scored items that may be missing before the total is prorated (default 0)",
        )
        parser.add_argument(
            "--definition-version",
            help="the version to store (default: the Questionnaire's own, else 1)",
        )
        parser.add_argument(
            "--risk-loinc",
            action="append",
            default=[],
            metavar="CODE[:ABOVE]",
            help="an item's LOINC code that marks a risk item, answers above ABOVE (default 0) "
            "raising a risk alert; PHQ-9 item 9 (44260-8) is known. Repeat for several.",
        )
        parser.add_argument(
            "--map-to-builtin",
            action="store_true",
            help="for a PHQ-9 or GAD-7 (by LOINC panel code): store the built-in definition with "
            "its bands, caseness and risk item, using this Questionnaire's linkIds and wording",
        )

    def handle(self, *args, **options):
        clinic = clinic_from_slug(options["clinic"])
        risk_loinc = dict(risk_loinc_argument(text) for text in options["risk_loinc"])
        try:
            size = Path(options["file"]).stat().st_size
        except OSError:
            size = 0  # read_file reports why it cannot be read
        if questionnaire_size_errors(size):
            raise refused("Questionnaire", questionnaire_size_errors(size))
        payload = read_file(options["file"])
        try:
            row = instrument_import_fhir(
                clinic=clinic,
                payload=payload,
                code=options["code"],
                user=None,
                direction=options["direction"],
                max_missing=options["max_missing"],
                version=options["definition_version"],
                risk_loinc=risk_loinc,
                map_to_builtin=options["map_to_builtin"],
            )
        except InstrumentRefused as error:
            raise refused("Questionnaire", error.messages) from None
        scope = clinic.name if clinic is not None else "every clinic"
        items = len(row.definition["items"])
        follow_up = (
            ""
            if row.definition.get("bands")
            else " Add its bands, caseness cutoff and reliable change in the admin (Instrument "
            "definitions)."
        )
        self.stdout.write(
            self.style.SUCCESS(
                f"Imported {row.definition['name']!r} as {row.code} version {row.version} "
                f"({items} items) for {scope}.{follow_up}"
            )
        )
        for note in instrument_import_notes(row):
            self.stdout.write(note)
