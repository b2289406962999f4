"""Settings, read from the environment with safe local defaults.

With no environment at all the app runs on an embedded default: SQLite under ``var/``, kombu's
``filesystem://`` broker under ``var/`` (a real worker and beat, no server), and e-mail stored in a
local outbox under ``var/outbox/``. Production sets ``DATABASE_URL``, ``CELERY_BROKER_URL``,
``EMAIL_URL``, ``SECRET_KEY`` and ``ALLOWED_HOSTS`` (see README, "Settings").
"""

import secrets
from pathlib import Path

import environ
from celery.schedules import crontab
from kombu.transport import TRANSPORT_ALIASES

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
VAR_DIR = Path(env("VAR_DIR", default=str(BASE_DIR / "var")))
VAR_DIR.mkdir(parents=True, exist_ok=True)


def _secret_key_from_var() -> str:
    """A per-installation key generated on first run, so none is ever committed."""
    key_file = VAR_DIR / "secret_key"
    if not key_file.exists():
        key_file.write_text(secrets.token_urlsafe(50))
        key_file.chmod(0o600)
    return key_file.read_text().strip()


SECRET_KEY = env("SECRET_KEY", default=None) or _secret_key_from_var()
# Key(s) for clients' contact details at rest (lib/encrypted_fields.py); comma-separated to
# rotate: the first encrypts, all decrypt. Derived from SECRET_KEY when unset.
FIELD_ENCRYPTION_KEY = env("FIELD_ENCRYPTION_KEY", default="") or SECRET_KEY
DEBUG = env.bool("DEBUG", default=False)
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]", "testserver"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])
# The public base URL used in e-mailed links (the check-in form, alert links).
SITE_URL = env("SITE_URL", default="http://127.0.0.1:8000").rstrip("/")

INSTALLED_APPS = [
    "config.admin_site.OperatorAdminConfig",  # the admin, for superusers only
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_celery_beat",
    # Second factors are accounts' own devices (secrets never stored readable), not the plugins'.
    "django_otp",
    "accounts",
    "audit",
    "clients",
    "outcomes",
    "messaging",
    "dashboards",
    "api",
    "privacy",
    "demo",
    "checkins",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_otp.middleware.OTPMiddleware",
    "accounts.middleware.MFARequiredMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "config.csp.ContentSecurityPolicyMiddleware",
    "config.csp.PrivateResponseMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "dashboards.context_processors.alert_badge",
                "dashboards.context_processors.navigation",
            ],
        },
    },
]

DATABASES = {
    "default": env.db("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'db.sqlite3'}"),
}
DATABASES["default"]["ATOMIC_REQUESTS"] = False
DATABASES["default"].setdefault("CONN_MAX_AGE", env.int("CONN_MAX_AGE", default=0))
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets the web server, worker and beat share one SQLite file without "database is locked".
    DATABASES["default"].setdefault("OPTIONS", {})
    DATABASES["default"]["OPTIONS"].setdefault(
        "init_command", "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;"
    )
    DATABASES["default"]["OPTIONS"].setdefault("timeout", 20)
    DATABASES["default"]["OPTIONS"].setdefault("transaction_mode", "IMMEDIATE")
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# argon2 first: the recommended hasher for new passwords (OWASP); the others verify old hashes.
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    # 12 and up (NIST SP 800-63B asks at least 8; clinics hold health data, and length is what
    # slows an offline guesser most), refused if common or a common word with digits around it.
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": 12},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "accounts.password_validation.CommonPatternPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "dashboards:caseload"
LOGOUT_REDIRECT_URL = "login"
# Second factor (accounts/): required for supervisors, clinic admins and admin-site users.
MFA_REQUIRED = env.bool("MFA_REQUIRED", default=True)
OTP_TOTP_ISSUER = env("OTP_TOTP_ISSUER", default="Outcome tracker")
# An API key skips the second factor: for users who must use one, keys expire after this long.
API_TOKEN_MFA_MAX_AGE_DAYS = env.int("API_TOKEN_MFA_MAX_AGE_DAYS", default=90)
# Lockout after this many failed sign-ins (password or code) for one username from one address
# within the window; keyed on both so one address (a clinic's NAT) never locks out everyone.
LOGIN_LOCKOUT_THRESHOLD = env.int("LOGIN_LOCKOUT_THRESHOLD", default=5)
LOGIN_LOCKOUT_WINDOW_SECONDS = env.int("LOGIN_LOCKOUT_WINDOW_SECONDS", default=15 * 60)
# Per account, across addresses: after this many failures from browsers that never signed in as
# the user, such browsers get one attempt per LOGIN_ACCOUNT_SLOWDOWN_SECONDS (the user's own
# browser, known by a signed cookie, is not slowed): a slowdown, not a lock-out of the user.
LOGIN_ACCOUNT_STRANGER_FAILURES = env.int("LOGIN_ACCOUNT_STRANGER_FAILURES", default=10)
LOGIN_ACCOUNT_SLOWDOWN_SECONDS = env.int("LOGIN_ACCOUNT_SLOWDOWN_SECONDS", default=30)
LOGIN_KNOWN_BROWSER_DAYS = env.int("LOGIN_KNOWN_BROWSER_DAYS", default=180)
# Reverse proxies (addresses or networks) whose X-Forwarded-For is believed; none by default.
# Trusted by address, not by count: a caller who reaches the app directly cannot forge one.
TRUSTED_PROXIES = env.list("TRUSTED_PROXIES", default=[])

