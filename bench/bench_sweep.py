"""Benchmark of the alert sweep on PostgreSQL (issue 5), with the database and its rows.

    PYTHONPATH=. .venv/bin/python bench/bench_sweep.py [--episodes 50000] [--sample 1000]
                                                        [--submissions 200] [--reseed]
                                                        [--json PATH]

``DATABASE_URL`` defaults to ``postgres://postgres@127.0.0.1:5432/outcomes_bench_sweep``; the
script creates and migrates that database itself and seeds it once (kept for the next run, re-made
with ``--reseed`` or when the size differs) with the synthetic caseload of ``bench/bench_rules.py``
(8 weekly PHQ-9 and GAD-7 and 4 session ratings per episode: 20 administrations; 8 check-ins),
shifted so each course ends this week, written with COPY. The broker is an in-memory one, so the
notification tasks the first sweep queues go nowhere (and never into a shared ``var/broker``).

It prints:

- **floor**: ``COPY ... TO STDOUT`` of the sweep's rows and columns (every administration and
  check-in of the active episodes, in the same 2,000-episode chunks), taken before and again
  after the sweeps; the faster of the two is the floor (the stricter ratio on a shared machine);
- **read**: the ORM's ``values_list`` of the same rows, and the sweep's own frame readers;
- **sweep**: ``episodes_evaluate`` over every active episode in one process (the work a set of
  workers shares): first on a cold database (every alert new, every status written, every
  administration stamped; goal at most 10× the floor), then the steady hourly case (nothing new;
  goal at most 0.5 s), then a full re-evaluation (goal at most 3× the floor);
- **naive**: a per-episode ORM loop (load one episode's rows, evaluate, ``get_or_create`` each
  alert, save the status) over a ``--sample`` of episodes, scaled to all of them; the sweep must be
  at least 50× faster;
- **per submission**: p50 and p95 of the ``evaluate_episode`` task body right after a new PHQ-9 is
  recorded, with the whole caseload in the database (target: p95 under 200 ms).

``--json PATH`` also writes every figure above (seconds, counts, the load average) to PATH, for
``bench/bench_issue18.py``.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/outcomes_bench_sweep"
os.environ.setdefault("DATABASE_URL", DEFAULT_URL)
os.environ["CELERY_BROKER_URL"] = "memory://"
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

SLUG = "bench-sweep"
CHUNK = 2000


def database_create(url: str) -> None:
    """Create the benchmark's own database if it does not exist yet."""
    from urllib.parse import urlparse

    import psycopg

    parsed = urlparse(url)
    name = parsed.path.lstrip("/")
    admin_url = parsed._replace(path="/postgres").geturl()
    with psycopg.connect(admin_url, autocommit=True) as connection:
        exists = connection.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", [name]
        ).fetchone()
        if not exists:
            connection.execute(f'CREATE DATABASE "{name}"')


