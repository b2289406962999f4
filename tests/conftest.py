"""Shared fixtures: a fixed cast (a clinic, two teams, therapists, a supervisor, an admin, an
outsider from another clinic), and the rules for tests that need real services.

Tests that need PostgreSQL, Redis or Chromium are marked; where the service is missing they skip
with the reason. Under CI (``CI=true``) a skip is a failure, so CI always runs them.
"""

import os
import shutil
import socket
from urllib.parse import urlparse

import pytest
from django.conf import settings

ON_CI = os.environ.get("CI", "").lower() == "true"


def _tcp_reachable(url: str, default_port: int) -> bool:
    parsed = urlparse(url)
    try:
        with socket.create_connection(
            (parsed.hostname or "127.0.0.1", parsed.port or default_port), 1
        ):
            return True
    except OSError:
        return False


def redis_url() -> str | None:
    url = os.environ.get("REDIS_URL") or settings.CELERY_BROKER_URL
    return url if url.startswith("redis://") else None


def chromium_path() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


def _django_plugin_active(config) -> bool:
    """False under ``-p no:django``: the pure unit tests then run without Django at all."""
    return config.pluginmanager.hasplugin("django")


def _django_settings(request):
    """pytest-django's ``settings`` fixture, or None when the plugin is off."""
    if not _django_plugin_active(request.config):
        return None
    return request.getfixturevalue("settings")


@pytest.fixture(autouse=True)
def _fast_password_hashing(request):
    """Argon2 is slow on purpose (~0.1-0.5 s a hash on a busy 2-core machine) and every cast
    creates six accounts. Tests marked ``argon2`` keep the real hashers."""
    settings = _django_settings(request)
    if settings is not None and request.node.get_closest_marker("argon2") is None:
        settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def _mfa_enforced_only_where_tested(request):
    """The second-factor middleware is on in every deployment; tests that are not about it sign
    in with ``force_login`` as supervisors and admins without enrolling a phone. Tests marked
    ``mfa`` (the MFA tests, the access matrix) run with it on."""
    settings = _django_settings(request)
    if settings is not None and request.node.get_closest_marker("mfa") is None:
        settings.MFA_REQUIRED = False


@pytest.fixture(autouse=True)
def _fresh_cache_per_test():
    """Rate limits (API throttling, check-in links, sign-in lockout) count in the cache, and test
    users reuse ids and addresses: each test starts with nothing counted."""
    if not settings.configured:  # -p no:django: pure tests, no cache
        return
    from django.core.cache import cache

    cache.clear()


def pytest_collection_modifyitems(config, items):
    if not (_django_plugin_active(config) or settings.configured):
        # Without Django (-p no:django) only pure tests can run; the services are not checked.
        return
    is_postgres = settings.DATABASES["default"]["ENGINE"].endswith("postgresql")
    redis = redis_url()
    redis_ok = bool(redis) and _tcp_reachable(redis, 6379)
    browser = chromium_path()
    for item in items:
        if "postgres" in item.keywords and not is_postgres:
            item.add_marker(pytest.mark.skip(reason="needs PostgreSQL: set DATABASE_URL"))
        if "redis" in item.keywords and not redis_ok:
            item.add_marker(
                pytest.mark.skip(reason="needs Redis: set REDIS_URL or a redis:// broker")
            )
        if "browser" in item.keywords and not browser:
            item.add_marker(pytest.mark.skip(reason="needs Chromium (apt-get install chromium)"))


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    skipped = terminalreporter.stats.get("skipped", [])
    if ON_CI and skipped:
        terminalreporter.write_line(
            f"CI=true: {len(skipped)} skipped test(s) count as failures here.", red=True
        )


def pytest_sessionfinish(session, exitstatus):
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if ON_CI and reporter is not None and reporter.stats.get("skipped") and exitstatus == 0:
        session.exitstatus = 1


def pytest_configure(config):
    if not _django_plugin_active(config):
        return
    from django.db.backends.postgresql.operations import DatabaseOperations

    original = DatabaseOperations.sql_flush

    def sql_flush_allowing_the_audit_log(self, style, tables, **kwargs):
        # The runner empties every table between transactional tests; the audit log refuses
        # TRUNCATE unless the transaction says so (audit migration 0003).
        statements = original(self, style, tables, **kwargs)
        if statements:
            statements = ["SET LOCAL audit.allow_truncate = 'on'", *statements]
        return statements

    DatabaseOperations.sql_flush = sql_flush_allowing_the_audit_log
