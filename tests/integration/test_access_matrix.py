"""Who may do what: every route and method of the site, for every kind of caller (pretix-style).

The lines of ``MATRIX`` are keyed by method and route, ``"PATCH /api/v1/clients/{client_id}/"``.
The keys that must exist are enumerated, not remembered:

- API: every operation (path x method) of the OpenAPI schema, so a new endpoint, or a new method
  on an old one, fails the test until it has a line;
- pages: every route the resolver knows outside the API and the admin, at least one line each
  (their methods cannot be read from the resolver: each write a page takes is listed as well);
- every URL pattern must have a name, so none hides behind another's line.

Each line says how to call the route (for the cast's client, episode, alert, export...) and what
each caller gets back:

    anon       nobody signed in                      link   a client holding a valid check-in link
    own        the client's therapist                other  a therapist of another team
    sup        the supervisor of the client's team   sup_b  a supervisor of another team
    admin      the clinic admin                      out    staff of another clinic

Out of scope is 404, never 403: a caller must not learn that a client, episode or alert exists.
Writes are sent with valid data, so in scope means the change is made (2xx for the API, the
redirect after a page's POST); each caller runs in a savepoint that is rolled back, so every
caller meets the same world. The second factor is on (supervisors and admins have passed it).
Every HTML page that answers 200 is also checked for inline script, which the
Content-Security-Policy would block in the browser.

The admin (``admin/``) is for superusers: every one of its routes, by GET and by POST, sends
every caller above to the sign-in page or answers 403.
"""

import re
from dataclasses import dataclass
from datetime import timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import transaction
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, resolve
from django.utils import timezone
from drf_spectacular.generators import SchemaGenerator

from clients.checkins import checkins_sweep
from clients.models import Role
from clients.selectors import clinic_operating_point
from measures.rules import OPERATING_POINTS
from messaging.models import OutboundEmail
from outcomes.models import AlertRule, AlertSeverity
from outcomes.services import alert_raise
from tests.auth import login_verified
from tests.checkin_support import form_post, key_from, start_plan
from tests.factories import make_client, make_episode, make_staff

pytestmark = pytest.mark.mfa

ROLES = ("anon", "link", "own", "other", "sup", "sup_b", "admin", "out")
LOGIN = "login"  # a redirect to the login page
DENIED = "denied"  # the API's 401 or 403: no session, no token
HTTP_METHODS = ("get", "post", "put", "patch", "delete")
API_PREFIX = "/api/v1/"


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


@dataclass(frozen=True)
class Call:
    """A request: ``data`` is a dict, or a function of the calling user (None when anonymous)
    for bodies that name the caller or carry a file; ``body`` is json, form or multipart."""

    path: str
    method: str = "get"
    data: object = None
    body: str = "form"

    def send(self, browser: Client, user):
        data = self.data(user) if callable(self.data) else (self.data or {})
        if self.method == "get":
            return browser.get(self.path, data)
        if self.body == "json":
            return getattr(browser, self.method)(self.path, data, content_type="application/json")
        if self.method == "post":
            return browser.post(self.path, data)  # form-encoded, or multipart with a file
        raise AssertionError(f"{self.method} with a {self.body} body: not a browser request")


def get(path, **query):
    return Call(path, data=query or None)


def post(path, data=None):
    return Call(path, "post", data)


def api_write(method, path, data=None):
    return Call(path, method, data if data is not None else {}, body="json")


def report_query(w):
    return f"?clinic={w.clinic.slug}&team={w.team_a.pk}"


def csv_import(user):
    username = user.get_username() if user is not None else "nobody"
    content = f"label,therapist\nM-CSV,{username}\n".encode()
    return {"file": SimpleUploadedFile("clients.csv", content, content_type="text/csv")}


def new_client_form(user):
    return {
        "label": "M-PAGE",
        "email": "m-page@example.org",
        "timezone": "Europe/London",
        "therapist": user.pk if user is not None else "",
        "started_on": TODAY().isoformat(),
        "plan": "default",
        "schedule": "weekly",
        "weekday": 0,
        "local_time": "09:00",
    }