LANGUAGE_CODE = "en-gb"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"
STATIC_ROOT.mkdir(exist_ok=True)
STATICFILES_DIRS = [BASE_DIR / "static"]
STATICFILES_FINDERS = [
    "django.contrib.staticfiles.finders.FileSystemFinder",
    "django.contrib.staticfiles.finders.AppDirectoriesFinder",
    # vendor/plotly.min.js from the installed plotly package (offline, no CDN).
    "dashboards.staticfinders.PlotlyFinder",
]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
# Serve straight from the finders when collectstatic has not run (the demo, the tests).
WHITENOISE_USE_FINDERS = env.bool("WHITENOISE_USE_FINDERS", default=True)
MEDIA_ROOT = VAR_DIR / "media"

# --- Security headers and cookies -------------------------------------------------------------
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
SESSION_COOKIE_SECURE = env.bool(
    "SECURE_COOKIES", default=not DEBUG and SITE_URL.startswith("https")
)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=False)
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = SECURE_HSTS_SECONDS > 0
SECURE_HSTS_PRELOAD = SECURE_HSTS_SECONDS > 0
SECURE_PROXY_SSL_HEADER = (
    ("HTTP_X_FORWARDED_PROTO", "https") if env.bool("BEHIND_TLS_PROXY", default=False) else None
)
# Idle timeout for staff sessions: 30 minutes by default, renewed on every request.
SESSION_COOKIE_AGE = env.int("SESSION_IDLE_SECONDS", default=30 * 60)
SESSION_SAVE_EVERY_REQUEST = True

# --- E-mail -----------------------------------------------------------------------------------
# Default: every mail is written to var/outbox/ (the demo shows it at /outbox/). Production sets
# EMAIL_URL, e.g. smtp+tls://user:password@smtp.example.org:587.
EMAIL_OUTBOX_DIR = VAR_DIR / "outbox"
# Sent (or given-up) mails are deleted from the outbox table after this many days.
OUTBOX_RETENTION_DAYS = env.int("OUTBOX_RETENTION_DAYS", default=30)
_email_url = env("EMAIL_URL", default="")
if _email_url:
    vars().update(env.email_url_config(_email_url))
else:
    EMAIL_BACKEND = "messaging.backends.LocalOutboxBackend"
EMAIL_TIMEOUT = env.int("EMAIL_TIMEOUT", default=20)
DEFAULT_FROM_EMAIL = env("DEFAULT_FROM_EMAIL", default="Outcome tracker <no-reply@localhost>")
SHOW_LOCAL_OUTBOX = EMAIL_BACKEND == "messaging.backends.LocalOutboxBackend"

