"""Passwords that a guesser tries first are refused, not only the exact common ones.

Django's CommonPasswordValidator knows 20,000 leaked passwords, but only verbatim: "Summer2026",
"Welcome1!" or "P@ssw0rd2026" pass it, and they are among the first a password sprayer tries
(a common word, a season or a month, then a year or a digit and a symbol). This validator takes
off the digits and symbols around the word, undoes the usual letter-for-digit swaps, and looks
the word up in the same bundled list (Django's, from Royce Williams's breach corpus) and in a
short list of words that are guessed with a year.
"""

import re

from django.contrib.auth.password_validation import CommonPasswordValidator
from django.core.exceptions import ValidationError

LEET = str.maketrans(
    {"0": "o", "1": "l", "3": "e", "4": "a", "5": "s", "7": "t", "@": "a", "$": "s"}
)
# Words sprayed with a year or a number; the breach list has many of them only with suffixes.
SPRAYED_WORDS = frozenset(
    [
        "spring",
        "summer",
        "autumn",
        "fall",
        "winter",
        "january",
        "february",
        "march",
        "april",
        "may",
        "june",
        "july",
        "august",
        "september",
        "october",
        "november",
        "december",
        "monday",
        "friday",
        "welcome",
        "password",
        "passw0rd",
        "letmein",
        "changeme",
        "qwerty",
        "admin",
        "administrator",
        "clinic",
        "therapy",
        "therapist",
        "health",
        "hospital",
        "login",
        "secret",
        "iloveyou",
        "football",
        "dragon",
        "monkey",
        "sunshine",
        "princess",
    ]
)


class CommonPatternPasswordValidator:
    def __init__(self):
        self._common = CommonPasswordValidator().passwords

    def validate(self, password, user=None):
        if self._guessable(password):
            raise ValidationError(
                "This password is a common word with numbers or symbols around it, which is "
                "among the first things a guesser tries. Use a few unrelated words instead.",
                code="password_common_pattern",
            )

    def _guessable(self, password: str) -> bool:
        lowered = password.lower()
        candidates = {lowered, lowered.translate(LEET)}
        for candidate in list(candidates):
            core = re.sub(r"^[^a-z]+|[^a-z]+$", "", candidate)
            candidates.add(core)
            candidates.add(re.sub(r"[^a-z]", "", candidate))
        candidates.discard("")
        return any(c in self._common or c in SPRAYED_WORDS for c in candidates)

    def get_help_text(self):
        return "Your password can't be a common word with numbers or symbols added."