def paper_phq9(w):
    data = form_post(phq9=[1] * 9 + [0], gad7=None)
    day = w.episode.started_on + timedelta(days=1)
    data.update({"instrument": "phq9", "source": "paper", "administered_on": day.isoformat()})
    return data


TODAY = timezone.localdate

# One line per method and route: how to call it, and what each caller gets.
MATRIX = {
    "GET /healthz": (lambda w: get("/healthz"), everyone()),
    "GET /favicon.ico": (lambda w: get("/favicon.ico"), everyone(302)),
    "GET /login/": (lambda w: get("/login/"), everyone()),
    "POST /logout/": (lambda w: post("/logout/"), everyone(302)),
    "GET /accounts/security/": (lambda w: get("/accounts/security/"), any_staff()),
    "GET /accounts/mfa/verify/": (lambda w: get("/accounts/mfa/verify/"), any_staff(302)),
    "GET /accounts/mfa/enrol/": (lambda w: get("/accounts/mfa/enrol/"), any_staff()),
    "POST /accounts/mfa/recovery-codes/": (
        lambda w: post("/accounts/mfa/recovery-codes/"),
        any_staff(),
    ),
    "GET /accounts/tokens/": (lambda w: get("/accounts/tokens/"), any_staff()),
    "POST /accounts/tokens/": (lambda w: post("/accounts/tokens/", {"name": "EHR"}), any_staff()),
    # Each caller revokes the therapist's own key: only the therapist finds it.
    "POST /accounts/tokens/{token_id}/revoke/": (
        lambda w: post(f"/accounts/tokens/{w.token.pk}/revoke/"),
        expect(404, anon=LOGIN, link=LOGIN, own=302),
    ),
    "GET /accounts/password/": (lambda w: get("/accounts/password/"), any_staff()),
    "POST /accounts/password/": (
        lambda w: post(
            "/accounts/password/",
            {
                "old_password": "pw-Test-12345",
                "new_password1": "a-Fresh-passphrase-2026",
                "new_password2": "a-Fresh-passphrase-2026",
            },
        ),
        any_staff(302),
    ),
    "GET /accounts/password/done/": (lambda w: get("/accounts/password/done/"), any_staff()),
    "GET /audit/": (lambda w: get("/audit/"), clinic_admin()),
    "GET /calibration/": (lambda w: get("/calibration/", clinic=w.clinic.slug), clinic_admin()),
    "POST /calibration/{clinic_slug}/operating-point/": (
        lambda w: post(
            f"/calibration/{w.clinic.slug}/operating-point/",
            {"point": w.other_operating_point, "confirmed": "on"},
        ),
        clinic_admin(302),
    ),
    "GET /audit/export.csv": (lambda w: get("/audit/export.csv"), clinic_admin()),
    "GET /privacy/clients/{client_id}/": (
        lambda w: get(f"/privacy/clients/{w.client.pk}/"),
        clinic_admin(),
    ),
    "GET /privacy/clients/{client_id}/export.json": (
        lambda w: get(f"/privacy/clients/{w.client.pk}/export.json"),
        clinic_admin(),
    ),
    "GET /privacy/clients/{client_id}/export.pdf": (
        lambda w: get(f"/privacy/clients/{w.client.pk}/export.pdf"),
        clinic_admin(),
    ),
    "POST /privacy/clients/{client_id}/erase/": (
        lambda w: post(f"/privacy/clients/{w.client.pk}/erase/", {"confirm_label": w.client.label}),
        clinic_admin(302),
    ),
    # --- API: every operation of the schema -----------------------------------------------------
    "GET /api/v1/instruments/": (lambda w: get("/api/v1/instruments/"), api(any_staff())),
    "GET /api/v1/instruments/{code}/": (
        lambda w: get("/api/v1/instruments/phq9/"),
        api(any_staff()),
    ),
    "GET /api/v1/clients/": (lambda w: get("/api/v1/clients/"), api(any_staff())),
    # Every member of a clinic may register a client there (the outsider: in their own clinic).
    "POST /api/v1/clients/": (
        lambda w: api_write("post", "/api/v1/clients/", {"label": "M-NEW"}),
        api(any_staff(201)),
    ),
    "POST /api/v1/clients/bulk/": (
        lambda w: api_write("post", "/api/v1/clients/bulk/", {"clients": [{"label": "M-BULK"}]}),
        api(any_staff(201)),
    ),
    "POST /api/v1/clients/import/": (
        lambda w: Call("/api/v1/clients/import/", "post", csv_import, body="multipart"),
        api(any_staff(201)),
    ),
    "GET /api/v1/clients/{client_id}/": (
        lambda w: get(f"/api/v1/clients/{w.client.pk}/"),
        api(client_data()),
    ),
    "PATCH /api/v1/clients/{client_id}/": (
        lambda w: api_write(
            "patch", f"/api/v1/clients/{w.client.pk}/", {"timezone": "Europe/Paris"}
        ),
        api(client_data()),
    ),
    "GET /api/v1/episodes/": (lambda w: get("/api/v1/episodes/"), api(any_staff())),
    "POST /api/v1/episodes/": (
        lambda w: api_write("post", "/api/v1/episodes/", {"client": w.returning_client.pk}),
        api(client_data(201)),
    ),
    "GET /api/v1/episodes/{episode_id}/": (
        lambda w: get(f"/api/v1/episodes/{w.episode.pk}/"),
        api(client_data()),
    ),
    "PATCH /api/v1/episodes/{episode_id}/": (
        lambda w: api_write(
            "patch",
            f"/api/v1/episodes/{w.episode.pk}/",
            {"started_on": (w.episode.started_on - timedelta(days=7)).isoformat()},
        ),
        api(client_data()),
    ),
    "POST /api/v1/episodes/{episode_id}/close/": (
        lambda w: api_write(
            "post", f"/api/v1/episodes/{w.episode.pk}/close/", {"end_reason": "planned"}
        ),
        api(client_data()),
    ),
    "GET /api/v1/episodes/{episode_id}/plan/": (
        lambda w: get(f"/api/v1/episodes/{w.episode.pk}/plan/"),
        api(client_data()),
    ),
    "PUT /api/v1/episodes/{episode_id}/plan/": (
        lambda w: api_write(
            "put", f"/api/v1/episodes/{w.episode.pk}/plan/", {"instruments": ["phq9"]}
        ),
        api(client_data()),
    ),
    "POST /api/v1/episodes/{episode_id}/plan/pause/": (
        lambda w: api_write("post", f"/api/v1/episodes/{w.episode.pk}/plan/pause/"),
        api(client_data()),
    ),
    "POST /api/v1/episodes/{episode_id}/plan/resume/": (
        lambda w: api_write("post", f"/api/v1/episodes/{w.episode.pk}/plan/resume/"),
        api(client_data()),
    ),
    "GET /api/v1/episodes/{episode_id}/responses/": (
        lambda w: get(f"/api/v1/episodes/{w.episode.pk}/responses/"),
        api(client_data()),
    ),
    "POST /api/v1/episodes/{episode_id}/responses/": (
        lambda w: api_write(
            "post",
            f"/api/v1/episodes/{w.episode.pk}/responses/",
            {"instrument": "phq9", "answers": [0] * 9},
        ),
        api(client_data(201)),
    ),
    "GET /api/v1/episodes/{episode_id}/trajectory/": (
        lambda w: get(f"/api/v1/episodes/{w.episode.pk}/trajectory/"),
        api(client_data()),
    ),
    "GET /api/v1/checkins/": (lambda w: get("/api/v1/checkins/"), api(any_staff())),
    "POST /api/v1/checkins/": (
        lambda w: api_write("post", "/api/v1/checkins/", {"episode": w.episode.pk}),
        api(client_data(201)),
    ),
    "GET /api/v1/alerts/": (lambda w: get("/api/v1/alerts/"), api(any_staff())),
    "GET /api/v1/alerts/{alert_id}/": (
        lambda w: get(f"/api/v1/alerts/{w.alert.pk}/"),
        api(client_data()),
    ),
    "POST /api/v1/alerts/{alert_id}/acknowledge/": (
        lambda w: api_write("post", f"/api/v1/alerts/{w.alert.pk}/acknowledge/"),
        api(client_data()),
    ),
    "POST /api/v1/alerts/{alert_id}/resolve/": (
        lambda w: api_write(
            "post", f"/api/v1/alerts/{w.alert.pk}/resolve/", {"action": "no_action"}
        ),
        api(client_data()),
    ),
    "GET /api/v1/reports/outcomes/": (
        lambda w: get(f"/api/v1/reports/outcomes/{report_query(w)}"),
        api(team_reports()),
    ),
    # --- API routes outside the schema ----------------------------------------------------------
    "GET /api/v1/schema/": (lambda w: get("/api/v1/schema/"), api(any_staff())),
    "GET /api/v1/docs/": (lambda w: get("/api/v1/docs/"), any_staff()),  # an HTML page: login
    "GET /api/v1/*": (lambda w: get("/api/v1/no-such-thing/"), everyone(404)),
    # --- The client's link ----------------------------------------------------------------------
    "GET /c/{key}/": (lambda w: get(f"/c/{w.key}/"), everyone()),
    # Whoever holds the link may answer (the key is the credential); each caller in their own
    # savepoint, so each is the first.
    "POST /c/{key}/": (lambda w: post(f"/c/{w.key}/", form_post()), everyone(302)),
    # Before the form is sent the thank-you page sends the client back to the form.
    "GET /c/{key}/done/": (lambda w: get(f"/c/{w.key}/done/"), everyone(302)),
    "GET /c/opt-out/{token}/": (lambda w: get(f"/c/opt-out/{w.opt_out_token}/"), everyone()),
    "POST /c/opt-out/{token}/": (
        lambda w: post(f"/c/opt-out/{w.opt_out_token}/"),
        everyone((200, 302)),
    ),
    # --- Staff pages ----------------------------------------------------------------------------
    "GET /episodes/{episode_id}/enter/": (
        lambda w: get(f"/episodes/{w.episode.pk}/enter/"),
        client_data(),
    ),
    "POST /episodes/{episode_id}/enter/": (
        lambda w: post(f"/episodes/{w.episode.pk}/enter/", paper_phq9(w)),
        client_data(302),
    ),
    "GET /reports/": (lambda w: get(f"/reports/{report_query(w)}"), team_reports()),
    "POST /reports/exports/": (
        lambda w: post(
            "/reports/exports/",
            {
                "clinic": w.clinic.slug,
                "team": w.team_a.pk,
                "start": (TODAY() - timedelta(days=180)).isoformat(),
                "end": TODAY().isoformat(),
                "exporter": "outcome_report",
                "format": "csv",
            },
        ),
        team_reports(302),
    ),
    "GET /reports/exports/{job_id}/status/": (
        lambda w: get(f"/reports/exports/{w.job.pk}/status/"),
        clinic_admin(),
    ),
    "GET /reports/exports/{job_id}/download/": (
        lambda w: get(f"/reports/exports/{w.job.pk}/download/"),
        clinic_admin(410),  # the admin's own job, not built yet: gone, not leaked
    ),
    "POST /reports/subscription/": (
        lambda w: post("/reports/subscription/", {"clinic": w.clinic.slug, "subscribe": "1"}),
        # A clinic-level subscription: any supervisor or admin of the clinic.
        expect(404, anon=LOGIN, link=LOGIN, sup=302, sup_b=302, admin=302),
    ),
    "GET /": (lambda w: get("/"), any_staff()),
    "GET /episodes/{episode_id}/": (lambda w: get(f"/episodes/{w.episode.pk}/"), client_data()),
    "GET /episodes/{episode_id}/review/": (
        lambda w: get(f"/episodes/{w.episode.pk}/review/"),
        client_data(),
    ),
    "POST /episodes/{episode_id}/events/": (
        lambda w: post(
            f"/episodes/{w.episode.pk}/events/",
            {"occurred_on": TODAY().isoformat(), "kind": "life_event", "note": "Moved house"},
        ),
        client_data(302),
    ),
    "POST /episodes/{episode_id}/plan/{action}/": (
        lambda w: post(f"/episodes/{w.episode.pk}/plan/pause/"),
        client_data(302),
    ),
    "POST /episodes/{episode_id}/plan/": (
        lambda w: post(
            f"/episodes/{w.episode.pk}/plan/",
            {"instruments": ["phq9"], "schedule": "weekly", "weekday": 2, "local_time": "10:00"},
        ),
        client_data(302),
    ),
    "POST /episodes/{episode_id}/checkins/": (
        lambda w: post(f"/episodes/{w.episode.pk}/checkins/"),
        client_data(302),
    ),
    "POST /episodes/{episode_id}/sessions/": (
        lambda w: post(
            f"/episodes/{w.episode.pk}/sessions/",
            {"held_on": TODAY().isoformat(), "attendance": "attended"},
        ),
        client_data(302),
    ),
    # Every member of a clinic may add a client there, as their own (the outsider: in their
    # clinic), as the API allows.
    "GET /clients/new/": (lambda w: get("/clients/new/"), any_staff()),
    "POST /clients/new/": (
        lambda w: Call("/clients/new/", "post", new_client_form),
        any_staff(302),
    ),
    "GET /clients/import/": (lambda w: get("/clients/import/"), any_staff()),
    "POST /clients/import/": (
        lambda w: Call("/clients/import/", "post", csv_import, body="multipart"),
        any_staff(302),
    ),
    "POST /episodes/{episode_id}/close/": (
        lambda w: post(
            f"/episodes/{w.episode.pk}/close/",
            {"ended_on": TODAY().isoformat(), "end_reason": "planned"},
        ),
        client_data(302),
    ),
    "GET /alerts/": (lambda w: get("/alerts/"), any_staff()),
    "POST /alerts/{alert_id}/acknowledge/": (
        lambda w: post(f"/alerts/{w.alert.pk}/acknowledge/"),
        client_data(302),
    ),
    "POST /alerts/{alert_id}/resolve/": (
        lambda w: post(f"/alerts/{w.alert.pk}/resolve/", {"action": "no_action"}),
        client_data(302),
    ),
    # The demo's local mailbox: Django staff only, so 404 for every clinic role.
    "GET /outbox/": (lambda w: get("/outbox/"), expect(404, anon=LOGIN, link=LOGIN)),
}


