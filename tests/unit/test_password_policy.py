"""The password policy: long, and not a common word dressed up with digits and symbols."""

import pytest
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError


@pytest.mark.parametrize(
    "password",
    [
        "Summer2026",  # too short, and a season with a year
        "Summer2026!!",  # long enough, still a season with a year
        "Welcome2026!",
        "P@ssw0rd2026",
        "!!Password123",
        "december-2026",
        "Qwerty123456",
        "12345678901234",
    ],
)
def test_guessable_passwords_are_refused(password, db):
    with pytest.raises(ValidationError):
        validate_password(password)


@pytest.mark.parametrize(
    "password", ["a-Fresh-passphrase-2026", "demo-password-2026", "copper kettle harbour"]
)
def test_long_unguessable_passwords_are_accepted(password, db):
    validate_password(password)
