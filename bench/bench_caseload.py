"""Benchmark: the caseload page at 5, 50 and 300 clients: SQL queries and time per request.

Issue 6 asks the caseload to stay fast with 300 clients, with a constant number of queries
whatever its size. This builds a throw-away SQLite database, one therapist with N active clients
(20 weekly PHQ-9 + GAD-7 pairs, 10 session ratings, 20 check-ins and 2 alerts each), and times the
full page (middleware, template and all) through Django's test client: the server's time per page,
without the network. The floor, measured on the same requests, is the page's own SQL: the time
spent in the driver's ``execute`` for every query of the request.

Run: ``.venv/bin/python bench/bench_caseload.py [--sizes 5,50,300] [--repeat 5] [--team]``

``--postgres`` measures on PostgreSQL instead (issue 18's row: the team view at 3,000 clients):
``DATABASE_URL``, default ``postgres://postgres@127.0.0.1:5432/outcomes_bench_caseload``, is
created and migrated by the script and emptied at each run; the tables are ``ANALYZE``d after the
caseload is written, as ``import_clients`` does after a bulk import. ``--json PATH`` writes each
size's figures to PATH for ``bench/bench_issue18.py``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))
DEFAULT_POSTGRES_URL = "postgres://postgres@127.0.0.1:5432/outcomes_bench_caseload"


def options_parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="5,50,300")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument(
        "--team", action="store_true", help="a clinic admin's team view of the same clients"
    )
    parser.add_argument(
        "--postgres",
        action="store_true",
        help=f"PostgreSQL at DATABASE_URL (default {DEFAULT_POSTGRES_URL}) instead of SQLite",
    )
    parser.add_argument("--json", help="write each size's figures here")
    parser.add_argument("--profile", action="store_true", help="cProfile the run")
    parser.add_argument(
        "--reuse",
        action="store_true",
        help="PostgreSQL: time the caseload an earlier run left in the database, building "
        "nothing (to compare two versions of the page on the same data, alternately)",
    )
    return parser.parse_args()


# The database is chosen before Django is set up, so the options are read at import.
OPTIONS = options_parse()
if OPTIONS.postgres:
    os.environ.setdefault("DATABASE_URL", DEFAULT_POSTGRES_URL)
    if not os.environ["DATABASE_URL"].startswith("postgres"):
        raise SystemExit("--postgres: DATABASE_URL must be postgres://...")
    from bench_sweep import database_create  # noqa: E402

    database_create(os.environ["DATABASE_URL"])
    _where = "PostgreSQL " + os.environ["DATABASE_URL"].rsplit("/", 1)[-1]
else:
    _workdir = tempfile.mkdtemp(prefix="bench-caseload-")
    os.environ["DATABASE_URL"] = f"sqlite:///{_workdir}/bench.sqlite3"
    _where = f"SQLite in {_workdir}"
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ["MFA_REQUIRED"] = "0"

import django  # noqa: E402

django.setup()

from django.contrib.auth.models import User  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402
from django.test import Client as HttpClient  # noqa: E402
from django.utils import timezone  # noqa: E402

from clients.models import (  # noqa: E402
    CheckIn,
    CheckInKind,
    CheckInStatus,
    Client,
    Clinic,
    Episode,
    Role,
)
from dashboards.views import OWN_CASELOAD_PAGE_SIZE, TEAM_PAGE_SIZE  # noqa: E402
from outcomes.models import Administration, Alert  # noqa: E402
from tests.factories import make_staff  # noqa: E402

WEEKS = 20


def build_caseload(clinic, therapist, *, first: int, count: int) -> None:
    now = timezone.now()
    clients = Client.objects.bulk_create(
        [Client(clinic=clinic, label=f"C-{i:04d}") for i in range(first, first + count)]
    )
    episodes = Episode.objects.bulk_create(
        [
            Episode(
                client=client,
                clinic=clinic,
                therapist=therapist,
                started_on=(now - timedelta(weeks=WEEKS)).date(),
                status=("red", "yellow", "green", "white")[index % 4],
                status_reason="PHQ-9 15 is above the expected 11.2 at week 8",
            )
            for index, client in enumerate(clients)
        ]
    )
    administrations, checkins, alerts = [], [], []
    for index, episode in enumerate(episodes):
        for week in range(WEEKS):
            at = now - timedelta(weeks=WEEKS - week)
            total = max(0, 18 - week // 2 + (index % 5))
            for code, value in (("phq9", min(total, 24)), ("gad7", min(total, 21) - 2)):
                administrations.append(
                    Administration(episode=episode, instrument=code, administered_at=at,
                                   answers=[], total=float(max(value, 0)), band="moderate",
                                   source="link")
                )  # fmt: skip
            if week % 2:
                administrations.append(
                    Administration(episode=episode, instrument="session_rating",
                                   administered_at=at, answers=[], total=37.0, source="link")
                )  # fmt: skip
            checkins.append(
                CheckIn(episode=episode, kind=CheckInKind.SCHEDULED, due_at=at, instruments=[],
                        status=CheckInStatus.EXPIRED if week % 9 == 0 else CheckInStatus.COMPLETED,
                        completed_at=at)
            )  # fmt: skip
        for rule in ("not_on_track", "alliance_concern"):
            alerts.append(Alert(episode=episode, clinic=clinic, rule=rule, trigger="bench",
                                severity="high", message="bench"))  # fmt: skip
    Administration.objects.bulk_create(administrations, batch_size=5000)
    CheckIn.objects.bulk_create(checkins, batch_size=5000)
    Alert.objects.bulk_create(alerts, batch_size=5000)


def _counting(executed: list[str]):
    """An execute wrapper that records each SQL statement, across reconnections."""

    def wrapper(execute, sql, params, many, context):
        executed.append(sql)
        return execute(sql, params, many, context)

    return wrapper


class SqlTimer:
    """An execute wrapper that adds up the time spent in the driver: the page's own SQL."""

    def __init__(self):
        self.seconds = 0.0

    def __call__(self, execute, sql, params, many, context):
        started = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            self.seconds += time.perf_counter() - started


