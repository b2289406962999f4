from django import forms
from django.conf import settings
from django.contrib.auth.forms import AuthenticationForm
from django.core.exceptions import ValidationError

from accounts.known_browser import known_browser_for
from accounts.services import LoginRefusal, login_attempt_claim
from lib.request_address import client_ip


def lockout_message() -> str:
    minutes = max(1, round(settings.LOGIN_LOCKOUT_WINDOW_SECONDS / 60))
    return (
        "Too many failed attempts for this username from your network. For your clients' "
        f"safety, sign-in is paused for up to {minutes} minutes. Ask your clinic admin if you "
        "need access sooner."
    )


def slowdown_message() -> str:
    return (
        "This account has had many failed sign-ins from browsers it has not used before, so "
        f"such browsers may try once every {settings.LOGIN_ACCOUNT_SLOWDOWN_SECONDS} seconds. "
        "Wait a moment and try again; a browser you have signed in with before is not slowed."
    )


def refusal_message(refusal: LoginRefusal) -> str:
    return lockout_message() if refusal is LoginRefusal.LOCKED_OUT else slowdown_message()


class LockoutAuthenticationForm(AuthenticationForm):
    """Django's login form, with the attempt claimed (and counted) before the password is tested
    (``login_attempt_claim``): a refused attempt learns nothing, even with the right password.
    ``self.attempt`` is the claim, for the view to settle when the sign-in succeeds."""

    attempt = None

    def clean(self):
        username = self.cleaned_data.get("username") or ""
        if username:
            self.attempt = login_attempt_claim(
                username=username,
                ip=client_ip(self.request),
                known_browser=known_browser_for(self.request, username),
            )
            if self.attempt.refusal is not None:
                raise ValidationError(refusal_message(self.attempt.refusal), code="locked_out")
        return super().clean()


class TokenForm(forms.Form):
    token = forms.CharField(
        label="Code",
        max_length=20,
        widget=forms.TextInput(
            attrs={"autocomplete": "one-time-code", "inputmode": "text", "autofocus": True}
        ),
    )

    def clean_token(self):
        # Apps show "123 456"; recovery codes are lower case ("k3jd-7wqa-mz2p"; their digest
        # ignores dashes and case too).
        return "".join(self.cleaned_data["token"].split()).lower()