# --- Celery -----------------------------------------------------------------------------------
BROKER_DIR = VAR_DIR / "broker"
CELERY_BROKER_URL = env("CELERY_BROKER_URL", default="filesystem://")
if CELERY_BROKER_URL.startswith("filesystem://"):
    for sub in ("queue", "processed", "control"):
        (BROKER_DIR / sub).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(BROKER_DIR / "queue"),
        "data_folder_out": str(BROKER_DIR / "queue"),
        "processed_folder": str(BROKER_DIR / "processed"),
        "store_processed": False,
        "control_folder": str(BROKER_DIR / "control"),
        # A worker whose prefetch is full waits this long before it looks again: kombu's 1 s
        # default capped a demo worker at ~2.4 tasks a second (500 mails took 3.5 minutes).
        "polling_interval": 0.1,
    }
    # kombu's own filesystem transport can hand a worker a half-written message, which kills it
    # (kombu #1551): ours writes each message whole before it appears (config/broker_filesystem).
    # By the URL's scheme, not CELERY_BROKER_TRANSPORT, which would outrank a redis:// URL.
    TRANSPORT_ALIASES["filesystem"] = "config.broker_filesystem:Transport"
else:
    CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 3600}
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TIMEZONE = "UTC"
CELERY_ENABLE_UTC = True
# A task is acknowledged only after it ran, and re-queued if its worker dies: the tasks are
# idempotent (they claim rows first), so running one twice is harmless, losing one is not.
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SOFT_TIME_LIMIT = env.int("CELERY_TASK_SOFT_TIME_LIMIT", default=240)
CELERY_TASK_TIME_LIMIT = env.int("CELERY_TASK_TIME_LIMIT", default=300)
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# Publishing from a web request must not hang when the broker is down: try briefly, then give up
# (the periodic sweeps pick up whatever was not queued).
CELERY_TASK_PUBLISH_RETRY_POLICY = {
    "max_retries": 2,
    "interval_start": 0,
    "interval_step": 0.2,
    "interval_max": 0.5,
}
CELERY_BROKER_CONNECTION_TIMEOUT = env.float("CELERY_BROKER_CONNECTION_TIMEOUT", default=2.0)
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=False)
# An urgent alert's work has its own queue, served by its own worker (`-Q urgent`), so the
# therapist's mail is not sent after hundreds of check-in mails on the default queue (issue 13).
CELERY_TASK_ROUTES = {
    name: {"queue": "urgent"}
    for name in (
        "outcomes.tasks.evaluate_episode",  # a submission's evaluation: risk answer, deterioration
        "outcomes.tasks.send_alert_notifications",  # hands the alert mail over and sends it
        "outcomes.tasks.retry_pending_notifications",
        "outcomes.tasks.escalate_alerts",
    )
}
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
CELERY_BEAT_SCHEDULE: dict = {}
# Privacy: erase episodes closed longer ago than each clinic's retention_days (privacy/).
CELERY_BEAT_SCHEDULE["privacy.erase_expired_episodes"] = {
    "task": "privacy.tasks.erase_expired_episodes",
    "schedule": crontab(minute=30, hour=3),
}
# Outbox (messaging/): every minute, send mails whose task was lost and retries whose backoff has
# passed (SMTP was down); nightly, delete finished mails older than OUTBOX_RETENTION_DAYS.
CELERY_BEAT_SCHEDULE["messaging.sweep_outbox"] = {
    "task": "messaging.tasks.sweep_outbox",
    "schedule": 60.0,
}
CELERY_BEAT_SCHEDULE["messaging.purge_outbox"] = {
    "task": "messaging.tasks.purge_outbox",
    "schedule": crontab(minute=45, hour=3),
}
# Check-ins: create due ones, send links, remind, expire; all derived from rows (clients/checkins).
CELERY_BEAT_SCHEDULE["clients.sweep_checkins"] = {
    "task": "clients.tasks.sweep_checkins",
    "schedule": 300.0,
}
# Reports: hourly, delete expired export files and queue again exports whose message was lost;
# every 6 hours, e-mail monthly report links (each subscription claims its month: sent once).
CELERY_BEAT_SCHEDULE["dashboards.sweep_exports"] = {
    "task": "dashboards.tasks.sweep_exports",
    "schedule": 3600.0,
}
CELERY_BEAT_SCHEDULE["dashboards.send_monthly_reports"] = {
    "task": "dashboards.tasks.send_monthly_reports",
    "schedule": 6 * 3600.0,
}
# Alerts (outcomes/tasks.py): hourly, in chunks, the active episodes whose rule inputs changed;
# every five minutes the episodes a lost task never reached, urgent alerts past their
# acknowledgement window, and notifications still pending; a weekly digest (Monday 07:00 UTC);
# curves refitted monthly.
CELERY_BEAT_SCHEDULE["outcomes.sweep_active_episodes"] = {
    "task": "outcomes.tasks.sweep_active_episodes",
    "schedule": 3600.0,
}
CELERY_BEAT_SCHEDULE["outcomes.sweep_unevaluated"] = {
    "task": "outcomes.tasks.sweep_unevaluated",
    "schedule": 300.0,
}
CELERY_BEAT_SCHEDULE["outcomes.escalate_alerts"] = {
    "task": "outcomes.tasks.escalate_alerts",
    "schedule": 300.0,
}
CELERY_BEAT_SCHEDULE["outcomes.retry_pending_notifications"] = {
    "task": "outcomes.tasks.retry_pending_notifications",
    "schedule": 300.0,
}
CELERY_BEAT_SCHEDULE["outcomes.send_weekly_digests"] = {
    "task": "outcomes.tasks.send_weekly_digests",
    "schedule": crontab(minute=0, hour=7, day_of_week=1),
}
CELERY_BEAT_SCHEDULE["outcomes.fit_trajectories"] = {
    "task": "outcomes.tasks.fit_trajectories",
    "schedule": crontab(minute=30, hour=2, day_of_month=1),
}

