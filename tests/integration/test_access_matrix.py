"""Who may open what: every URL of the site, for every kind of caller (pretix-style).

Every URL pattern the resolver knows must have one line in ``MATRIX``: how to build a request to
it (for the cast's client, episode, alert, export...) and what each caller gets back:

    anon       nobody signed in                      link   a client holding a valid check-in link
    own        the client's therapist                other  a therapist of another team
    sup        the supervisor of the client's team   sup_b  a supervisor of another team
    admin      the clinic admin                      out    staff of another clinic

Out of scope is 404, never 403: a caller must not learn that a client, episode or alert exists.
The second factor is on (supervisors and admins have passed it). A URL without a line fails the
test, naming the URL: add one line for it below. Every HTML page that answers 200 is also checked
for inline script, which the Content-Security-Policy would block in the browser.
"""

import re
from dataclasses import dataclass

import pytest
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver

from clients.checkins import checkins_sweep
from clients.models import Role
from messaging.models import OutboundEmail
from outcomes.models import AlertRule, AlertSeverity
from outcomes.services import alert_raise
from tests.auth import login_verified
from tests.checkin_support import key_from, start_plan
from tests.factories import make_staff

pytestmark = pytest.mark.mfa

ROLES = ("anon", "link", "own", "other", "sup", "sup_b", "admin", "out")
LOGIN = "login"  # a redirect to the login page
DENIED = "denied"  # the API's 401 or 403: no session, no token

# Prefixes left out, with the reason:
EXCLUDED_PREFIXES = (
    "admin/",  # Django's admin: superusers only, guarded by Django's own permission tests and
    # by the MFA middleware (test_accounts.py); its ~100 generated URLs add nothing here.
    "static/",  # files, no data
)


def expect(default, **per_role):
    return {role: per_role.get(role, default) for role in ROLES}


def client_data(ok=200, anon=LOGIN):
    """The client's own therapist, their team's supervisor and the clinic admin."""
    return expect(404, anon=anon, link=anon, own=ok, sup=ok, admin=ok)


def any_staff(ok=200, anon=LOGIN):
    """Every signed-in staff member (the page lists only what each may see)."""
    return expect(ok, anon=anon, link=anon)


def team_reports(ok=200):
    """Supervisors of the team and clinic admins."""
    return expect(404, anon=LOGIN, link=LOGIN, sup=ok, admin=ok)


def clinic_admin(ok=200, anon=LOGIN):
    return expect(404, anon=anon, link=anon, admin=ok)


def everyone(ok=200):
    return expect(ok)


def api(access):
    return {**access, "anon": DENIED, "link": DENIED}


REACHED = (200, 302, 400)  # a POST with empty or invalid data got past the scope check
API_REACHED = (200, 400)


@dataclass(frozen=True)
class Call:
    path: str
    method: str = "get"
    data: dict | None = None


def get(path):
    return Call(path)


def post(path, **data):
    return Call(path, "post", data)


def report_query(w):
    return f"?clinic={w.clinic.slug}&team={w.team_a.pk}"