def seed(n_episodes: int) -> list[int]:
    """Write the synthetic caseload; returns the episode ids."""
    import numpy as np
    import pandas as pd
    from bench_rules import START, synthetic_caseload
    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.utils import timezone

    from clients.models import Client, Clinic, Episode, Membership, Role, Team

    with connection.cursor() as cursor:
        # A throwaway bench database: say so, or the audit log refuses TRUNCATE (audit 0003).
        cursor.execute("SET audit.allow_truncate = 'on'")
        cursor.execute(
            "TRUNCATE clients_clinic, auth_user, audit_auditevent, messaging_outboundemail "
            "RESTART IDENTITY CASCADE"
        )
    started = time.perf_counter()
    clinic = Clinic.objects.create(name="Bench clinic", slug=SLUG)
    team = Team.objects.create(clinic=clinic, name="Team")
    therapists = get_user_model().objects.bulk_create(
        [get_user_model()(username=f"bench-therapist-{i}", email="") for i in range(50)]
    )
    for user in therapists:
        Membership.objects.create(user=user, clinic=clinic, role=Role.THERAPIST).teams.set([team])
    clients = Client.objects.bulk_create(
        [Client(clinic=clinic, label=f"B-{i:06d}") for i in range(n_episodes)], batch_size=5000
    )
    administrations, checkins = synthetic_caseload(n_episodes)
    shift = (pd.Timestamp(timezone.now()) - pd.Timedelta(weeks=7, days=3)) - START
    started_on = (START + shift).date()
    episodes = Episode.objects.bulk_create(
        [
            Episode(
                client=client,
                clinic=clinic,
                therapist=therapists[i % len(therapists)],
                started_on=started_on,
                # As storing their forms one by one would have left it.
                rules_pending_since=timezone.now(),
            )
            for i, client in enumerate(clients)
        ],
        batch_size=5000,
    )
    episode_ids = np.array([episode.pk for episode in episodes])
    now = timezone.now()

    answers = {"phq9": "[1,1,1,1,1,1,1,1,0,0]", "gad7": "[1,1,1,1,1,1,1]"}
    administered = administrations["administered_at"] + shift
    with connection.cursor() as cursor:
        copy_sql = (
            "COPY outcomes_administration (episode_id, instrument, instrument_version, "
            "administered_at, answers, total, band, risk, valid, source, created_at) FROM STDIN"
        )
        with cursor.cursor.copy(copy_sql) as copy:
            for episode, instrument, at, total, risk in zip(
                episode_ids[administrations["episode_id"].to_numpy() - 1],
                administrations["instrument"],
                administered.dt.to_pydatetime(),
                administrations["total"],
                administrations["risk"],
                strict=True,
            ):
                scored = not np.isnan(total)
                copy.write_row(
                    (
                        int(episode),
                        instrument,
                        "1",
                        at,
                        answers.get(instrument, "[10,10,10,10]"),
                        float(total) if scored else None,
                        "",
                        risk,
                        scored,
                        "link",
                        now,
                    )
                )
        copy_sql = (
            "COPY clients_checkin (episode_id, kind, due_at, instruments, status, sent_at, "
            "expires_at, completed_at, created_at) FROM STDIN"
        )
        due = (checkins["due_at"] + shift).dt.to_pydatetime()
        with cursor.cursor.copy(copy_sql) as copy:
            for episode, due_at, status in zip(
                episode_ids[checkins["episode_id"].to_numpy() - 1],
                due,
                checkins["status"],
                strict=True,
            ):
                completed = status == "completed"
                copy.write_row(
                    (
                        int(episode),
                        "scheduled",
                        due_at,
                        '["phq9","gad7"]',
                        "completed" if completed else "expired",
                        due_at,
                        due_at + timedelta(days=4),
                        due_at if completed else None,
                        now,
                    )
                )
        cursor.execute("ANALYZE")
    print(
        f"seeded {n_episodes:,} episodes, {len(administrations):,} administrations, "
        f"{len(checkins):,} check-ins in {time.perf_counter() - started:.0f} s"
    )
    return episode_ids.tolist()


def state_reset() -> None:
    """Back to "never evaluated": no alerts, no statuses, nothing stamped."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SET audit.allow_truncate = 'on'")
        cursor.execute(
            "TRUNCATE outcomes_alertnotification, outcomes_alert, audit_auditevent, "
            "messaging_outboundemail"
        )
        cursor.execute(
            "UPDATE clients_episode SET status = 'none', status_reason = '', "
            "status_updated_at = NULL, rules_evaluated_at = NULL, rules_fingerprint = '', "
            "rules_pending_since = created_at"
        )
        cursor.execute("VACUUM ANALYZE outcomes_administration")
        cursor.execute("VACUUM ANALYZE clients_episode")


def read_rows(episode_ids: list[int]) -> tuple[float, int]:
    """The baseline: the sweep's own read queries, chunk by chunk, rows fetched and nothing else."""
    from clients.models import CheckIn
    from outcomes.evaluation import CHECKIN_STATUS_FOR_RULES, DISENGAGEMENT_KINDS
    from outcomes.models import Administration

    started = time.perf_counter()
    rows = 0
    for start in range(0, len(episode_ids), CHUNK):
        chunk = episode_ids[start : start + CHUNK]
        rows += len(
            list(
                Administration.objects.filter(episode_id__in=chunk).values_list(
                    "episode_id", "pk", "instrument", "administered_at", "total", "risk"
                )
            )
        )
        rows += len(
            list(
                CheckIn.objects.filter(
                    episode_id__in=chunk,
                    kind__in=DISENGAGEMENT_KINDS,
                    status__in=list(CHECKIN_STATUS_FOR_RULES),
                ).values_list("episode_id", "pk", "due_at", "status")
            )
        )
    return time.perf_counter() - started, rows


def copy_rows(episode_ids: list[int]) -> float:
    """The floor: ``COPY ... TO STDOUT`` of the same rows and columns, received and dropped."""
    from django.db import connection

    from outcomes.evaluation import CHECKIN_STATUS_FOR_RULES, DISENGAGEMENT_KINDS

    kinds = ", ".join(f"'{kind}'" for kind in DISENGAGEMENT_KINDS)
    statuses = ", ".join(f"'{status}'" for status in CHECKIN_STATUS_FOR_RULES)
    started = time.perf_counter()
    with connection.cursor() as wrapper:
        cursor = wrapper.cursor
        for start in range(0, len(episode_ids), CHUNK):
            # Integers only, formatted in: COPY takes no bound parameters.
            ids = ",".join(str(int(pk)) for pk in episode_ids[start : start + CHUNK])
            for statement in (
                "COPY (SELECT episode_id, id, instrument, administered_at, total, risk "
                f"FROM outcomes_administration WHERE episode_id IN ({ids})) TO STDOUT",
                "COPY (SELECT episode_id, id, due_at, status FROM clients_checkin "
                f"WHERE episode_id IN ({ids}) AND kind IN ({kinds}) "
                f"AND status IN ({statuses})) TO STDOUT",
            ):
                with cursor.copy(statement) as copy:
                    for _block in copy:
                        pass
    return time.perf_counter() - started