# --- REST framework ---------------------------------------------------------------------------
REST_FRAMEWORK = {
    # Bearer first: its WWW-Authenticate header makes a request without credentials a 401.
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "api.authentication.BearerTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_SCHEMA_CLASS": "api.schema.ApiAutoSchema",
    "EXCEPTION_HANDLER": "api.exceptions.api_exception_handler",
    "DEFAULT_PAGINATION_CLASS": "api.pagination.ApiPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_THROTTLE_CLASSES": [
        "api.throttling.ApiUserRateThrottle",
        "api.throttling.ApiAnonRateThrottle",
    ],
}
# Per signed-in user (session or token) and per anonymous address; counted in the default cache
# (set CACHE_URL to a shared Redis when several web processes serve the API).
API_THROTTLE_RATES = {
    "user": env("API_THROTTLE_USER", default="600/minute"),
    "anon": env("API_THROTTLE_ANON", default="60/minute"),
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Outcome tracker API",
    "DESCRIPTION": "Measurement-based care: clients, episodes, responses, alerts and reports. "
    "Authenticate with `Authorization: Bearer <key>` (a per-user key, made on the account page) "
    "or a signed-in session. See docs/api.md.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.IsAuthenticated"],
    "SCHEMA_PATH_PREFIX": "/api/v1",
    "COMPONENT_SPLIT_REQUEST": True,
    # Swagger UI from the drf-spectacular-sidecar package: no CDN, works offline and under CSP.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}

# --- Logging: no health data and no client names, ever (see README, "Privacy") ----------------
LOG_LEVEL = env("LOG_LEVEL", default="INFO")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "filters": {"redact_emails": {"()": "config.log_redaction.RedactEmailAddresses"}},
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "plain",
            "filters": ["redact_emails"],
        }
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}

# --- Cache (the check-in links' per-IP rate limit); set CACHE_URL=redis://... with several web
# processes so that they share one count.
CACHES = {"default": env.cache("CACHE_URL", default="locmemcache://")}
CHECKIN_RATE_LIMIT_REQUESTS = env.int("CHECKIN_RATE_LIMIT_REQUESTS", default=60)
CHECKIN_RATE_LIMIT_WINDOW = env.int("CHECKIN_RATE_LIMIT_WINDOW", default=600)
# The emergency line on a client page that cannot name the clinic (an unrecognised link, or one
# refused by the rate limit): one contact a line, as in a clinic's crisis contacts.
EMERGENCY_CONTACTS = env.str(
    "EMERGENCY_CONTACTS",
    default="If you are in immediate danger, call 999 or go to your nearest A&E.\n"
    "Samaritans (24 hours, free): 116 123",
)

# --- Product settings (clinic-level defaults; each clinic can override in the admin) ----------
DEMO_MODE = env.bool("DEMO_MODE", default=False)