# --- What must have a line ------------------------------------------------------------------------

CONVERTER = re.compile(r"<(?:\w+:)?(\w+)>")
NAMED_GROUP = re.compile(r"\(\?P<(\w+)>[^)]*\)")


def route_template(route: str) -> str:
    """A resolver route as the schema writes paths: ``/episodes/{episode_id}/``; a regex that
    matches anything left (the API's catch-all) ends in ``*``."""
    route = NAMED_GROUP.sub(r"{\1}", route)  # first: "(?P<key>" is not a converter
    route = CONVERTER.sub(r"{\1}", route)
    route = re.sub(r"\^$", "*", route)
    return "/" + route.replace("^", "").replace("$", "")


def resolved_template(path: str) -> str:
    """The template of the route that ``path`` reaches. Django drops a regex's leading ``^`` when
    it joins routes, so the API's catch-all (``^`` alone) comes back as its prefix: mark it."""
    match = resolve(path)
    template = route_template(match.route)
    return template + "*" if match.view_name == "api:not_found" else template


def url_patterns(*, admin: bool = False):
    """(full route, pattern) of every URL pattern, outside ``admin/`` or (``admin``) inside."""

    def walk(patterns, prefix=""):
        for pattern in patterns:
            route = prefix + str(pattern.pattern)
            if route.startswith("static/"):
                continue
            if route.startswith("admin/") != admin:
                continue
            if isinstance(pattern, URLResolver):
                yield from walk(pattern.url_patterns, route)
            elif isinstance(pattern, URLPattern):
                yield route, pattern

    return list(walk(get_resolver().url_patterns))


