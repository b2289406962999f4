from django import forms
from django.conf import settings
from django.contrib.auth.forms import AuthenticationForm
from django.core.exceptions import ValidationError

from accounts.selectors import client_ip, login_is_locked_out
from accounts.services import login_failure_record


def lockout_message() -> str:
    minutes = max(1, round(settings.LOGIN_LOCKOUT_WINDOW_SECONDS / 60))
    return (
        "Too many failed attempts for this username from your network. For your clients' "
        f"safety, sign-in is paused for up to {minutes} minutes. Ask your clinic admin if you "
        "need access sooner."
    )


class LockoutAuthenticationForm(AuthenticationForm):
    """Django's login form, refusing (username, address) pairs with too many recent failures.

    The check runs before the password is tested, so a locked-out pair learns nothing more, even
    with the right password.
    """

    def clean(self):
        username = self.cleaned_data.get("username") or ""
        ip = client_ip(self.request)
        if username and login_is_locked_out(username=username, ip=ip):
            raise ValidationError(lockout_message(), code="locked_out")
        try:
            return super().clean()
        except ValidationError:
            if username:
                login_failure_record(username=username, ip=ip)
            raise


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


class ApiTokenForm(forms.Form):
    name = forms.CharField(
        max_length=100,
        label="What will use it",
        help_text="For example 'EHR sync': shown in the list so you can tell your keys apart.",
    )
