"""Benchmark: the caseload page at 5, 50 and 300 clients: SQL queries and time per request.

Issue 6 asks the caseload to stay fast with 300 clients, with a constant number of queries
whatever its size. This builds a throw-away SQLite database, one therapist with N active clients
(20 weekly PHQ-9 + GAD-7 pairs, 10 session ratings, 20 check-ins and 2 alerts each), and times the
full page (middleware, template and all) through Django's test client.

Run: ``.venv/bin/python bench/bench_caseload.py [--sizes 5,50,300] [--repeat 5]``
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
_workdir = tempfile.mkdtemp(prefix="bench-caseload-")
os.environ["DATABASE_URL"] = f"sqlite:///{_workdir}/bench.sqlite3"
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ["MFA_REQUIRED"] = "0"

import django  # noqa: E402

django.setup()

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


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="5,50,300")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument(
        "--team", action="store_true", help="a clinic admin's team view of the same clients"
    )
    options = parser.parse_args()
    sizes = [int(size) for size in options.sizes.split(",")]

    call_command("migrate", verbosity=0)
    clinic = Clinic.objects.create(name="Bench clinic", slug="bench")
    therapist = make_staff(clinic, username="bench-therapist")
    http = HttpClient()
    path, page_size = "/", OWN_CASELOAD_PAGE_SIZE
    if options.team:
        admin = make_staff(clinic, role=Role.ADMIN, username="bench-admin")
        http.force_login(admin)
        path, page_size = "/?view=team", TEAM_PAGE_SIZE
    else:
        http.force_login(therapist)

    print(f"caseload page, {WEEKS} weeks of PHQ-9 + GAD-7 per client, SQLite in {_workdir}")
    print(f"{'clients':>8} {'queries':>8} {'median ms':>10} {'max ms':>8} {'HTML kB':>8}")
    built = 0
    for size in sizes:
        build_caseload(clinic, therapist, first=built, count=size - built)
        built = size
        executed: list[str] = []
        with connection.execute_wrapper(_counting(executed)):
            response = http.get(path)
        assert response.status_code == 200
        assert response.content.count(b'<tr class="caseload-row') == min(size, page_size)
        timings = []
        for _ in range(options.repeat):
            started = time.perf_counter()
            http.get(path)
            timings.append((time.perf_counter() - started) * 1000)
        print(
            f"{size:>8} {len(executed):>8} {statistics.median(timings):>10.0f} "
            f"{max(timings):>8.0f} {len(response.content) / 1000:>8.0f}"
        )


if __name__ == "__main__":
    if "--profile" in sys.argv:
        import cProfile

        sys.argv.remove("--profile")
        cProfile.run("main()", sort="cumulative")
    else:
        main()