def api_operations() -> set[str]:
    schema = SchemaGenerator().get_schema(request=None, public=True)
    return {
        f"{method.upper()} {path}"
        for path, operations in schema["paths"].items()
        for method in operations
        if method in HTTP_METHODS
    }


def _template_of(key: str) -> str:
    return key.split(" ", 1)[1]


def test_every_url_pattern_has_a_name():
    unnamed = [route for route, pattern in url_patterns() if not pattern.name]
    assert not unnamed, f"URL pattern(s) without a name: {unnamed}. Name each in its urls.py."


def test_every_api_operation_and_every_page_has_a_line_in_the_access_matrix():
    operations = api_operations()
    api_paths = {_template_of(op) for op in operations}
    pages = {route_template(route) for route, _ in url_patterns()} - api_paths
    covered = {_template_of(key) for key in MATRIX}

    missing = sorted(op for op in operations if op not in MATRIX)
    missing += sorted(f"(any method) {page}" for page in pages if page not in covered)
    assert not missing, (
        f"No access rule for: {missing}. Add a line per method and route to MATRIX in "
        "tests/integration/test_access_matrix.py: how to call it and what each caller gets."
    )
    stale = sorted(
        key
        for key in MATRIX
        if (_template_of(key) in api_paths and key not in operations)
        or _template_of(key) not in api_paths | pages
    )
    assert not stale, f"MATRIX lines for operations that no longer exist: {stale}"


