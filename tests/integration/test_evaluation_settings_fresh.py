"""The evaluation after a submission reads the clinic's settings and curves in one raw statement
(``outcomes.curves.clinics_rule_inputs``) and keeps nothing between calls: a changed setting or a
refit is used by the very next evaluation, as the task runs it (``only_changed``), with no form
stored in between."""

from clients.models import Clinic, Episode
from measures import trajectories
from outcomes import tasks
from outcomes.evaluation import rule_settings, settings_fingerprint
from outcomes.models import Alert, AlertRule, TrajectoryCurve
from tests.integration.evaluation_support import phq9_course


def stored_fingerprint(episode) -> str:
    return Episode.objects.values_list("rules_fingerprint", flat=True).get(pk=episode.pk)


def test_a_changed_setting_is_used_by_the_very_next_evaluation(cast):
    phq9_course(cast.episode, [18, 16, 15])
    tasks.evaluate_episode(cast.episode.pk)
    before = stored_fingerprint(cast.episode)
    assert before == settings_fingerprint(rule_settings(clinic=cast.clinic))

    Clinic.objects.filter(pk=cast.clinic.pk).update(z_yellow=0.3, z_red=0.6)
    tasks.evaluate_episode(cast.episode.pk)

    changed = Clinic.objects.get(pk=cast.clinic.pk)
    assert stored_fingerprint(cast.episode) == settings_fingerprint(rule_settings(clinic=changed))
    assert stored_fingerprint(cast.episode) != before


def test_a_refit_is_used_by_the_very_next_evaluation(cast):
    # On track by the provisional default curve (PHQ-9 17 at intake, 14 at week 4)...
    phq9_course(cast.episode, [17, 15, 14, 14, 14])
    tasks.evaluate_episode(cast.episode.pk)
    assert not Alert.objects.filter(episode=cast.episode, rule=AlertRule.NOT_ON_TRACK).exists()
    before = stored_fingerprint(cast.episode)

    # ...then a refit says this band's clients recover to 8 at once, with little spread.
    row = TrajectoryCurve.objects.create(
        clinic=cast.clinic,
        instrument="phq9",
        band_low=15,
        band_high=19,
        b0=8.0,
        b1=0.0,
        sigma=1.5,
        n_episodes=cast.clinic.trajectory_min_episodes,
        source=TrajectoryCurve.Source.FITTED,
        calibration={"sigma_by_week": {"2": 1.4, "4": 1.6}},
    )
    tasks.evaluate_episode(cast.episode.pk)

    # The curve as the rules were given it, built here from the row rather than by the reader.
    curve = trajectories.BandCurve(
        instrument="phq9",
        band_low=15.0,  # as the database returns a float column
        band_high=19.0,
        b0=8.0,
        b1=0.0,
        sigma=1.5,
        sigma_by_week=((2, 1.4), (4, 1.6)),
        n_episodes=row.n_episodes,
        source="fitted",  # as the database returns it, a plain string
    )
    expected = settings_fingerprint(rule_settings(clinic=cast.clinic, curves=[curve]))
    assert stored_fingerprint(cast.episode) == expected != before
    assert Alert.objects.filter(episode=cast.episode, rule=AlertRule.NOT_ON_TRACK).exists()
