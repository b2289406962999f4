"""Load benchmark (issue 9, issue 18): clients submitting check-in forms to gunicorn, with a real
Celery worker evaluating them, on loopback only.

    PYTHONPATH=. .venv/bin/python bench/bench_load.py [--clients 50] [--seconds 60]
        [--health-seconds 30] [--workers 4] [--worker-concurrency 2] [--drain-seconds 900]

gunicorn (``config.wsgi``, sync workers) + PostgreSQL + Redis + a Celery worker
(``-Q urgent,celery``, prefork, ``--worker-concurrency`` processes), as in production. The script
creates its own database ``outcomes_bench_load`` (dropped and made again each run), migrates it,
and creates up front one clinic, 50 clients with an episode each and enough open check-ins with
known keys (only their hashes are stored, as the app does). Then ``--clients`` threads, each with
its own keep-alive connection, POST real check-in forms (PHQ-9 + GAD-7, the form the client's
phone sends) for ``--seconds``, each to a fresh link. Redis database 13 is the broker (emptied
before and after). Set ``BENCH_LOAD_DATABASE_URL`` / ``BENCH_LOAD_BROKER_URL`` to use a database
and broker of your own.

It prints throughput, p50/p99 latency, and the submissions acknowledged (a redirect to the thank-
you page) against the check-ins completed and the responses stored: they must be equal (nothing
lost, nothing doubled). The worker runs alongside on the same cores, as the submissions queue one
``evaluate_episode`` task each: the report gives the evaluation backlog when the load stops (tasks
waiting on the broker, stored forms not yet evaluated), what the worker got through meanwhile and
its CPU time per evaluation, then how long it takes to drain once the load is gone (every stored
form evaluated). Then the same load against ``/healthz`` (a database and a broker ping, no writes)
for ``--health-seconds``, with the worker idle: the ceiling of what this machine serves, for the
ratio. ``--worker-concurrency 0`` runs no worker (the backlog is then only counted).
"""

from __future__ import annotations

import argparse
import http.client
import os
import secrets
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlencode, urlparse

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

# Overridable, so that two people on one machine do not drop each other's database or broker.
DATABASE_URL = os.environ.get(
    "BENCH_LOAD_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/outcomes_bench_load"
)
BROKER_URL = os.environ.get("BENCH_LOAD_BROKER_URL", "redis://127.0.0.1:6379/13")
SLUG = "bench-load"
# PHQ-9 (9 scored items + the unscored difficulty item) and GAD-7: mild, no risk answer.
PHQ9 = [1, 1, 0, 1, 0, 1, 0, 1, 0, 1]
GAD7 = [1, 0, 1, 0, 1, 0, 1]

ENV = {
    **os.environ,
    "DATABASE_URL": DATABASE_URL,
    "CELERY_BROKER_URL": BROKER_URL,
    "DJANGO_SETTINGS_MODULE": "config.settings",
    "VAR_DIR": str(ROOT / "var" / "bench_load"),
    # Every simulated client comes from 127.0.0.1: the per-address limit of the links would
    # otherwise (rightly) stop the bench after 60 forms.
    "CHECKIN_RATE_LIMIT_REQUESTS": "100000000",
    "LOG_LEVEL": "WARNING",
}
os.environ.update({k: v for k, v in ENV.items() if k != "DJANGO_SETTINGS_MODULE"})
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")


def database_recreate() -> None:
    import psycopg

    name = urlparse(DATABASE_URL).path.lstrip("/")
    with psycopg.connect("postgresql://postgres@127.0.0.1:5432/postgres", autocommit=True) as db:
        db.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        db.execute(f'CREATE DATABASE "{name}"')


def broker_empty() -> None:
    import redis

    redis.Redis.from_url(BROKER_URL).flushdb()


