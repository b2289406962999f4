"""Sign-in, the second factor (verify, enrol, recovery codes) and password change.

The flow: password (``StaffLoginView``, with lockout) → Django cycles the session key → the MFA
middleware sends the user to ``mfa_verify`` if they have a device, or to ``mfa_enrol`` if their
role requires one → the verified device is stored in the session (django-otp) and the session
key cycled again, so a session id seen before verification is worth nothing after it.

Every view here is ``never_cache`` (``Cache-Control: no-store``): TOTP secrets and recovery codes
must not linger in a shared computer's browser cache.
"""

import django_otp
from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.urls import reverse, reverse_lazy
from django.utils.http import url_has_allowed_host_and_scheme, urlencode
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST
from django_otp import devices_for_user

from accounts.forms import LockoutAuthenticationForm, TokenForm, refusal_message
from accounts.known_browser import known_browser_remember
from accounts.models import RecoveryCodes
from accounts.qr import qr_svg
from accounts.selectors import (
    mfa_required_for,
    user_audit_clinic,
    user_has_mfa,
)
from accounts.services import (
    login_attempt_claim,
    login_attempt_succeeded,
    password_changed,
    recovery_codes_regenerate,
    totp_device_confirm,
    totp_device_start,
)
from audit.services import audit_record
from lib.request_address import client_ip


class StaffLoginView(auth_views.LoginView):
    form_class = LockoutAuthenticationForm

    def form_valid(self, form):
        user = form.get_user()
        login_attempt_succeeded(
            attempt=form.attempt, username=user.get_username(), ip=client_ip(self.request)
        )
        response = super().form_valid(form)
        known_browser_remember(self.request, response, user.get_username())
        audit_record(
            actor=user, action="auth.login", clinic=user_audit_clinic(user), request=self.request
        )
        return response


class StaffPasswordChangeView(auth_views.PasswordChangeView):
    """Django re-hashes the session of this browser only (``update_session_auth_hash``): every
    other session of the user carries the old password's hash and is logged out on its next
    request. The user's API tokens are revoked (``accounts.services.password_changed``)."""

    success_url = reverse_lazy("accounts:password_change_done")

    def form_valid(self, form):
        response = super().form_valid(form)
        revoked = password_changed(
            user=self.request.user, actor=self.request.user, request=self.request
        )
        if revoked:
            messages.warning(
                self.request,
                f"Your {revoked} API token(s) were revoked with the old password: ask an "
                "administrator for new ones for the systems that used them.",
            )
        return response


def _next_url(request) -> str:
    candidate = request.POST.get("next") or request.GET.get("next") or ""
    if candidate and url_has_allowed_host_and_scheme(
        candidate, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return candidate
    return reverse("dashboards:caseload")


@never_cache
@login_required
def mfa_verify(request):
    user = request.user
    if user.is_verified():
        return redirect(_next_url(request))
    if not user_has_mfa(user):
        return redirect(
            f"{reverse('accounts:mfa_enrol')}?{urlencode({'next': _next_url(request)})}"
        )
    form = TokenForm(request.POST or None)
    ip = client_ip(request)
    if request.method == "POST" and form.is_valid():
        # The password was right, so this is the user's browser or their password is known:
        # either way the code is the guard now, and only the per-address lockout applies.
        attempt = login_attempt_claim(username=user.get_username(), ip=ip, known_browser=True)
        if attempt.refusal is not None:
            form.add_error(None, refusal_message(attempt.refusal))
        else:
            device = _device_accepting(user=user, token=form.cleaned_data["token"])
            if device is not None:
                django_otp.login(request, device)
                request.session.cycle_key()
                login_attempt_succeeded(attempt=attempt, username=user.get_username(), ip=ip)
                if isinstance(device, RecoveryCodes):
                    _recovery_code_used(request=request, device=device)
                return redirect(_next_url(request))
            form.add_error("token", "That code is not right, or it has expired. Try again.")
    return render(request, "accounts/mfa_verify.html", {"form": form, "next": _next_url(request)})


def _device_accepting(*, user, token: str):
    for device in devices_for_user(user):
        verified = django_otp.verify_token(user, device.persistent_id, token)
        if verified is not None:
            return verified
    return None


def _recovery_code_used(*, request, device) -> None:
    left = device.codes.count()
    audit_record(
        actor=request.user,
        action="auth.recovery_code_used",
        obj=request.user,
        clinic=user_audit_clinic(request.user),
        request=request,
        details={"codes_left": left},
    )
    messages.warning(
        request,
        f"You signed in with a recovery code; {left} left. If your phone is lost, set up the "
        "authenticator again from Account security.",
    )


@never_cache
@login_required
def mfa_enrol(request):
    user = request.user
    # Replacing a second factor needs the current one: otherwise a stolen password would do.
    if user_has_mfa(user) and not user.is_verified():
        verify = reverse("accounts:mfa_verify")
        return redirect(f"{verify}?{urlencode({'next': reverse('accounts:mfa_enrol')})}")
    device = totp_device_start(user=user)
    form = TokenForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        codes = totp_device_confirm(
            device=device, token=form.cleaned_data["token"], request=request
        )
        if codes is not None:
            django_otp.login(request, device)
            request.session.cycle_key()
            return render(
                request,
                "accounts/recovery_codes.html",
                {"codes": codes, "next": _next_url(request), "first_time": True},
            )
        form.add_error("token", "That code does not match. Check the clock on your phone.")
    secret = device.secret_base32
    context = {
        "form": form,
        "qr_svg": qr_svg(device.config_url),
        "secret_groups": [secret[i : i + 4] for i in range(0, len(secret), 4)],
        "required": mfa_required_for(user),
        "next": _next_url(request),
    }
    return render(request, "accounts/mfa_enrol.html", context)


@never_cache
@login_required
@require_POST
def recovery_codes_new(request):
    if not user_has_mfa(request.user):
        return redirect("accounts:mfa_enrol")
    codes = recovery_codes_regenerate(user=request.user, request=request)
    return render(
        request,
        "accounts/recovery_codes.html",
        {"codes": codes, "next": reverse("accounts:security"), "first_time": False},
    )


@never_cache
@login_required
def security(request):
    user = request.user
    recovery = RecoveryCodes.objects.filter(user=user, confirmed=True).first()
    context = {
        "has_mfa": user_has_mfa(user),
        "required": mfa_required_for(user),
        "recovery_codes_left": recovery.codes.count() if recovery else 0,
    }
    return render(request, "accounts/security.html", context)
