"""Security headers on every response, and the production deploy check."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from config.csp import DEFAULT_POLICY

ROOT = Path(__file__).resolve().parents[2]


def test_every_page_carries_a_strict_content_security_policy(client, cast):
    client.force_login(cast.therapist)
    for path in ("/login/", "/", "/healthz"):
        policy = client.get(path).headers["Content-Security-Policy"]
        directives = dict(part.strip().split(" ", 1) for part in policy.split(";"))
        assert directives["script-src"] == "'self'", path
        assert directives["object-src"] == "'none'" and directives["base-uri"] == "'none'"
        assert directives["frame-ancestors"] == "'none'"
        assert "unsafe-eval" not in policy and "unsafe-inline" not in directives["script-src"]


def test_pages_have_no_inline_script_for_the_policy_to_block(client, cast):
    client.force_login(cast.admin)
    pages = ["/login/", "/", "/accounts/security/", "/accounts/mfa/enrol/", "/audit/"]
    pages += [
        "/admin/",
        "/admin/clients/client/",
        f"/admin/clients/client/{cast.client.pk}/change/",
    ]
    for path in pages:
        html = client.get(path).content.decode()
        # A <script> without src, or an on*="..." handler, would be blocked in the browser.
        # json_script's application/json blocks are data, which the policy leaves alone.
        code = re.sub(
            r'<script[^>]*type="application/json"[^>]*>.*?</script>', "", html, flags=re.S
        )
        assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>\s*\S", code), path
        assert not re.search(r"\son[a-z]+\s*=\s*[\"']", html), path


def test_clickjacking_sniffing_and_referrer_headers(client):
    response = client.get("/login/")
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "same-origin"


def test_pages_and_api_answers_with_health_data_are_never_stored(client, cast):
    """Before, only the link pages said no-store: a caseload, a client page or an API answer
    could be kept by a shared computer's browser cache or a proxy."""
    from tests.auth import login_verified

    login_verified(client, cast.therapist)
    for path in ("/", f"/episodes/{cast.episode.pk}/", "/alerts/", "/api/v1/clients/", "/healthz"):
        response = client.get(path)
        assert response.status_code == 200, path
        assert "no-store" in response.headers["Cache-Control"], path
        assert "camera=()" in response.headers["Permissions-Policy"], path
    assert "no-store" in client.get("/no-such-page/").headers["Cache-Control"]


def test_the_style_policy_is_the_only_unsafe_inline_and_it_is_for_styles():
    assert "'unsafe-inline'" in DEFAULT_POLICY["style-src"]
    others = {k: v for k, v in DEFAULT_POLICY.items() if k != "style-src"}
    assert not any("unsafe" in sources for sources in others.values())


@pytest.mark.slow
def test_the_production_settings_pass_the_deploy_check():
    # The browser tests' DJANGO_ALLOW_ASYNC_UNSAFE belongs to this test process (Playwright's
    # event loop beside the ORM), never to a deployment: the check rightly refuses it.
    env = {
        **{k: v for k, v in os.environ.items() if k != "DJANGO_ALLOW_ASYNC_UNSAFE"},
        "DJANGO_SETTINGS_MODULE": "config.settings_production",
    }
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