def postgres_empty() -> None:
    """Start each run from no clinic at all: the database is the bench's own."""
    with connection.cursor() as cursor:
        # A throwaway bench database: say so, or the audit log refuses TRUNCATE (audit 0003).
        cursor.execute("SET audit.allow_truncate = 'on'")
        cursor.execute(
            "TRUNCATE clients_clinic, auth_user, audit_auditevent, messaging_outboundemail, "
            "django_session RESTART IDENTITY CASCADE"
        )


def main() -> None:
    options = OPTIONS
    sizes = [int(size) for size in options.sizes.split(",")]

    call_command("migrate", verbosity=0)
    reuse = options.reuse and connection.vendor == "postgresql"
    if connection.vendor == "postgresql" and not reuse:
        postgres_empty()
    if reuse:
        clinic = Clinic.objects.get(slug="bench")
        therapist = User.objects.get(username="bench-therapist")
        built = Episode.objects.filter(clinic=clinic).count()
        if [built] != sizes:
            raise SystemExit(f"--reuse: the database holds {built} clients, not {sizes}")
    else:
        clinic = Clinic.objects.create(name="Bench clinic", slug="bench")
        therapist = make_staff(clinic, username="bench-therapist")
        make_staff(clinic, role=Role.ADMIN, username="bench-admin")
    http = HttpClient()
    path, page_size = "/", OWN_CASELOAD_PAGE_SIZE
    if options.team:
        http.force_login(User.objects.get(username="bench-admin"))
        path, page_size = "/?view=team", TEAM_PAGE_SIZE
    else:
        http.force_login(therapist)

    print(
        f"{'team' if options.team else 'own'} caseload page, {WEEKS} weeks of PHQ-9 + GAD-7 "
        f"per client, {_where}"
    )
    print(
        f"{'clients':>8} {'queries':>8} {'median ms':>10} {'max ms':>8} {'SQL ms':>8} "
        f"{'HTML kB':>8}"
    )
    built, figures = (sizes[0] if reuse else 0), []
    for size in sizes:
        build_caseload(clinic, therapist, first=built, count=size - built)
        built = size
        if connection.vendor == "postgresql" and not reuse:
            with connection.cursor() as cursor:
                cursor.execute("ANALYZE")
        executed: list[str] = []
        with connection.execute_wrapper(_counting(executed)):
            response = http.get(path)
        assert response.status_code == 200
        rows_shown = response.content.count(b'<tr class="caseload-row')
        assert rows_shown == min(size, page_size)
        timings, sql = [], []
        for _ in range(options.repeat):
            timer = SqlTimer()
            with connection.execute_wrapper(timer):
                started = time.perf_counter()
                http.get(path)
                timings.append((time.perf_counter() - started) * 1000)
            sql.append(timer.seconds * 1000)
        print(
            f"{size:>8} {len(executed):>8} {statistics.median(timings):>10.0f} "
            f"{max(timings):>8.0f} {statistics.median(sql):>8.0f} "
            f"{len(response.content) / 1000:>8.0f}"
        )
        figures.append(
            {
                "clients": size,
                "view": "team" if options.team else "own",
                "database": connection.vendor,
                "queries": len(executed),
                "rows_shown": rows_shown,
                "page_size": page_size,
                "html_bytes": len(response.content),
                "server_ms": timings,
                "sql_ms": sql,
            }
        )
    if options.json:
        with open(options.json, "w") as handle:
            json.dump(figures, handle)


if __name__ == "__main__":
    if OPTIONS.profile:
        import cProfile

        cProfile.run("main()", sort="cumulative")
    else:
        main()
