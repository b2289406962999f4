"""clients 0010: clinics at the former yellow-z default take the new one; chosen values stay."""

from django.db import connection
from django.db.migrations.executor import MigrationExecutor


def test_clinics_at_the_former_yellow_default_move_and_chosen_values_stay(transactional_db):
    executor = MigrationExecutor(connection)
    executor.migrate([("clients", "0009_clinic_curve_settings")])
    Clinic = executor.loader.project_state([("clients", "0009_clinic_curve_settings")]).apps
    Clinic = Clinic.get_model("clients", "Clinic")
    former = Clinic.objects.create(name="Former default", slug="former", z_yellow=1.2816)
    chosen = Clinic.objects.create(name="Chosen", slug="chosen", z_yellow=1.0364)

    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())

    from clients.models import Clinic as CurrentClinic

    assert CurrentClinic.objects.get(pk=former.pk).z_yellow == 1.6449
    assert CurrentClinic.objects.get(pk=chosen.pk).z_yellow == 1.0364
