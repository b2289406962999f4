"""Two submissions of one check-in at the same moment (two tabs, a double tap on a slow
connection) store exactly one response: on PostgreSQL the conditional UPDATE that claims the
check-in holds its row lock, so the second waits and then claims nothing."""

import threading

import pytest
from django.db import connection

from checkins.services import checkin_submit
from clients.checkins import LinkState, checkins_sweep
from clients.models import CheckIn
from outcomes.models import Administration
from tests.checkin_support import GAD7_CALM, PHQ9_CALM, start_plan
from tests.factories import make_client, make_clinic, make_episode, make_staff

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def test_two_simultaneous_submissions_store_one_response(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    clinic = make_clinic()
    episode = make_episode(make_client(clinic), make_staff(clinic))
    start_plan(episode)
    checkins_sweep()
    checkin = CheckIn.objects.get(episode=episode)

    start = threading.Barrier(2)
    outcomes, errors = [], []

    def submit(phq9):
        try:
            start.wait(timeout=10)
            outcomes.append(
                checkin_submit(checkin_id=checkin.pk, answers={"phq9": phq9, "gad7": GAD7_CALM})
            )
        except Exception as error:  # surfaced by the assertion below
            errors.append(error)
        finally:
            connection.close()

    threads = [
        threading.Thread(target=submit, args=(PHQ9_CALM,)),
        threading.Thread(target=submit, args=([3] * 9 + [3],)),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert errors == []
    assert sorted(outcome.stored for outcome in outcomes) == [False, True]
    assert {outcome.state for outcome in outcomes} == {LinkState.COMPLETED}
    assert Administration.objects.filter(checkin=checkin).count() == 2
    assert Administration.objects.filter(checkin=checkin, instrument="phq9").count() == 1