def test_every_write_operation_of_the_api_is_expected_to_succeed_in_scope():
    """In the manner of pretix's permission tests: a write's line proves it works for those in
    scope, not only that it is refused to the others."""
    for key in api_operations():
        if key.startswith("GET "):
            continue
        expected = MATRIX[key][1]
        assert expected["anon"] == DENIED, key
        in_scope = [code for code in expected.values() if isinstance(code, int) and code < 300]
        assert in_scope, f"{key}: no caller is expected to succeed"
        assert set(expected.values()) <= {DENIED, 404, *in_scope}, key


# --- The calls ------------------------------------------------------------------------------------


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
        from api.services import api_token_create

        self.token = api_token_create(user=cast.therapist, name="EHR").token
        # An operating point the clinic does not use now: choosing it changes the settings.
        current = clinic_operating_point(cast.clinic)
        self.other_operating_point = next(name for name in OPERATING_POINTS if name != current)
        # A client of the therapist's whose episode has ended: a new episode may be opened.
        self.returning_client = make_client(cast.clinic)
        make_episode(self.returning_client, cast.therapist, ended_on=TODAY(), end_reason="planned")
        start_plan(cast.episode)
        checkins_sweep()
        mail = OutboundEmail.objects.filter(purpose="checkin").latest("pk")
        self.key = key_from(mail)
        self.staff = {
            "own": self.therapist,
            "other": self.other_therapist,
            "sup": self.supervisor,
            "sup_b": self.other_supervisor,
            "admin": self.admin,
            "out": self.outsider,
        }

    def browser(self, role) -> Client:
        browser = Client()
        if role in self.staff:
            login_verified(browser, self.staff[role])
        elif role == "link":
            browser.get(f"/c/{self.key}/")  # whatever the link page sets, the client now has
        return browser


