from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from audit.services import audit_record
from clients.models import Client
from privacy.exports import export_json, export_pdf
from privacy.selectors import client_data_export


class Command(BaseCommand):
    help = "Export everything stored about one client (subject access request) as JSON or PDF."

    def add_arguments(self, parser):
        parser.add_argument("--clinic", required=True, help="the clinic's slug")
        parser.add_argument("--label", required=True, help="the client's label, e.g. C-0042")
        parser.add_argument("--format", choices=["json", "pdf"], default="json")
        parser.add_argument("--output", required=True, help="file to write")

    def handle(self, *args, **options):
        client = Client.objects.filter(
            clinic__slug=options["clinic"], label=options["label"]
        ).first()
        if client is None:
            raise CommandError("No such client in that clinic.")
        data = client_data_export(client=client)
        content = export_pdf(data) if options["format"] == "pdf" else export_json(data)
        Path(options["output"]).write_bytes(content)
        audit_record(
            actor=None,
            action="client.export",
            obj=client,
            clinic=client.clinic,
            client=client,
            details={"format": options["format"], "via": "command"},
        )
        self.stdout.write(f"Wrote {len(content)} bytes to {options['output']}.")
