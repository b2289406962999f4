"""Content-Security-Policy header (Django 5.2 has none built in).

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
