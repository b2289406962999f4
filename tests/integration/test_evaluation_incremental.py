"""The hourly sweep evaluates only what changed, and misses nothing: after an incremental sweep
a full re-evaluation finds nothing left to create or change, on random histories and random
change sets (new forms, missed check-ins, changed clinic settings, a refitted curve), with
per-submission tasks (which skip an episode with nothing new) run on random episodes before it."""

import random

import pytest
from django.utils import timezone

from clients import checkins
from clients.models import CheckInStatus, Episode
from outcomes import tasks
from outcomes.evaluation import episodes_evaluate, episodes_to_evaluate
from outcomes.models import Alert, TrajectoryCurve
from tests.factories import make_client, make_episode
from tests.integration.evaluation_support import checkin, phq9, phq9_course, record


def alerts_and_statuses():
    return (
        set(Alert.objects.values_list("episode_id", "rule", "trigger", "severity")),
        set(Episode.objects.values_list("pk", "status", "status_reason")),
    )


def random_history(episode, rng):
    phq9_course(episode, [rng.randint(0, 24) for _ in range(rng.randint(0, 6))])
    for week in range(rng.randint(0, 5)):
        status = rng.choice([CheckInStatus.EXPIRED, CheckInStatus.PENDING])
        made = checkin(episode, status=status, weeks_ago=week + 0.5)
        if status == CheckInStatus.PENDING and rng.random() < 0.5:
            made.expires_at = timezone.now() + (made.expires_at - made.due_at)  # still open
            made.save(update_fields=["expires_at"])


def random_changes(episodes, clinic, rng) -> set[int]:
    """Returns the episodes that got a new form."""
    with_new_form = set()
    for episode in rng.sample(episodes, rng.randint(0, len(episodes))):
        record(episode, "phq9", phq9(rng.randint(0, 24)), weeks_ago=rng.random() / 7)
        with_new_form.add(episode.pk)
    if rng.random() < 0.5:
        checkins.checkin_expire_overdue()  # pending check-ins past their expiry become missed
    if rng.random() < 0.4:
        clinic.z_yellow, clinic.z_red = rng.choice([(0.5, 1.0), (1.0, 2.0), (0.3, 0.6)])
        clinic.missed_checkins_for_alert = rng.choice([1, 2, 3])
        clinic.save()
    if rng.random() < 0.3:
        TrajectoryCurve.objects.create(
            clinic=clinic,
            instrument="phq9",
            band_low=rng.choice([10, 15, 20]),
            band_high=27,
            b0=rng.uniform(10, 22),
            b1=rng.uniform(-1, 0),
            sigma=rng.uniform(2, 5),
            n_episodes=clinic.trajectory_min_episodes,
            source=TrajectoryCurve.Source.FITTED,
        )
    return with_new_form


def marked() -> set[int]:
    pending = Episode.objects.filter(rules_pending_since__isnull=False)
    return set(pending.values_list("pk", flat=True))


@pytest.mark.parametrize("seed", range(8))
def test_an_incremental_sweep_leaves_nothing_for_a_full_one_to_find(cast, seed):
    rng = random.Random(seed)
    episodes = [cast.episode, cast.other_episode] + [
        make_episode(make_client(cast.clinic), cast.therapist) for _ in range(4)
    ]
    for episode in episodes:
        random_history(episode, rng)
    episodes_evaluate(episode_ids=episodes_to_evaluate(full=True))
    assert episodes_to_evaluate() == []  # a steady sweep reads nothing

    assert marked() == set()

    for _ in range(3):
        with_new_form = random_changes(episodes, cast.clinic, rng)
        assert marked() == with_new_form  # every new form marks its episode, and nothing else
        assert with_new_form <= set(episodes_to_evaluate())
        # Some submissions' tasks ran (or arrive twice, or for an episode with nothing new: they
        # skip it); the sweep then does the rest.
        for episode in rng.sample(episodes, rng.randint(0, len(episodes))):
            tasks.evaluate_episode.run(episode.pk)
        episodes_evaluate(episode_ids=episodes_to_evaluate())
        assert marked() == set()
        incremental = alerts_and_statuses()
        full = episodes_evaluate(episode_ids=episodes_to_evaluate(full=True))
        assert (full.alerts_created, full.statuses_changed) == (0, 0)
        assert alerts_and_statuses() == incremental
        assert episodes_to_evaluate() == []


def test_a_new_form_a_missed_checkin_or_a_changed_setting_selects_just_that(cast):
    quiet = make_episode(make_client(cast.clinic), cast.therapist)
    for episode in (cast.episode, cast.other_episode, quiet):
        phq9_course(episode, [12, 14])
    episodes_evaluate(episode_ids=episodes_to_evaluate(full=True))
    assert episodes_to_evaluate() == []

    record(cast.episode, "phq9", phq9(20), weeks_ago=0)
    assert episodes_to_evaluate() == [cast.episode.pk]
    episodes_evaluate(episode_ids=episodes_to_evaluate())

    overdue = checkin(cast.other_episode, status=CheckInStatus.PENDING, weeks_ago=2)
    assert checkins.checkin_expire_overdue() == 1
    assert episodes_to_evaluate() == [overdue.episode_id]
    episodes_evaluate(episode_ids=episodes_to_evaluate())

    cast.clinic.z_yellow = 0.7
    cast.clinic.save()
    in_clinic = set(Episode.objects.filter(clinic=cast.clinic).values_list("pk", flat=True))
    assert set(episodes_to_evaluate()) == in_clinic


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("first_limit_week", 2),
        ("sigma_floor", "sem"),
        ("early_in_care_weeks", 6),
        ("alliance_window_days", 7),
        ("not_on_track_rearm_scores", 2),
    ],
)
def test_changing_a_curve_or_grading_setting_re_evaluates_the_clinic(cast, field, value):
    phq9_course(cast.episode, [12, 14])
    episodes_evaluate(episode_ids=episodes_to_evaluate(full=True))
    assert episodes_to_evaluate() == []

    setattr(cast.clinic, field, value)
    cast.clinic.save()
    assert cast.episode.pk in episodes_to_evaluate()


def test_the_submission_task_skips_an_episode_with_nothing_new_and_not_one_with_something_new(
    cast, monkeypatch
):
    from outcomes import evaluation

    phq9_course(cast.episode, [12, 14])
    tasks.evaluate_episode.run(cast.episode.pk)  # the first: never evaluated
    read = []
    real_frame = evaluation.administrations_frame

    def administrations_frame(*, episode_ids):
        read.append(list(episode_ids))
        return real_frame(episode_ids=episode_ids)

    monkeypatch.setattr(evaluation, "administrations_frame", administrations_frame)
    tasks.evaluate_episode.run(cast.episode.pk)  # a second task for the same form: nothing new
    assert read == []

    record(cast.episode, "phq9", phq9(22), weeks_ago=0)  # a new form
    tasks.evaluate_episode.run(cast.episode.pk)
    tasks.evaluate_episode.run(cast.episode.pk)
    assert read == [[cast.episode.pk]]

    overdue = checkin(cast.episode, status=CheckInStatus.PENDING, weeks_ago=2)
    assert checkins.checkin_expire_overdue() == 1 and overdue.episode_id == cast.episode.pk
    tasks.evaluate_episode.run(cast.episode.pk)  # a missed check-in
    assert len(read) == 2

    cast.clinic.z_yellow = 0.7
    cast.clinic.save()
    tasks.evaluate_episode.run(cast.episode.pk)  # a changed setting
    assert len(read) == 3
    tasks.evaluate_episode.run(cast.episode.pk)
    assert len(read) == 3