# A <script> with content and without src (json_script's application/json blocks are data, not
# code, and CSP leaves them alone), or an on*="..." attribute.
INLINE_SCRIPT = re.compile(r"<script(?![^>]*\b(?:src=|type=\"application/json\"))[^>]*>\s*[^<\s]")
INLINE_HANDLER = re.compile(r"<[^>]+\son[a-z]+\s*=\s*[\"']")
LOGIN_PAGES = ("/login/", "/admin/login/")  # the admin's sign-in redirects to the staff one


def outcome_matches(response, expected) -> bool:
    if expected == LOGIN:
        return response.status_code == 302 and response["Location"].startswith(LOGIN_PAGES)
    if expected == DENIED:
        return response.status_code in (401, 403)
    allowed = expected if isinstance(expected, tuple) else (expected,)
    return response.status_code in allowed


@pytest.mark.slow  # ~1 s per line: eight callers, each a fresh signed-in browser
@pytest.mark.parametrize("key", sorted(MATRIX))
def test_access(key, cast, settings):
    settings.CHECKIN_RATE_LIMIT_REQUESTS = 10_000
    build, expected = MATRIX[key]
    world = World(cast)
    call = build(world)
    method, template = key.split(" ", 1)
    assert call.method == method.lower(), f"{key} calls {call.method.upper()}"
    assert resolved_template(call.path.split("?")[0]) == template, call.path
    failures = []
    for role in ROLES:
        # Each caller meets the same world: what the one before changed is rolled back.
        with transaction.atomic():
            browser = world.browser(role)
            response = call.send(browser, world.staff.get(role))
            transaction.set_rollback(True)
        if not outcome_matches(response, expected[role]):
            location = response.get("Location", "")
            failures.append(
                f"{role}: expected {expected[role]}, got {response.status_code} {location}"
            )
        elif response.status_code == 200 and "text/html" in response.get("Content-Type", ""):
            html = response.content.decode()
            if INLINE_SCRIPT.search(html) or INLINE_HANDLER.search(html):
                failures.append(f"{role}: inline script on the page (blocked by the CSP)")
    assert not failures, f"{key} ({call.path})\n" + "\n".join(failures)