def seed(checkins_needed: int) -> list[str]:
    """The clinic, 50 clients and ``checkins_needed`` open check-ins; returns their keys."""
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.utils import timezone

    from clients.checkins import key_hash
    from clients.models import CheckIn, CheckInKind, Client, Clinic, Episode, Membership

    clinic = Clinic.objects.create(name="Bench Clinic", slug=SLUG)
    therapist = get_user_model().objects.create_user(username="bench", password="unused-Pass-1")
    Membership.objects.create(user=therapist, clinic=clinic)
    episodes = []
    for number in range(50):
        client = Client.objects.create(
            clinic=clinic, label=f"B-{number:03d}", email=f"b{number}@example.org"
        )
        episodes.append(Episode.objects.create(client=client, clinic=clinic, therapist=therapist))
    now = timezone.now()
    keys, rows = [], []
    for index in range(checkins_needed):
        key = secrets.token_urlsafe(24)
        keys.append(key)
        rows.append(
            CheckIn(
                episode=episodes[index % 50],
                kind=CheckInKind.ONE_OFF,
                due_at=now - timedelta(minutes=index),  # unique per episode, already due
                instruments=["phq9", "gad7"],
                key_hash=key_hash(key),
                sent_at=now,
                expires_at=now + timedelta(days=4),
            )
        )
    CheckIn.objects.bulk_create(rows, batch_size=2000)
    return keys


def stored_counts(keys_used: int) -> dict:
    from clients.models import CheckIn, CheckInStatus
    from outcomes.models import Administration

    bench = CheckIn.objects.filter(episode__clinic__slug=SLUG)
    return {
        "checkins_completed": bench.filter(status=CheckInStatus.COMPLETED).count(),
        "responses": Administration.objects.filter(checkin__in=bench).count(),
        "keys_handed_out": keys_used,
    }


QUEUES = ("urgent", "celery")


def evaluation_backlog() -> dict:
    """What the worker still has to do: the ``evaluate_episode`` tasks waiting on the broker (one
    per submitted check-in), those a worker has taken and not finished (with late acknowledgement
    they wait in kombu's ``unacked`` hash), and the episodes with a stored form no evaluation has
    reached yet."""
    import json

    import redis

    from clients.models import Episode

    broker = redis.Redis.from_url(BROKER_URL)
    queued = 0
    for key in broker.scan_iter():
        if broker.type(key) != b"list":
            continue
        for message in broker.lrange(key, 0, -1):
            try:
                task = json.loads(message)["headers"].get("task")
            except (ValueError, KeyError, TypeError, AttributeError):
                continue
            queued += task == "outcomes.tasks.evaluate_episode"
    # Episodes with a stored form no evaluation has read yet (their mark is set).
    unevaluated = Episode.objects.filter(
        clinic__slug=SLUG, rules_pending_since__isnull=False
    ).count()
    return {
        "tasks_queued": queued,
        "tasks_taken": broker.hlen("unacked"),
        "episodes_unevaluated": unevaluated,
    }


def broker_depth(broker) -> int:
    """Messages waiting on the worker's queues and taken but not acknowledged: two cheap calls,
    for sampling while the load runs (kombu keeps a queue's priorities in lists named after it)."""
    waiting = sum(
        broker.llen(key)
        for name in QUEUES
        for key in broker.scan_iter(match=f"{name}*")
        if broker.type(key) == b"list"
    )
    return waiting + broker.hlen("unacked")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process and every live descendant (the worker's prefork
    children), from /proc."""
    ticks = os.sysconf("SC_CLK_TCK")
    parents, times = {}, {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        parents[int(entry.name)] = int(fields[1])
        times[int(entry.name)] = (int(fields[11]) + int(fields[12])) / ticks
    tree, total = {pid}, 0.0
    for process in sorted(parents):  # children have larger pids, but check ancestry anyway
        ancestor = process
        while ancestor not in tree and ancestor in parents and ancestor > 1:
            ancestor = parents[ancestor]
        if ancestor in tree:
            tree.add(process)
            total += times[process]
    return total


def worker_start(concurrency: int) -> subprocess.Popen:
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "config",
            "--quiet",  # no banner: its errors still go to stderr
            "worker",
            "-Q",
            ",".join(QUEUES),
            "--concurrency",
            str(concurrency),
            "--pool",
            "prefork",
            "-n",
            f"bench-load-{os.getpid()}@%h",
            "--without-gossip",
            "--without-mingle",
            "-l",
            "WARNING",
        ],
        cwd=ROOT,
        env=ENV,
        start_new_session=True,
    )
    from config.celery_app import app

    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"the Celery worker exited with {process.returncode}")
        if app.control.ping(timeout=1.0):
            return process
    os.killpg(process.pid, signal.SIGTERM)
    raise SystemExit("the Celery worker did not answer a ping within 90 s")


def process_stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=30)


class DepthSampler(threading.Thread):
    """The broker's depth once a second while the load runs."""

    def __init__(self):
        super().__init__(daemon=True)
        import redis

        self.broker = redis.Redis.from_url(BROKER_URL)
        self.samples: list[int] = []
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.wait(1.0):
            self.samples.append(broker_depth(self.broker))


