"""Production settings: the environment-driven base with every transport-security switch on.

``DJANGO_SETTINGS_MODULE=config.settings_production python manage.py check --deploy
--fail-level WARNING`` passes with these (``make test`` runs it). The app sits behind a
TLS-terminating proxy that sets X-Forwarded-Proto (README, "Production deployment").
"""

from config.settings import *  # noqa: F403
from config.settings import env

DEBUG = False
# The proxy terminates TLS; without this header Django would think every request is plain HTTP.
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
# That proxy runs on the same host (the README binds gunicorn to loopback): without trusting its
# X-Forwarded-For every caller has the proxy's address, so the sign-in lockout would key on the
# username alone and the audit log record one address. A proxy elsewhere: set TRUSTED_PROXIES.
TRUSTED_PROXIES = env.list("TRUSTED_PROXIES", default=["127.0.0.1", "::1"])
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=365 * 24 * 3600)
SECURE_HSTS_INCLUDE_SUBDOMAINS = True
SECURE_HSTS_PRELOAD = True
SESSION_COOKIE_SECURE = True
CSRF_COOKIE_SECURE = True
X_FRAME_OPTIONS = "DENY"