def read_frames(episode_ids: list[int]) -> float:
    """The sweep's own frame readers (timestamps as integers), chunk by chunk."""
    from outcomes.evaluation import administrations_frame, checkins_frame

    started = time.perf_counter()
    for start in range(0, len(episode_ids), CHUNK):
        chunk = episode_ids[start : start + CHUNK]
        administrations_frame(episode_ids=chunk)
        checkins_frame(episode_ids=chunk)
    return time.perf_counter() - started


def naive_loop(episode_ids: list[int]) -> float:
    """What one would write first: one episode at a time, model instances, get_or_create."""
    import pandas as pd
    from django.utils import timezone

    from clients.models import Episode
    from measures import rules
    from outcomes.evaluation import CHECKIN_STATUS_FOR_RULES, rule_settings
    from outcomes.models import Alert

    started = time.perf_counter()
    for episode_id in episode_ids:
        episode = Episode.objects.select_related("clinic").get(pk=episode_id)
        administrations = pd.DataFrame(
            [
                {
                    "episode_id": episode.pk,
                    "administration_id": a.pk,
                    "instrument": a.instrument,
                    "administered_at": a.administered_at,
                    "total": a.total,
                    "risk": a.risk,
                }
                for a in episode.administrations.all()
            ]
        )
        administrations["total"] = administrations["total"].astype(float)
        administrations["administered_at"] = pd.to_datetime(
            administrations["administered_at"], utc=True
        )
        checkins = pd.DataFrame(
            [
                {
                    "episode_id": episode.pk,
                    "checkin_id": c.pk,
                    "due_at": c.due_at,
                    "status": CHECKIN_STATUS_FOR_RULES.get(c.status, "pending"),
                }
                for c in episode.checkins.all()
            ]
        )
        checkins["due_at"] = pd.to_datetime(checkins["due_at"], utc=True)
        result = rules.evaluate(
            administrations, checkins, settings=rule_settings(clinic=episode.clinic)
        )
        for alert in result.alerts.itertuples():
            Alert.objects.get_or_create(
                episode=episode,
                rule=alert.rule,
                trigger=alert.trigger,
                defaults={
                    "clinic_id": episode.clinic_id,
                    "severity": alert.severity,
                    "message": alert.message[:300],
                },
            )
        status = result.status.iloc[0]
        episode.status, episode.status_reason = status["status"], status["reason"][:300]
        episode.status_updated_at = timezone.now()
        episode.save(update_fields=["status", "status_reason", "status_updated_at"])
        Episode.objects.filter(pk=episode.pk).update(
            rules_evaluated_at=timezone.now(), rules_pending_since=None
        )
    return time.perf_counter() - started


