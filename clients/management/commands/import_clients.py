"""manage.py import_clients FILE [--clinic SLUG] [--as USERNAME] [--dry-run]

Import clients from a CSV file (columns: label, therapist (username); optional email, name,
timezone, language, started_on as YYYY-MM-DD), each with a first episode. Every row is checked
first; if any is invalid the errors are printed per line and nothing is created.
"""

from pathlib import Path

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from clients.client_import import ImportInvalid, clients_import_csv
from clients.models import Client, Clinic, Episode, Membership, Role
from lib.planner import planner_statistics_refresh


class Command(BaseCommand):
    help = "Import clients from a CSV file, all rows or none."

    def add_arguments(self, parser):
        parser.add_argument("file", type=Path)
        parser.add_argument("--clinic", help="The clinic's slug (needed if there are several).")
        parser.add_argument(
            "--as",
            dest="username",
            help="The clinic admin the import is recorded as (default: the clinic's first admin).",
        )
        parser.add_argument("--dry-run", action="store_true", help="Check only; create nothing.")

    def handle(self, *args, file: Path, clinic, username, dry_run, **options):
        clinic = self._clinic(clinic)
        actor = self._actor(clinic, username)
        if not file.is_file():
            raise CommandError(f"No such file: {file}")

        def progress(rows, what):
            return tqdm(rows, desc=what, unit="row", file=self.stderr._out, leave=False)

        try:
            with file.open("rb") as stream:
                result = clients_import_csv(
                    actor=actor, clinic=clinic, stream=stream, dry_run=dry_run, progress=progress
                )
        except ImportInvalid as error:
            for message in error.file_errors:
                self.stderr.write(f"{file}: {message}")
            for line, errors in error.row_errors:
                for column, messages in errors.items():
                    self.stderr.write(f"{file}:{line}: {column}: {' '.join(messages)}")
            raise CommandError("Nothing was imported.") from error
        if not dry_run:
            planner_statistics_refresh(Client, Episode, Membership)
        verb = "would be imported (dry run)" if dry_run else "imported"
        self.stdout.write(f"{result.count} client(s) {verb} into {clinic.slug}.")

    def _clinic(self, slug) -> Clinic:
        if slug:
            clinic = Clinic.objects.filter(slug=slug).first()
            if clinic is None:
                raise CommandError(f"No clinic with the slug '{slug}'.")
            return clinic
        clinics = list(Clinic.objects.all()[:2])
        if len(clinics) != 1:
            raise CommandError("Name the clinic with --clinic SLUG.")
        return clinics[0]

    def _actor(self, clinic, username):
        # The import is recorded in the audit log as a clinic admin's act: an admin may assign
        # any therapist of the clinic, as the services require.
        admins = Membership.objects.filter(clinic=clinic, role=Role.ADMIN, user__is_active=True)
        if username:
            admins = admins.filter(user__username=username)
        membership = admins.select_related("user").order_by("pk").first()
        if membership is None:
            who = f"'{username}' is not" if username else "nobody is"
            raise CommandError(f"{who} an active clinic admin of {clinic.slug}.")
        return get_user_model().objects.get(pk=membership.user_id)