def drain(worker: subprocess.Popen, timeout: float) -> dict:
    """Wait, with no load, until the broker is empty and every stored form is evaluated."""
    import redis

    broker = redis.Redis.from_url(BROKER_URL)
    started, cpu_before = time.monotonic(), cpu_seconds(worker.pid)
    while time.monotonic() - started < timeout:
        if broker_depth(broker) == 0 and evaluation_backlog()["episodes_unevaluated"] == 0:
            break
        time.sleep(0.5)
    else:
        return {"drained": False, "seconds": time.monotonic() - started}
    return {
        "drained": True,
        "seconds": time.monotonic() - started,
        "cpu": cpu_seconds(worker.pid) - cpu_before,
    }


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def gunicorn_start(port: int, workers: int) -> subprocess.Popen:
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "config.wsgi",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            str(workers),
            "--log-level",
            "warning",
            "--timeout",
            "60",
            "--keep-alive",
            "75",
        ],
        cwd=ROOT,
        env=ENV,
        start_new_session=True,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            connection.request("GET", "/healthz")
            if connection.getresponse().status == 200:
                return process
        except OSError:
            time.sleep(0.3)
    process.kill()
    raise SystemExit("gunicorn did not answer /healthz within 60 s")


class Load:
    """``clients`` threads, each a keep-alive connection, for ``seconds``."""

    def __init__(self, port: int, clients: int, seconds: float, next_request):
        self.port, self.clients, self.seconds = port, clients, seconds
        self.next_request = next_request  # () -> (method, path, body) or None when out of work
        self.latencies: list[float] = []
        self.statuses: dict[int, int] = {}
        self.errors = 0
        self.lock = threading.Lock()

    def run(self) -> float:
        stop_at = time.monotonic() + self.seconds
        threads = [
            threading.Thread(target=self._client, args=(stop_at,)) for _ in range(self.clients)
        ]
        started = time.monotonic()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        return time.monotonic() - started

    def _client(self, stop_at: float) -> None:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        headers = {"Content-Type": "application/x-www-form-urlencoded"}
        while time.monotonic() < stop_at:
            work = self.next_request()
            if work is None:
                return
            method, path, body = work
            began = time.perf_counter()
            try:
                connection.request(method, path, body=body, headers=headers if body else {})
                response = connection.getresponse()
                response.read()
                status = response.status
            except (OSError, http.client.HTTPException):
                with self.lock:
                    self.errors += 1
                connection.close()
                connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
                continue
            elapsed = time.perf_counter() - began
            with self.lock:
                self.latencies.append(elapsed)
                self.statuses[status] = self.statuses.get(status, 0) + 1
        connection.close()

    def report(self, title: str, elapsed: float) -> float:
        done = len(self.latencies)
        ordered = sorted(self.latencies)
        rate = done / elapsed if elapsed else 0.0
        p50 = statistics.median(ordered) * 1000 if ordered else float("nan")
        p99 = ordered[min(done - 1, int(done * 0.99))] * 1000 if ordered else float("nan")
        print(
            f"{title}: {done} requests in {elapsed:.1f} s = {rate:.1f}/s, "
            f"p50 {p50:.0f} ms, p99 {p99:.0f} ms, statuses {dict(sorted(self.statuses.items()))}, "
            f"connection errors {self.errors}"
        )
        return rate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--health-seconds", type=float, default=30)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument(
        "--worker-concurrency",
        type=int,
        default=2,
        help="Celery worker processes evaluating alongside (0: no worker)",
    )
    parser.add_argument(
        "--drain-seconds", type=float, default=900, help="how long to wait for the backlog"
    )
    parser.add_argument("--checkins", type=int, default=30000, help="open links made up front")
    args = parser.parse_args()

    print(f"setting up: database {urlparse(DATABASE_URL).path.lstrip('/')}, broker {BROKER_URL}")
    database_recreate()
    broker_empty()
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--verbosity", "0"], cwd=ROOT, env=ENV, check=True
    )
    keys = seed(args.checkins)
    form = {f"phq9-{n}": v for n, v in enumerate(PHQ9, 1)} | {
        f"gad7-{n}": v for n, v in enumerate(GAD7, 1)
    }
    body = urlencode(form)
    port = free_port()
    server = gunicorn_start(port, args.workers)
    worker = worker_start(args.worker_concurrency) if args.worker_concurrency else None
    try:
        handed_out = 0
        hand_out = threading.Lock()

        def next_submission():
            nonlocal handed_out
            with hand_out:
                if handed_out >= len(keys):
                    return None
                key = keys[handed_out]
                handed_out += 1
            return "POST", f"/c/{key}/", body

        load = Load(port, args.clients, args.seconds, next_submission)
        print(
            f"{args.clients} clients submitting check-in forms for {args.seconds:.0f} s "
            f"(gunicorn, {args.workers} sync workers; "
            + (
                f"a Celery worker, {args.worker_concurrency} processes, evaluating alongside"
                if worker
                else "no Celery worker"
            )
            + ") ..."
        )
        sampler = DepthSampler()
        sampler.start()
        worker_cpu_before = cpu_seconds(worker.pid) if worker else 0.0
        elapsed = load.run()
        sampler.done.set()
        worker_cpu = (cpu_seconds(worker.pid) - worker_cpu_before) if worker else 0.0
        backlog = evaluation_backlog()
        form_rate = load.report("check-in forms", elapsed)
        acknowledged = load.statuses.get(302, 0)
        counts = stored_counts(handed_out)
        print(
            f"acknowledged {acknowledged}, check-ins completed {counts['checkins_completed']}, "
            f"responses stored {counts['responses']} (2 per check-in), links used {handed_out}"
        )
        # Exactly two forms (PHQ-9 and GAD-7) per completed check-in: // 2 would hide an odd one.
        equal = acknowledged == counts["checkins_completed"] and (
            counts["responses"] == 2 * counts["checkins_completed"]
        )
        print("nothing lost, nothing doubled" if equal else "MISMATCH: see the counts above")
        if handed_out >= len(keys):
            print("note: every prepared link was used; raise --checkins for a full-length run")

        waiting = backlog["tasks_queued"] + backlog["tasks_taken"]
        run = counts["checkins_completed"] - waiting  # one evaluate_episode task per check-in
        print(
            f"evaluation backlog when the load stopped: {backlog['tasks_queued']} evaluate_episode "
            f"tasks queued and {backlog['tasks_taken']} taken by the worker, of "
            f"{counts['checkins_completed']} queued during the load; "
            f"{backlog['episodes_unevaluated']} episodes with a stored form not yet evaluated; "
            f"broker depth max {max(sampler.samples, default=0)} "
            f"(sampled every second: {sampler.samples[:: max(1, len(sampler.samples) // 12)]})"
        )
        evaluation_rate = 0.0
        if worker:
            per_task = worker_cpu / run if run > 0 else float("nan")
            print(
                f"worker during the load: {run} tasks run ({run / elapsed:.1f}/s against "
                f"{counts['checkins_completed'] / elapsed:.1f} check-ins/s queued), "
                f"{worker_cpu:.1f} CPU-s ({per_task * 1000:.0f} ms per task, "
                f"{per_task * counts['checkins_completed'] / elapsed:.1f} core-seconds of "
                "evaluation queued per second of load)"
            )
            drained = drain(worker, args.drain_seconds)
            if drained["drained"]:
                evaluation_rate = waiting / drained["seconds"] if drained["seconds"] else 0.0
                print(
                    f"drained with no load in {drained['seconds']:.1f} s: {waiting} tasks "
                    f"({evaluation_rate:.1f}/s, {drained['cpu']:.1f} CPU-s, "
                    f"{drained['cpu'] / max(waiting, 1) * 1000:.0f} ms per task); every stored "
                    "form evaluated; seconds of work behind when the load stopped: "
                    f"{drained['seconds']:.1f}"
                )
            else:
                left = evaluation_backlog()
                print(
                    f"NOT DRAINED after {drained['seconds']:.0f} s: {left['tasks_queued']} tasks "
                    f"queued, {left['episodes_unevaluated']} episodes with forms not evaluated"
                )
                equal = False

        health = Load(port, args.clients, args.health_seconds, lambda: ("GET", "/healthz", None))
        print(f"{args.clients} clients on /healthz for {args.health_seconds:.0f} s ...")
        health_rate = health.report("/healthz", health.run())
        if health_rate:
            print(f"forms / healthz throughput: {form_rate / health_rate:.2f}")
        if not equal:
            raise SystemExit(1)
    finally:
        if worker is not None:
            process_stop(worker)
        process_stop(server)
        broker_empty()


if __name__ == "__main__":
    main()
