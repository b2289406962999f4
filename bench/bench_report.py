"""Benchmark of the clinic outcome report over 100,000 finished episodes (issue 7).

    PYTHONPATH=. .venv/bin/python bench/bench_report.py [--episodes 100000] [--export]

Builds its own SQLite database in a temporary directory (migrate, then direct bulk inserts:
100 therapists in 10 teams, one episode per client, every episode finished in the period with
2-12 attended sessions and weekly paired PHQ-9/GAD-7, a check-in per contact, some alerts), then
measures in a fresh process the report a clinic admin opens: load (``report_frames``) plus
compute (``clinic_report``: every rate, interval and effect size, per clinician, team and clinic).
Target: under 10 s and under 1 GiB peak memory (peak resident set size of that process).

``--export`` also times the de-identified research export (one CSV row per administration) in
another fresh process and prints its peak memory, which should not grow with the row count.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import numpy as np

PERIOD_START = date(2025, 1, 1)
PERIOD_END = date(2025, 12, 31)


def setup_django(database: Path) -> None:
    os.environ["DATABASE_URL"] = f"sqlite:///{database}"
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def raw_insert(model, columns: dict, count: int, batch: int = 50_000) -> None:
    """INSERT ``count`` rows; columns not given take the field default (schema changes safe)."""
    from django.db import connection

    fields = [field for field in model._meta.concrete_fields if not field.primary_key]
    values = []
    for field in fields:
        if field.attname in columns:
            values.append(columns[field.attname])
        else:
            default = field.get_db_prep_save(field.get_default(), connection)
            values.append([default] * count)
    names = ", ".join(connection.ops.quote_name(field.column) for field in fields)
    marks = ", ".join(["%s"] * len(fields))
    sql = f"INSERT INTO {model._meta.db_table} ({names}) VALUES ({marks})"
    with connection.cursor() as cursor:
        for start in range(0, count, batch):
            stop = min(start + batch, count)
            cursor.executemany(
                sql, list(zip(*(column[start:stop] for column in values), strict=True))
            )


def iso(values: np.ndarray) -> list[str]:
    """datetime64[s] (UTC) as the text Django stores in SQLite."""
    return [text.replace("T", " ") for text in np.datetime_as_string(values, unit="s")]


def seed(n_episodes: int) -> None:
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.db import transaction

    from clients.models import (
        CheckIn,
        Client,
        Clinic,
        Episode,
        Membership,
        Role,
        Team,
        TreatmentSession,
    )
    from outcomes.models import Administration, Alert

    started = time.monotonic()
    call_command("migrate", verbosity=0)
    print(f"migrated in {time.monotonic() - started:.1f}s", flush=True)
    rng = np.random.default_rng(7)
    User = get_user_model()
    with transaction.atomic():
        clinic = Clinic.objects.create(name="Bench clinic", slug="bench")
        teams = Team.objects.bulk_create(Team(clinic=clinic, name=f"Team {i}") for i in range(10))
        therapists = User.objects.bulk_create(User(username=f"t{i}") for i in range(100))
        for index, therapist in enumerate(therapists):
            membership = Membership.objects.create(user=therapist, clinic=clinic)
            membership.teams.set([teams[index % 10]])
        admin = User.objects.create(username="bench-admin")
        Membership.objects.create(user=admin, clinic=clinic, role=Role.ADMIN)

        n = n_episodes
        raw_insert(
            Client,
            {"clinic_id": [clinic.pk] * n, "label": [f"B-{i:06d}" for i in range(n)]},
            n,
        )
        client_ids = list(Client.objects.filter(clinic=clinic).values_list("pk", flat=True))
        therapist_ids = np.array([t.pk for t in therapists])[rng.integers(0, 100, n)]
        weeks = rng.integers(2, 13, n)  # contacts per episode
        start_day = np.datetime64(PERIOD_START) + rng.integers(0, 200, n).astype("timedelta64[D]")
        end_day = start_day + (weeks * 7).astype("timedelta64[D]")
        reasons = rng.choice(["planned", "planned", "planned", "unplanned", "dropout"], n)
        raw_insert(
            Episode,
            {
                "client_id": client_ids,
                "clinic_id": [clinic.pk] * n,
                "therapist_id": therapist_ids.tolist(),
                "started_on": np.datetime_as_string(start_day).tolist(),
                "ended_on": np.datetime_as_string(end_day).tolist(),
                "end_reason": reasons.tolist(),
            },
            n,
        )
        episode_ids = np.array(
            Episode.objects.filter(clinic=clinic).order_by("pk").values_list("pk", flat=True)
        )
        print(f"{n} clients and episodes in {time.monotonic() - started:.1f}s", flush=True)

        # One attended session and one paired PHQ-9 + GAD-7 per weekly contact.
        episode_of = np.repeat(episode_ids, weeks)
        week = np.concatenate([np.arange(w) for w in weeks])
        day = np.repeat(start_day, weeks) + (week * 7).astype("timedelta64[D]")
        at = day.astype("datetime64[s]") + np.timedelta64(10 * 3600, "s")
        contacts = len(episode_of)
        raw_insert(
            TreatmentSession,
            {
                "episode_id": episode_of.tolist(),
                "starts_at": iso(at),
                "attended": [True] * contacts,
            },
            contacts,
        )
        intake_phq = np.repeat(np.clip(rng.normal(16.4, 5.6, n), 0, 27), weeks)
        intake_gad = np.repeat(np.clip(rng.normal(14.5, 4.4, n), 0, 21), weeks)
        share = np.repeat(rng.normal(0.45, 0.35, n), weeks)
        progress = np.log1p(week) / np.log(7)
        phq = np.clip(
            np.round(intake_phq * (1 - share * progress) + rng.normal(0, 2, contacts)), 0, 27
        )
        gad = np.clip(
            np.round(intake_gad * (1 - share * progress) + rng.normal(0, 2, contacts)), 0, 21
        )
        raw_insert(
            CheckIn,
            {
                "episode_id": episode_of.tolist(),
                "kind": ["scheduled"] * contacts,
                "due_at": iso(at),
                "instruments": ['["phq9", "gad7"]'] * contacts,
                "status": np.where(rng.random(contacts) < 0.85, "completed", "expired").tolist(),
                "sent_at": iso(at),
            },
            contacts,
        )
        for code, totals in (("phq9", phq), ("gad7", gad)):
            raw_insert(
                Administration,
                {
                    "episode_id": episode_of.tolist(),
                    "instrument": [code] * contacts,
                    "administered_at": iso(at),
                    "answers": ["[]"] * contacts,
                    "total": totals.tolist(),
                    "source": ["link"] * contacts,
                },
                contacts,
            )
        alerted = rng.choice(episode_ids, n // 20, replace=False)
        raised = datetime(2025, 6, 1, tzinfo=UTC)
        Alert.objects.bulk_create(
            Alert(
                episode_id=int(episode_id),
                clinic=clinic,
                rule="risk_item",
                trigger=f"b{index}",
                severity="urgent",
                message="Risk item endorsed",
                created_at=raised,
                acknowledged_at=raised + timedelta(hours=float(rng.exponential(3))),
            )
            for index, episode_id in enumerate(alerted)
        )
    print(
        f"seeded {n} episodes, {contacts} sessions and check-ins, {2 * contacts} administrations "
        f"in {time.monotonic() - started:.1f}s",
        flush=True,
    )


def measure_report() -> None:
    from django.contrib.auth import get_user_model

    from dashboards.report_selectors import ReportPeriod, report_frames, report_scope
    from dashboards.reports import clinic_report

    admin = get_user_model().objects.get(username="bench-admin")
    period = ReportPeriod(PERIOD_START, PERIOD_END)
    baseline = peak_rss_mib()
    started = time.perf_counter()
    scope = report_scope(user=admin)
    frames = report_frames(scope=scope, period=period)
    loaded = time.perf_counter()
    report = clinic_report(frames, start=period.start, end=period.end)
    done = time.perf_counter()
    total = report.total
    print(
        f"report over {total.finished} finished episodes ({total.ended} ended, "
        f"{len(report.clinicians)} clinicians, {len(report.teams)} teams): "
        f"load {loaded - started:.2f}s + compute {done - loaded:.2f}s = {done - started:.2f}s "
        f"(target < 10 s); peak RSS {peak_rss_mib():.0f} MiB (before: {baseline:.0f} MiB; "
        f"target < 1024 MiB)"
    )
    print(
        f"  recovery {total.recovery.value:.1%}, reliable improvement "
        f"{total.reliable_improvement.value:.1%}, deterioration "
        f"{total.reliable_deterioration.value:.1%}, d(PHQ-9) {total.effect_phq9.d:.2f} "
        f"[{total.effect_phq9.low:.2f}, {total.effect_phq9.high:.2f}], dropout "
        f"{total.dropout.value:.1%}, completion {total.completion.value:.1%}"
    )


def measure_export(directory: Path) -> None:
    from django.contrib.auth import get_user_model

    from dashboards.exporters.research import ResearchExporter
    from dashboards.report_selectors import ReportPeriod, report_scope

    admin = get_user_model().objects.get(username="bench-admin")
    exporter = ResearchExporter(
        scope=report_scope(user=admin), period=ReportPeriod(PERIOD_START, PERIOD_END)
    )
    baseline = peak_rss_mib()
    started = time.perf_counter()
    rows = exporter.write(file_format="csv", path=str(directory / "research.csv"))
    elapsed = time.perf_counter() - started
    size = (directory / "research.csv").stat().st_size / 2**20
    print(
        f"research export: {rows} rows ({size:.0f} MiB CSV) in {elapsed:.1f}s "
        f"({rows / elapsed:,.0f} rows/s); peak RSS {peak_rss_mib():.0f} MiB "
        f"(before: {baseline:.0f} MiB)"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--episodes", type=int, default=100_000)
    parser.add_argument("--export", action="store_true")
    parser.add_argument("--measure", choices=["report", "export"], help=argparse.SUPPRESS)
    parser.add_argument("--database", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.measure:
        database = Path(args.database)
        setup_django(database)
        if args.measure == "report":
            measure_report()
        else:
            measure_export(database.parent)
        return

    with tempfile.TemporaryDirectory(prefix="bench-report-") as directory:
        database = Path(directory) / "bench.sqlite3"
        setup_django(database)
        seed(args.episodes)
        # Measure in fresh processes, so that the peak memory is the report's, not the seeding's.
        measures = ["report"] + (["export"] if args.export else [])
        for measure in measures:
            subprocess.run(
                [sys.executable, __file__, "--measure", measure, "--database", str(database)],
                check=True,
                env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)},
            )


if __name__ == "__main__":
    main()