def submissions(episode_ids: list[int], count: int) -> list[float]:
    from clients.models import Episode
    from outcomes.models import ResponseSource
    from outcomes.services import administration_record
    from outcomes.tasks import evaluate_episode

    timings = []
    for episode_id in random.Random(7).sample(episode_ids, count):
        episode = Episode.objects.select_related("clinic", "client").get(pk=episode_id)
        administration_record(
            episode=episode,
            instrument_code="phq9",
            answers=[2, 2, 2, 2, 2, 1, 1, 1, 0, 0],
            source=ResponseSource.LINK,
        )
        started = time.perf_counter()
        evaluate_episode.run(episode_id)
        timings.append(time.perf_counter() - started)
    return timings


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--episodes", type=int, default=50_000)
    parser.add_argument("--sample", type=int, default=1000)
    parser.add_argument("--submissions", type=int, default=200)
    parser.add_argument("--reseed", action="store_true")
    parser.add_argument("--json", help="write the figures (seconds, counts) here")
    parser.add_argument(
        "--submissions-only",
        action="store_true",
        help="measure only the per-submission task (the machine may be quieter for a moment)",
    )
    options = parser.parse_args()

    if not os.environ["DATABASE_URL"].startswith("postgres"):
        raise SystemExit("bench_sweep measures PostgreSQL: set DATABASE_URL=postgres://...")
    database_create(os.environ["DATABASE_URL"])

    import django

    django.setup()
    from django.core.management import call_command

    from clients.models import Episode
    from outcomes.evaluation import episodes_evaluate, episodes_to_evaluate
    from outcomes.models import Administration, Alert

    call_command("migrate", verbosity=0)
    active = Episode.objects.filter(clinic__slug=SLUG, ended_on__isnull=True)
    if options.reseed or active.count() != options.episodes:
        seed(options.episodes)
    episode_ids = list(active.order_by("pk").values_list("pk", flat=True))
    n_rows = Administration.objects.filter(episode__clinic__slug=SLUG).count()
    print(f"{len(episode_ids):,} active episodes, {n_rows:,} administrations")
    figures: dict = {"episodes": len(episode_ids), "administrations": n_rows}

    if not options.submissions_only:
        state_reset()
        read_rows(episode_ids[:CHUNK])  # warm the cache like a database in use
        read_seconds, rows = read_rows(episode_ids)
        floor = copy_rows(episode_ids)
        frames_seconds = read_frames(episode_ids)
        print(
            f"floor: COPY … TO STDOUT of the same rows and columns: {floor:6.2f} s ({rows:,} rows)"
        )
        print(
            f"read, ORM values_list:        {read_seconds:6.2f} s = "
            f"{read_seconds / floor:.1f}× COPY"
        )
        print(
            f"read, the sweep's frames:     {frames_seconds:6.2f} s = "
            f"{frames_seconds / floor:.1f}× COPY (timestamps as integers)"
        )

        started = time.perf_counter()
        cold = episodes_evaluate(episode_ids=episodes_to_evaluate())
        cold_seconds = time.perf_counter() - started
        print(
            f"sweep, cold:   {cold_seconds:6.2f} s  = {cold_seconds / floor:.1f}× COPY "
            "(goal ≤ 10×; "
            f"{cold.alerts_created:,} alerts created, {cold.statuses_changed:,} statuses written)"
        )
        started = time.perf_counter()
        steady = episodes_evaluate(episode_ids=episodes_to_evaluate())
        steady_seconds = time.perf_counter() - started
        print(
            f"sweep, steady (incremental, nothing new): {steady_seconds:6.3f} s = "
            f"{steady_seconds / floor:.2f}× COPY (goal ≤ 0.5 s; {steady.episodes} episodes read)"
        )
        started = time.perf_counter()
        full = episodes_evaluate(episode_ids=episodes_to_evaluate(full=True))
        full_seconds = time.perf_counter() - started
        print(
            f"sweep, full re-evaluation:    {full_seconds:6.2f} s = "
            f"{full_seconds / floor:.1f}× COPY "
            f"(goal ≤ 3×; {full.alerts_created} alerts created)"
        )
        floor_after = copy_rows(episode_ids)
        if floor_after < floor:
            print(
                f"floor again after the sweeps: {floor_after:.2f} s (was {floor:.2f} s): "
                f"cold {cold_seconds / floor_after:.1f}×, full {full_seconds / floor_after:.1f}× "
                "this floor"
            )
        else:
            print(f"floor again after the sweeps: {floor_after:.2f} s (the first stands)")

        sample = random.Random(3).sample(episode_ids, min(options.sample, len(episode_ids)))
        naive_seconds = naive_loop(sample)
        scaled = naive_seconds * len(episode_ids) / len(sample)
        print(
            f"naive loop:    {naive_seconds:6.1f} s for {len(sample):,} episodes, "
            # Compared with the full re-evaluation: the sweep that reads all, as the loop does.
            f"{scaled:,.0f} s scaled to {len(episode_ids):,}: the full sweep is "
            f"{scaled / full_seconds:.0f}× faster, the cold one {scaled / cold_seconds:.0f}× "
            "(target ≥ 50×)"
        )
        assert Alert.objects.count() == cold.alerts_created, (
            "the naive loop found what the sweep missed"
        )
        figures.update(
            rows_read=rows,
            floor_before=floor,
            floor_after=floor_after,
            read_orm=read_seconds,
            read_frames=frames_seconds,
            cold=cold_seconds,
            cold_alerts_created=cold.alerts_created,
            steady=steady_seconds,
            steady_episodes_read=steady.episodes,
            full=full_seconds,
            naive_sample=len(sample),
            naive_seconds=naive_seconds,
            naive_scaled=scaled,
        )

    timings = submissions(episode_ids, options.submissions)
    quantiles = statistics.quantiles(timings, n=20)
    print(
        f"per submission: p50 {statistics.median(timings) * 1000:.0f} ms, "
        f"p95 {quantiles[18] * 1000:.0f} ms over {len(timings)} submissions "
        f"(target p95 < 200 ms)"
    )
    print(json.dumps({"cores": os.cpu_count(), "load_average": os.getloadavg()}))
    if options.json:
        figures.update(submissions=timings, load_average=os.getloadavg())
        with open(options.json, "w") as handle:
            json.dump(figures, handle)


if __name__ == "__main__":
    main()