# One line per URL name: how to call it, and what each caller gets.
MATRIX = {
    "healthz": (lambda w: get("/healthz"), everyone()),
    "login": (lambda w: get("/login/"), everyone()),
    "logout": (lambda w: post("/logout/"), everyone(302)),
    "accounts:security": (lambda w: get("/accounts/security/"), any_staff()),
    "accounts:mfa_verify": (lambda w: get("/accounts/mfa/verify/"), any_staff(302)),
    "accounts:mfa_enrol": (lambda w: get("/accounts/mfa/enrol/"), any_staff()),
    "accounts:recovery_codes_new": (lambda w: post("/accounts/mfa/recovery-codes/"), any_staff()),
    "accounts:password_change": (lambda w: get("/accounts/password/"), any_staff()),
    "accounts:password_change_done": (lambda w: get("/accounts/password/done/"), any_staff()),
    "audit:log": (lambda w: get("/audit/"), clinic_admin()),
    "audit:export": (lambda w: get("/audit/export.csv"), clinic_admin()),
    "privacy:client": (lambda w: get(f"/privacy/clients/{w.client.pk}/"), clinic_admin()),
    "privacy:export_json": (
        lambda w: get(f"/privacy/clients/{w.client.pk}/export.json"),
        clinic_admin(),
    ),
    "privacy:export_pdf": (
        lambda w: get(f"/privacy/clients/{w.client.pk}/export.pdf"),
        clinic_admin(),
    ),
    "privacy:erase": (
        lambda w: post(f"/privacy/clients/{w.client.pk}/erase/", confirm_label="not it"),
        clinic_admin(302),
    ),
    "api:instruments": (lambda w: get("/api/v1/instruments/"), api(any_staff())),
    "api:instrument": (lambda w: get("/api/v1/instruments/phq9/"), api(any_staff())),
    "api:clients": (lambda w: get("/api/v1/clients/"), api(any_staff())),
    "api:clients_bulk": (lambda w: post("/api/v1/clients/bulk/"), api(any_staff(API_REACHED))),
    "api:clients_import": (lambda w: post("/api/v1/clients/import/"), api(any_staff(400))),
    "api:client": (lambda w: get(f"/api/v1/clients/{w.client.pk}/"), api(client_data())),
    "api:episodes": (lambda w: get("/api/v1/episodes/"), api(any_staff())),
    "api:episode": (lambda w: get(f"/api/v1/episodes/{w.episode.pk}/"), api(client_data())),
    "api:episode_close": (
        lambda w: post(f"/api/v1/episodes/{w.episode.pk}/close/"),
        api(client_data(API_REACHED)),
    ),
    "api:plan": (lambda w: get(f"/api/v1/episodes/{w.episode.pk}/plan/"), api(client_data())),
    "api:plan_pause": (
        lambda w: post(f"/api/v1/episodes/{w.episode.pk}/plan/pause/"),
        api(client_data(API_REACHED)),
    ),
    "api:plan_resume": (
        lambda w: post(f"/api/v1/episodes/{w.episode.pk}/plan/resume/"),
        api(client_data(API_REACHED)),
    ),
    "api:responses": (
        lambda w: get(f"/api/v1/episodes/{w.episode.pk}/responses/"),
        api(client_data()),
    ),
    "api:trajectory": (
        lambda w: get(f"/api/v1/episodes/{w.episode.pk}/trajectory/"),
        api(client_data()),
    ),
    "api:checkins": (lambda w: get("/api/v1/checkins/"), api(any_staff())),
    "api:alerts": (lambda w: get("/api/v1/alerts/"), api(any_staff())),
    "api:alert": (lambda w: get(f"/api/v1/alerts/{w.alert.pk}/"), api(client_data())),
    "api:alert_acknowledge": (
        lambda w: post(f"/api/v1/alerts/{w.alert.pk}/acknowledge/"),
        api(client_data(API_REACHED)),
    ),
    "api:alert_resolve": (
        lambda w: post(f"/api/v1/alerts/{w.alert.pk}/resolve/"),
        api(client_data(API_REACHED)),
    ),
    "api:report_outcomes": (
        lambda w: get(f"/api/v1/reports/outcomes/{report_query(w)}"),
        api(team_reports()),
    ),
    "api:schema": (lambda w: get("/api/v1/schema/"), api(any_staff())),
    "api:docs": (lambda w: get("/api/v1/docs/"), any_staff()),  # an HTML page: login
    "api:<not found>": (lambda w: get("/api/v1/no-such-thing/"), everyone(404)),
    "checkin:form": (lambda w: get(f"/c/{w.key}/"), everyone()),
    # Before the form is sent the thank-you page sends the client back to the form.
    "checkin:done": (lambda w: get(f"/c/{w.key}/done/"), everyone(302)),
    "checkin:opt_out": (lambda w: get(f"/c/opt-out/{w.opt_out_token}/"), everyone()),
    "clients:episode_enter": (
        lambda w: get(f"/episodes/{w.episode.pk}/enter/"),
        client_data(),
    ),
    "reports:report": (lambda w: get(f"/reports/{report_query(w)}"), team_reports()),
    "reports:export_request": (
        lambda w: post(
            "/reports/exports/",
            clinic=w.clinic.slug,
            team=w.team_a.pk,
            exporter="outcome_report",
            format="csv",
        ),
        team_reports(REACHED),
    ),
    "reports:export_status": (
        lambda w: get(f"/reports/exports/{w.job.pk}/status/"),
        clinic_admin(),
    ),
    "reports:export_download": (
        lambda w: get(f"/reports/exports/{w.job.pk}/download/"),
        clinic_admin(410),  # the admin's own job, not built yet: gone, not leaked
    ),
    "reports:subscription": (
        lambda w: post("/reports/subscription/", clinic=w.clinic.slug),
        # A clinic-level subscription: any supervisor or admin of the clinic.
        expect(404, anon=LOGIN, link=LOGIN, sup=302, sup_b=302, admin=302),
    ),
    "dashboards:caseload": (lambda w: get("/"), any_staff()),
    "dashboards:episode": (lambda w: get(f"/episodes/{w.episode.pk}/"), client_data()),
    "dashboards:episode_review": (
        lambda w: get(f"/episodes/{w.episode.pk}/review/"),
        client_data(),
    ),
    "dashboards:episode_event_add": (
        lambda w: post(f"/episodes/{w.episode.pk}/events/"),
        client_data(REACHED),
    ),
    "dashboards:episode_plan_change": (
        lambda w: post(f"/episodes/{w.episode.pk}/plan/pause/"),
        client_data(REACHED),
    ),
    "dashboards:episode_close": (
        lambda w: post(f"/episodes/{w.episode.pk}/close/"),
        client_data(REACHED),
    ),
    "dashboards:alerts": (lambda w: get("/alerts/"), any_staff()),
    "dashboards:alert_acknowledge": (
        lambda w: post(f"/alerts/{w.alert.pk}/acknowledge/"),
        client_data(REACHED),
    ),
    "dashboards:alert_resolve": (
        lambda w: post(f"/alerts/{w.alert.pk}/resolve/"),
        client_data(REACHED),
    ),
    # The demo's local mailbox: Django staff only, so 404 for every clinic role.
    "dashboards:local_outbox": (lambda w: get("/outbox/"), expect(404, anon=LOGIN, link=LOGIN)),
}