# --- The admin ------------------------------------------------------------------------------------


# What a staff clinic admin may open in the admin: its frame (index, own password, JavaScript
# catalogue) and the instrument definitions, whose admin is scoped to the clinics they administer.
CLINIC_ADMIN_ADMIN_PATHS = (
    "/admin/outcomes/instrumentdefinition/",
    "/admin/jsi18n/",
    "/admin/password_change/",
)
CLINIC_ADMIN_ADMIN_PAGES = ("/admin/", "/admin/outcomes/")


def admin_path(route: str) -> str:
    """A path that the admin route matches: ids for converters, a listed value for a regex."""

    def sample(match):
        body = match.group(1)
        return body.split("|")[0] if re.fullmatch(r"[\w|]+", body) else "x"

    path = re.sub(r"\(\?P<\w+>([^)]*)\)", sample, route)
    path = CONVERTER.sub("1", path)
    return "/" + path.replace("^", "").replace("$", "")


@pytest.mark.slow
def test_the_admin_is_for_superusers_only(cast):
    routes = url_patterns(admin=True)
    assert len(routes) > 100
    world = World(cast)
    browsers = {role: world.browser(role) for role in ROLES}
    # A clinic admin made staff and given every model permission: Django's own admin would let
    # them in and show every clinic's clients, alerts and users (and mint tokens for them).
    from django.contrib.auth.models import Permission

    staff_admin = make_staff(cast.clinic, role=Role.ADMIN, username="staff_clinicadmin")
    staff_admin.is_staff = True
    staff_admin.save(update_fields=["is_staff"])
    staff_admin.user_permissions.set(Permission.objects.all())
    browsers["staff_admin"] = Client()
    login_verified(browsers["staff_admin"], staff_admin)
    failures = []
    for route, _ in routes:
        path = admin_path(route)
        if path == "/admin/logout/":
            continue  # signs the caller out, showing nothing; it would also end the sessions
        # Django drops a joined regex's leading "^" from the route it reports.
        assert resolve(path).route == route.replace("/^", "/"), f"{path} does not reach {route}"
        for role, browser in browsers.items():
            if role == "staff_admin" and (
                path.startswith(CLINIC_ADMIN_ADMIN_PATHS) or path in CLINIC_ADMIN_ADMIN_PAGES
            ):
                continue  # the instrument pages, scoped to their clinics (test_instrument_admin)
            for method in ("get", "post"):
                response = getattr(browser, method)(path)
                refused = response.status_code == 403 or (
                    response.status_code == 302 and response["Location"].startswith(LOGIN_PAGES)
                )
                if role == "staff_admin":
                    # Let in to the admin's frame, refused every object: 403, an app page that
                    # does not exist for them (404), a method the page does not take (405), or
                    # "does not exist" for every id alike (the redirect to the index).
                    refused = refused or response.status_code in (404, 405)
                    refused = refused or (
                        response.status_code == 302
                        and response["Location"] in ("/admin/", f"{path}change/")
                    )
                if not refused:
                    failures.append(f"{method.upper()} {path} as {role}: {response.status_code}")
    assert not failures, "\n".join(failures[:40])


def test_a_verified_superuser_reaches_the_admin(cast, client):
    from django.contrib.auth import get_user_model

    login_verified(client, get_user_model().objects.create_superuser("root", password="pw-R-12345"))
    assert client.get("/admin/").status_code == 200
