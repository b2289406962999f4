"""``manage.py fit_trajectories [--clinic SLUG]``: refit the expected recovery curves.

The monthly beat job (``outcomes.tasks.fit_trajectories``) does the same for every clinic.
"""

from django.core.management.base import BaseCommand, CommandError

from clients.models import Clinic
from outcomes.curves import curves_fit


class Command(BaseCommand):
    help = "Fit expected recovery curves per instrument and intake band on completed episodes."

    def add_arguments(self, parser):
        parser.add_argument("--clinic", help="Slug of one clinic (default: every clinic).")

    def handle(self, *args, clinic=None, **options):
        clinics = Clinic.objects.order_by("pk")
        if clinic:
            clinics = clinics.filter(slug=clinic)
            if not clinics.exists():
                raise CommandError(f"No clinic with the slug '{clinic}'.")
        for one in clinics:
            summary = curves_fit(clinic=one)
            self.stdout.write(
                f"{one.slug}: {summary.fitted_bands} band(s) fitted on the clinic's episodes, "
                f"{summary.default_bands} on the provisional defaults "
                f"(fewer than {one.trajectory_min_episodes} completed episodes)."
            )
