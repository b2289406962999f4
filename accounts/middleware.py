"""Second factor enforcement for every staff page, the admin and the session-authenticated API.

After ``django_otp.middleware.OTPMiddleware``. A signed-in user who has a device but has not used
it in this session is sent to verify; one whose role requires a second factor and who has none
is sent to enrol before anything else. Pages without a signed-in user (the client's check-in link,
/healthz, the login page) are untouched: they have their own protection.
"""

from django.conf import settings
from django.http import JsonResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.http import urlencode

from accounts.selectors import mfa_required_for, user_has_mfa


class MFARequiredMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response
        self._exempt_paths: tuple[str, ...] | None = None

    def exempt_paths(self) -> tuple[str, ...]:
        # Resolved lazily: the URLconf is not loaded yet when middleware is built.
        if self._exempt_paths is None:
            self._exempt_paths = (
                reverse("accounts:mfa_verify"),
                reverse("accounts:mfa_enrol"),
                reverse("login"),
                reverse("logout"),
                reverse("healthz"),
                "/" + settings.STATIC_URL.lstrip("/"),
            )
        return self._exempt_paths

    def __call__(self, request):
        user = request.user
        if (
            user.is_authenticated
            and not request.path_info.startswith(self.exempt_paths())
            and not user.is_verified()
        ):
            if user_has_mfa(user):
                return self._refuse(request, "accounts:mfa_verify")
            if mfa_required_for(user):
                return self._refuse(request, "accounts:mfa_enrol")
        return self.get_response(request)

    def _refuse(self, request, url_name: str):
        if request.path_info.startswith("/api/"):
            return JsonResponse(
                {"detail": "Two-factor verification is required for this account."}, status=403
            )
        next_url = request.get_full_path() if request.method == "GET" else "/"
        return redirect(f"{reverse(url_name)}?{urlencode({'next': next_url})}")
