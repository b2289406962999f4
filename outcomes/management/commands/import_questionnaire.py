"""Import a FHIR R4 Questionnaire (JSON) as a custom instrument; see docs/instruments.md."""

from django.core.management.base import BaseCommand

from outcomes.instrument_services import InstrumentRefused, instrument_import_fhir
from outcomes.instruments import DIRECTIONS
from outcomes.management.commands._instrument_args import clinic_from_slug, read_file, refused


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

    def handle(self, *args, **options):
        clinic = clinic_from_slug(options["clinic"])
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
            )
        except InstrumentRefused as error:
            raise refused("Questionnaire", error.messages) from None
        scope = clinic.name if clinic is not None else "every clinic"
        items = len(row.definition["items"])
        self.stdout.write(
            self.style.SUCCESS(
                f"Imported {row.definition['name']!r} as {row.code} version {row.version} "
                f"({items} items) for {scope}. Add its bands, caseness cutoff and reliable change "
                "in the admin (Instrument definitions)."
            )
        )
        if not row.definition.get("has_item_text"):
            self.stdout.write(
                "Some items have no text: it can be entered in session, but not sent to clients "
                "until their text is added."
            )
