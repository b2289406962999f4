from django.core.management.base import BaseCommand, CommandError

from clients.models import Client
from privacy.services import client_erase


class Command(BaseCommand):
    help = "Erase one client and all their data on request (GDPR art. 17). Audited."

    def add_arguments(self, parser):
        parser.add_argument("--clinic", required=True, help="the clinic's slug")
        parser.add_argument("--label", required=True, help="the client's label, e.g. C-0042")
        parser.add_argument(
            "--yes", action="store_true", help="confirm: the erasure cannot be undone"
        )

    def handle(self, *args, **options):
        client = Client.objects.filter(
            clinic__slug=options["clinic"], label=options["label"]
        ).first()
        if client is None:
            raise CommandError("No such client in that clinic.")
        if not options["yes"]:
            raise CommandError("Erasure cannot be undone: run again with --yes to confirm.")
        erased = client_erase(client=client, reason="request (command)")
        self.stdout.write(
            f"Erased {options['label']}: {erased.episodes} episode(s), "
            f"{erased.responses} response(s), {erased.mails} queued mail(s)."
        )
