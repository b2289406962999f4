"""Guessing passwords: the lockout holds under parallel attempts, and a guesser spread over many
addresses is slowed down per account without locking the user's own browser out."""

import threading
from datetime import timedelta

import pytest
import time_machine
from django.db import connection
from django.test import Client
from django.utils import timezone

from accounts.models import LoginFailure
from tests.factories import make_clinic, make_staff

PASSWORD = "pw-Correct-Horse-2026"
REFUSED = ("Too many failed attempts", "may try once every")


def log_in(browser, password, ip):
    return browser.post("/login/", {"username": "therapist", "password": password}, REMOTE_ADDR=ip)


def was_tested(response) -> bool:
    """The password was checked (and found wrong), rather than the attempt refused unchecked."""
    html = response.content.decode()
    if any(text in html for text in REFUSED):
        return False
    assert "Please enter a correct" in html, (response.status_code, html[:400])
    return True


@pytest.fixture
def therapist(db, settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    user = make_staff(make_clinic(), username="therapist")
    user.set_password(PASSWORD)
    user.save()
    return user


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_forty_parallel_wrong_passwords_from_one_address_test_at_most_the_threshold(
    therapist, settings
):
    settings.LOGIN_LOCKOUT_THRESHOLD = 5
    start = threading.Barrier(40)
    tested, errors = [], []

    def guess(n):
        try:
            start.wait(timeout=20)
            tested.append(was_tested(log_in(Client(), f"wrong-{n}", "203.0.113.9")))
        except Exception as error:  # surfaced by the assertion below
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=guess, args=(n,)) for n in range(40)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert errors == []
    assert len(tested) == 40
    assert 1 <= sum(tested) <= 5
    assert LoginFailure.objects.filter(username="therapist").count() == sum(tested)
    # Attempts refused in the crush left no failure behind: one at a time, the address gets
    # exactly the rest of its five, and then not even the right password is tested.
    later = [was_tested(log_in(Client(), "wrong", "203.0.113.9")) for _ in range(6)]
    assert sum(tested) + sum(later) == 5
    assert not was_tested(log_in(Client(), PASSWORD, "203.0.113.9"))


def test_guesses_spread_over_ten_addresses_are_slowed_per_account(therapist, settings):
    settings.LOGIN_LOCKOUT_THRESHOLD = 5
    settings.LOGIN_ACCOUNT_STRANGER_FAILURES = 10
    settings.LOGIN_ACCOUNT_SLOWDOWN_SECONDS = 30
    own_browser = Client()
    assert log_in(own_browser, PASSWORD, "192.0.2.1").status_code == 302  # signed in before
    own_browser.post("/logout/")

    tested = [was_tested(log_in(Client(), f"guess-{n}", f"198.51.100.{n % 10}")) for n in range(50)]

    assert sum(tested) == 10  # not 50: the account-wide cap for strangers' browsers
    # The user's own browser, from a new address (a train's Wi-Fi), is not slowed.
    assert log_in(own_browser, PASSWORD, "192.0.2.77").status_code == 302
    # A browser the account has never used waits its turn, even with the right password...
    stranger = log_in(Client(), PASSWORD, "192.0.2.78")
    assert (
        stranger.status_code == 200 and "may try once every 30 seconds" in stranger.content.decode()
    )
    # ...and gets it once the slowdown has passed: slowed, never locked out.
    with time_machine.travel(timezone.now() + timedelta(seconds=31)):
        assert log_in(Client(), PASSWORD, "192.0.2.78").status_code == 302
