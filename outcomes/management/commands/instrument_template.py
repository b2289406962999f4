"""Print an empty text pack for an instrument shipped without its (licensed) item text."""

import json

from django.core.management.base import BaseCommand, CommandError

from measures.instruments import text_pack_template
from outcomes.management.commands._instrument_args import clinic_from_slug
from outcomes.selectors import instrument_base_for


class Command(BaseCommand):
    help = (
        "Print an empty text pack (JSON) for CODE (ors, srs, core10, oq45, or a clinic's own "
        "instrument without item text), to fill in from the licensed copy and load with "
        "load_text_pack."
    )

    def add_arguments(self, parser):
        parser.add_argument("code")
        parser.add_argument("--clinic", help="the clinic's slug, for a clinic's own instrument")

    def handle(self, *args, **options):
        clinic = clinic_from_slug(options["clinic"])
        try:
            instrument = instrument_base_for(clinic, options["code"])
        except KeyError as error:
            raise CommandError(error.args[0]) from None
        if instrument.has_item_text:
            raise CommandError(
                f"{instrument.name} already has its item text; it needs no text pack."
            )
        self.stdout.write(json.dumps(text_pack_template(instrument), indent=2, ensure_ascii=False))
