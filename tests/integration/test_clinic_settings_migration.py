"""clients 0010 and 0012: clinics still at a former curve default take the new one; chosen values
stay."""

from django.db import connection
from django.db.migrations.executor import MigrationExecutor


def test_clinics_at_the_former_yellow_default_move_and_chosen_values_stay(transactional_db):
    executor = MigrationExecutor(connection)
    executor.migrate([("clients", "0009_clinic_curve_settings")])
    Clinic = executor.loader.project_state([("clients", "0009_clinic_curve_settings")]).apps
    Clinic = Clinic.get_model("clients", "Clinic")
    former = Clinic.objects.create(name="Former default", slug="former", z_yellow=1.2816)
    chosen = Clinic.objects.create(name="Chosen", slug="chosen", z_yellow=1.0364)

    after_0010 = ("clients", "0010_clinic_z_yellow_new_default")
    executor = MigrationExecutor(connection)
    executor.migrate([after_0010])
    Clinic = executor.loader.project_state([after_0010]).apps.get_model("clients", "Clinic")

    assert Clinic.objects.get(pk=former.pk).z_yellow == 1.6449
    assert Clinic.objects.get(pk=chosen.pk).z_yellow == 1.0364

    # Still on every default after 0010, the clinic chose nothing: 0012 moves it on again.
    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())

    from clients.models import Clinic as CurrentClinic

    assert CurrentClinic.objects.get(pk=former.pk).z_yellow == 0.6
    assert CurrentClinic.objects.get(pk=chosen.pk).z_yellow == 1.0364


PREVIOUS_DEFAULTS = {
    "z_yellow": 1.6449,
    "first_limit_week": 5,
    "not_improving_share": 0.3,
    "not_on_track_rearm_scores": 1,
}
NEW_DEFAULTS = {
    "z_yellow": 0.6,
    "first_limit_week": 4,
    "not_improving_share": 0.05,
    "not_on_track_rearm_scores": 3,
}
BEFORE_0012 = ("clients", "0011_clinic_not_on_track_rearm_scores")


def _curve_settings(clinic) -> dict:
    return {key: getattr(clinic, key) for key in PREVIOUS_DEFAULTS}


def test_0012_moves_clinics_that_chose_nothing_and_is_reversible(transactional_db):
    """clients 0012: a clinic on all four previous defaults takes the new ones; a clinic that chose
    any of them (or the red z) keeps its values; migrating back restores the previous defaults."""
    executor = MigrationExecutor(connection)
    executor.migrate([BEFORE_0012])
    Clinic = executor.loader.project_state([BEFORE_0012]).apps.get_model("clients", "Clinic")
    unchosen = Clinic.objects.create(name="Unchosen", slug="unchosen", **PREVIOUS_DEFAULTS)
    chose_share = Clinic.objects.create(
        name="Chose share", slug="share", **{**PREVIOUS_DEFAULTS, "not_improving_share": 0.4}
    )
    chose_rearm = Clinic.objects.create(
        name="Chose re-arm", slug="rearm", **{**PREVIOUS_DEFAULTS, "not_on_track_rearm_scores": 2}
    )
    chose_red = Clinic.objects.create(name="Chose red", slug="red", z_red=1.96, **PREVIOUS_DEFAULTS)

    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())

    from clients.models import Clinic as CurrentClinic

    assert _curve_settings(CurrentClinic.objects.get(pk=unchosen.pk)) == NEW_DEFAULTS
    assert CurrentClinic.objects.get(pk=chose_share.pk).not_improving_share == 0.4
    assert CurrentClinic.objects.get(pk=chose_share.pk).z_yellow == 1.6449
    assert CurrentClinic.objects.get(pk=chose_rearm.pk).not_on_track_rearm_scores == 2
    assert CurrentClinic.objects.get(pk=chose_rearm.pk).first_limit_week == 5
    assert _curve_settings(CurrentClinic.objects.get(pk=chose_red.pk)) == PREVIOUS_DEFAULTS
    # A clinic created now gets the new defaults from the model.
    fresh = CurrentClinic.objects.create(name="Fresh", slug="fresh")
    assert _curve_settings(fresh) == NEW_DEFAULTS

    executor = MigrationExecutor(connection)
    executor.migrate([BEFORE_0012])
    Clinic = executor.loader.project_state([BEFORE_0012]).apps.get_model("clients", "Clinic")
    assert _curve_settings(Clinic.objects.get(pk=unchosen.pk)) == PREVIOUS_DEFAULTS
    assert _curve_settings(Clinic.objects.get(pk=fresh.pk)) == PREVIOUS_DEFAULTS
    assert Clinic.objects.get(pk=chose_share.pk).not_improving_share == 0.4

    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())
