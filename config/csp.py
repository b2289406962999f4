"""Security headers: Content-Security-Policy (Django 5.2 has none built in), Permissions-Policy
and Cache-Control for every response the app makes.

Scripts only from this site: no inline <script>, no event-handler attributes, no eval; pages pass
data with ``json_script`` and read it from a static file. Styles allow 'unsafe-inline' because
plotly.js sets ``style`` attributes on the elements it draws; inline styles cannot run code, so
the script policy keeps its strength.
"""

from django.conf import settings

DEFAULT_POLICY = {
    "default-src": "'self'",
    "script-src": "'self'",
    "style-src": "'self' 'unsafe-inline'",
    "img-src": "'self' data:",  # plotly's mode-bar icons and exported images are data: URLs
    "font-src": "'self'",
    "connect-src": "'self'",
    "object-src": "'none'",
    "base-uri": "'none'",
    "frame-ancestors": "'none'",
    "form-action": "'self'",
}


def policy_header(policy: dict[str, str]) -> str:
    return "; ".join(f"{directive} {sources}" for directive, sources in policy.items())


class ContentSecurityPolicyMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response
        policy = {**DEFAULT_POLICY, **getattr(settings, "CONTENT_SECURITY_POLICY", {})}
        self.header = policy_header(policy)

    def __call__(self, request):
        response = self.get_response(request)
        # A view that needs another policy (none here today) sets its own header.
        response.headers.setdefault("Content-Security-Policy", self.header)
        return response


# Nothing here uses a camera, a microphone, the location or payments: a script that got in
# anyway (an extension, a compromised dependency) may not ask for them either.
PERMISSIONS_POLICY = ", ".join(
    f"{feature}=()"
    for feature in (
        "accelerometer",
        "browsing-topics",
        "camera",
        "geolocation",
        "gyroscope",
        "magnetometer",
        "microphone",
        "payment",
        "usb",
    )
)


class PrivateResponseMiddleware:
    """Every response the app makes carries health data or could (a caseload, a client page, an
    API answer, an export, an error page that names a client): ``Cache-Control: no-store`` so no
    browser, shared computer or proxy keeps a copy, unless a view set its own caching (the
    static files, served by WhiteNoise before this runs, keep theirs)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if "Cache-Control" not in response.headers:
            response.headers["Cache-Control"] = "no-store, private"
        response.headers.setdefault("Permissions-Policy", PERMISSIONS_POLICY)
        return response
