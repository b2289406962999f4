"""Load a licensed text pack (the item wording of ORS, SRS, CORE-10 or OQ-45) from a JSON file.

The format is documented in docs/instruments.md ("Text packs"); ``manage.py instrument_template
CODE`` prints an empty pack to fill in from the licensed copy.
"""

from django.core.management.base import BaseCommand

from outcomes.instrument_services import InstrumentRefused, text_pack_load
from outcomes.management.commands._instrument_args import clinic_from_slug, read_file, refused


class Command(BaseCommand):
    help = (
        "Validate a licensed text pack (JSON) and store it, for one clinic (--clinic SLUG) or for "
        "every clinic on this installation. Nothing is stored when anything is wrong."
    )

    def add_arguments(self, parser):
        parser.add_argument("file", help="the text pack, a JSON file")
        parser.add_argument("--clinic", help="the clinic's slug; omit for every clinic")

    def handle(self, *args, **options):
        clinic = clinic_from_slug(options["clinic"])
        payload = read_file(options["file"])
        try:
            row = text_pack_load(clinic=clinic, payload=payload, user=None)
        except InstrumentRefused as error:
            raise refused("Text pack", error.messages) from None
        scope = clinic.name if clinic is not None else "every clinic"
        self.stdout.write(
            self.style.SUCCESS(
                f"Loaded the {row.code} text pack (version {row.version}) for {scope}; "
                f"{row.code} can now be sent to clients."
            )
        )
