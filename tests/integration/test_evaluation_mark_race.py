"""A form committed while an evaluation of its episode runs is never taken for evaluated: the
form's UPDATE of the episode's mark and the evaluation's row lock take turns (PostgreSQL, real
concurrent transactions). And the evaluation's lock (FOR NO KEY UPDATE) does not hold up a
foreign-key check on the episode, such as a new check-in's."""

import threading
from datetime import timedelta

import pytest
from django.db import connection, transaction
from django.utils import timezone

from clients.models import CheckIn, CheckInKind, Episode
from outcomes import evaluation, tasks
from outcomes.models import Alert, AlertRule
from tests.integration.evaluation_support import phq9, phq9_course, record

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

WAIT = 10  # seconds; a thread that takes this long is stuck


class Paused:
    """Runs ``work`` in a thread that stops where ``pause`` is called until ``go`` is set."""

    def __init__(self, work):
        self.reached, self.go, self.done = threading.Event(), threading.Event(), threading.Event()
        self.result, self.error = None, None
        self.thread = threading.Thread(target=self._run, args=(work,))

    def pause(self):
        self.reached.set()
        assert self.go.wait(WAIT)

    def _run(self, work):
        try:
            self.result = work()
        except Exception as error:  # surfaced by the test
            self.error = error
        finally:
            self.done.set()
            connection.close()

    def start(self):
        self.thread.start()
        return self

    def finish(self):
        self.go.set()
        self.thread.join(WAIT)
        assert self.done.is_set() and self.error is None, self.error
        return self.result


def evaluation_paused_after_its_read(monkeypatch, episode) -> Paused:
    """An evaluation of the episode, in a thread, that stops once it has locked the episode and
    read its administrations."""
    real_frame = evaluation.administrations_frame

    def administrations_frame(*, episode_ids):
        frame = real_frame(episode_ids=episode_ids)
        if threading.current_thread() is running.thread:
            running.pause()
        return frame

    monkeypatch.setattr(evaluation, "administrations_frame", administrations_frame)
    running = Paused(lambda: evaluation.episode_evaluate(episode_id=episode.pk)).start()
    assert running.reached.wait(WAIT)
    return running


def worsening(episode):
    return Alert.objects.filter(episode=episode, rule=AlertRule.RELIABLE_DETERIORATION)


def test_a_form_committed_while_an_evaluation_runs_keeps_its_episode_marked(cast, monkeypatch):
    # Two forms not evaluated yet: the episode is marked when the evaluation starts, so a form
    # that only set the mark where it was clear would see it set, not wait, and be lost.
    phq9_course(cast.episode, [12, 13])
    running = evaluation_paused_after_its_read(monkeypatch, cast.episode)  # read the two forms

    def submit():
        form = record(cast.episode, "phq9", phq9(22), weeks_ago=0)
        connection.close()
        return form

    submission = threading.Thread(target=submit)
    submission.start()
    submission.join(1.0)
    # The form's transaction waits at its mark for the evaluation's row lock.
    assert submission.is_alive()
    summary = running.finish()
    submission.join(WAIT)
    assert not submission.is_alive()

    assert summary.administrations == 2  # the evaluation did not see the new form...
    assert not worsening(cast.episode).exists()
    episode = Episode.objects.get(pk=cast.episode.pk)
    assert episode.rules_pending_since is not None  # ...and the episode is still marked
    assert cast.episode.pk in evaluation.episodes_to_evaluate()

    tasks.evaluate_episode.run(cast.episode.pk)  # the submission's task, skipping nothing
    assert worsening(cast.episode).exists()
    assert Episode.objects.get(pk=cast.episode.pk).rules_pending_since is None


def test_an_evaluation_waits_for_a_form_being_stored_and_reads_it(cast, monkeypatch):
    phq9_course(cast.episode, [12, 13])
    evaluation.episode_evaluate(episode_id=cast.episode.pk)

    def submit():
        with transaction.atomic():
            record(cast.episode, "phq9", phq9(22), weeks_ago=0)
            storing.pause()  # stored and marked, not committed

    storing = Paused(submit).start()
    assert storing.reached.wait(WAIT)
    running = Paused(lambda: evaluation.episode_evaluate(episode_id=cast.episode.pk))
    running.go.set()  # no pause wanted in this one
    running.start()
    assert not running.done.wait(1.0)  # waiting for the episode's row lock
    storing.finish()
    summary = running.finish()

    assert summary.administrations == 3  # it read the form committed while it waited
    assert worsening(cast.episode).exists()
    assert Episode.objects.get(pk=cast.episode.pk).rules_pending_since is None


def test_a_check_in_can_be_created_while_an_evaluation_holds_its_episode(cast, monkeypatch):
    phq9_course(cast.episode, [12, 13])
    running = evaluation_paused_after_its_read(monkeypatch, cast.episode)
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            # FOR UPDATE would make the foreign-key check wait for the whole evaluation.
            cursor.execute("SET LOCAL lock_timeout = '2s'")
            due = timezone.now() + timedelta(days=1)
            CheckIn.objects.create(
                episode=cast.episode,
                kind=CheckInKind.SCHEDULED,
                due_at=due,
                instruments=["phq9"],
                expires_at=due + timedelta(days=4),
            )
    finally:
        running.finish()
    assert CheckIn.objects.filter(episode=cast.episode).count() == 1