def url_names() -> list[str]:
    """Every URL pattern's namespaced name (or its route, when it has none)."""

    def walk(patterns, prefix="", namespace=""):
        for pattern in patterns:
            route = prefix + str(pattern.pattern)
            if route.startswith(EXCLUDED_PREFIXES):
                continue
            if isinstance(pattern, URLResolver):
                inner = namespace + (f"{pattern.namespace}:" if pattern.namespace else "")
                yield from walk(pattern.url_patterns, route, inner)
            elif isinstance(pattern, URLPattern):
                yield f"{namespace}{pattern.name}" if pattern.name else f"{namespace}<not found>"

    return sorted(set(walk(get_resolver().url_patterns)))


def test_every_url_has_a_line_in_the_access_matrix():
    missing = [name for name in url_names() if name not in MATRIX]
    assert not missing, (
        f"URL(s) without an access rule: {missing}. Add one line per URL to MATRIX in "
        "tests/integration/test_access_matrix.py: how to call it and what each caller gets."
    )
    stale = [name for name in MATRIX if name not in url_names()]
    assert not stale, f"MATRIX lines for URLs that no longer exist: {stale}"


class World:
    """The cast, plus the objects the URLs point at and a browser per caller."""

    def __init__(self, cast):
        self.__dict__.update(vars(cast))
        self.other_supervisor = make_staff(
            cast.clinic, role=Role.SUPERVISOR, teams=[cast.team_b], username="supervisor_b"
        )
        self.alert, _ = alert_raise(
            episode=cast.episode,
            rule=AlertRule.CONTACT_REQUEST,
            trigger="matrix",
            severity=AlertSeverity.HIGH,
            message="Asked to be contacted.",
        )
        from clients.checkins import opt_out_token
        from dashboards.models import ExportJob

        self.job = ExportJob.objects.create(
            clinic=cast.clinic,
            requested_by=cast.admin,
            exporter="outcome_report",
            file_format="csv",
            options={"start": "2026-01-01", "end": "2026-06-30"},
        )
        self.opt_out_token = opt_out_token(cast.client)
        start_plan(cast.episode)
        checkins_sweep()
        mail = OutboundEmail.objects.filter(purpose="checkin").latest("pk")
        self.key = key_from(mail)

    def browser(self, role) -> Client:
        browser = Client()
        staff = {
            "own": self.therapist,
            "other": self.other_therapist,
            "sup": self.supervisor,
            "sup_b": self.other_supervisor,
            "admin": self.admin,
            "out": self.outsider,
        }
        if role in staff:
            login_verified(browser, staff[role])
        elif role == "link":
            browser.get(f"/c/{self.key}/")  # whatever the link page sets, the client now has
        return browser


# A <script> with content and without src (json_script's application/json blocks are data, not
# code, and CSP leaves them alone), or an on*="..." attribute.
INLINE_SCRIPT = re.compile(r"<script(?![^>]*\b(?:src=|type=\"application/json\"))[^>]*>\s*[^<\s]")
INLINE_HANDLER = re.compile(r"<[^>]+\son[a-z]+\s*=\s*[\"']")


def outcome_matches(response, expected) -> bool:
    if expected == LOGIN:
        return response.status_code == 302 and response["Location"].startswith("/login/")
    if expected == DENIED:
        return response.status_code in (401, 403)
    allowed = expected if isinstance(expected, tuple) else (expected,)
    return response.status_code in allowed


@pytest.mark.slow  # ~1 s per URL: eight callers, each a fresh signed-in browser
@pytest.mark.parametrize("name", sorted(MATRIX))
def test_access(name, cast, settings):
    settings.CHECKIN_RATE_LIMIT_REQUESTS = 10_000
    build, expected = MATRIX[name]
    world = World(cast)
    call = build(world)
    failures = []
    for role in ROLES:
        browser = world.browser(role)
        response = getattr(browser, call.method)(call.path, call.data or {})
        if not outcome_matches(response, expected[role]):
            location = response.get("Location", "")
            failures.append(
                f"{role}: expected {expected[role]}, got {response.status_code} {location}"
            )
        elif response.status_code == 200 and "text/html" in response.get("Content-Type", ""):
            html = response.content.decode()
            if INLINE_SCRIPT.search(html) or INLINE_HANDLER.search(html):
                failures.append(f"{role}: inline script on the page (blocked by the CSP)")
    assert not failures, f"{call.method.upper()} {call.path}\n" + "\n".join(failures)
