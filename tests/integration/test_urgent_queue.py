"""An urgent alert's mail goes out while hundreds of check-in mails are still waiting (issue 13).

Real Celery workers, started as ``manage.py demo`` starts them, on the demo's filesystem broker
(in a folder of the test's own) and the test database: 500 check-in mails are queued, then a
risk answer's alert; its mail must be sent long before the check-in backlog drains.
"""

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.db import connection
from kombu.transport import TRANSPORT_ALIASES

from config.celery_app import app as celery_app
from demo.management.commands.demo import celery_processes
from messaging.models import OutboundEmail
from messaging.services import mail_queue
from outcomes.models import AlertRule, AlertSeverity
from outcomes.services import alert_raise
from tests.factories import make_client, make_clinic, make_episode, make_staff

ROOT = Path(__file__).resolve().parents[2]
BACKLOG = 500


@pytest.fixture
def private_filesystem_broker(tmp_path, monkeypatch):
    """This process and the workers it starts share a broker folder under ``tmp_path``."""
    monkeypatch.setitem(TRANSPORT_ALIASES, "filesystem", "config.broker_filesystem:Transport")
    broker = tmp_path / "broker"
    for sub in ("queue", "processed", "control"):
        (broker / sub).mkdir(parents=True)
    # Saved before the environment variable changes: Celery reads that first (CI exports it).
    saved = {key: celery_app.conf[key] for key in ("broker_url", "broker_transport_options")}
    monkeypatch.setenv("CELERY_BROKER_URL", "filesystem://")
    celery_app.conf.update(
        broker_url="filesystem://",
        broker_transport_options={
            "data_folder_in": str(broker / "queue"),
            "data_folder_out": str(broker / "queue"),
            "processed_folder": str(broker / "processed"),
            "store_processed": False,
            "control_folder": str(broker / "control"),
        },
    )
    celery_app._pool = celery_app.amqp._producer_pool = None
    celery_app.set_current()  # shared tasks go through the current app: make sure it is ours
    yield broker
    monkeypatch.undo()
    celery_app.conf.update(saved)
    celery_app._pool = celery_app.amqp._producer_pool = None


def _start_workers(broker: Path) -> list[subprocess.Popen]:
    database = connection.settings_dict
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.urgent_worker_settings",
        "DATABASE_URL": (
            f"postgres://{database['USER']}:{database['PASSWORD'] or ''}@{database['HOST']}:"
            f"{database['PORT'] or 5432}/{database['NAME']}"
        ),
        "CELERY_BROKER_URL": "filesystem://",
        "URGENT_TEST_BROKER_DIR": str(broker),
        "MFA_REQUIRED": "0",
    }
    workers = celery_processes(sys.executable)
    return [
        subprocess.Popen(
            [*workers[name], "-l", "WARNING", "--without-gossip", "--without-mingle"],
            cwd=ROOT,
            env=env,
            start_new_session=True,
            stdout=(broker.parent / f"{name}.log").open("w"),
            stderr=subprocess.STDOUT,
        )
        for name in ("worker", "urgent")
    ]


def _stop(workers) -> None:
    for worker in workers:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(worker.pid, signal.SIGKILL)  # the backlog is not this test's to finish
        worker.wait(timeout=10)


def _wait_for(condition, timeout: float, what: str) -> float:
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if condition():
            return time.monotonic() - started
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def _sent(purpose: str) -> int:
    return OutboundEmail.objects.filter(purpose=purpose, status="sent").count()


@pytest.mark.slow
@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_urgent_alert_mail_is_sent_before_a_backlog_of_500_check_in_mails(
    private_filesystem_broker,
):
    clinic = make_clinic()
    therapist = make_staff(clinic)
    therapist.email = "therapist@clinic.example.org"
    therapist.save()
    episode = make_episode(make_client(clinic), therapist)
    for number in range(BACKLOG):  # each queues its send task as it commits
        mail_queue(
            to=f"client{number}@example.org",
            subject="Your weekly check-in",
            body_text="-",
            purpose="checkin",
        )

    workers = _start_workers(private_filesystem_broker)
    try:
        _wait_for(lambda: _sent("checkin") > 0, 60, "the workers to start on the backlog")
        alert_raise(
            episode=episode,
            rule=AlertRule.RISK_ITEM,
            trigger="urgent-queue-test",
            severity=AlertSeverity.URGENT,
            message="Risk item answered.",
        )
        waited = _wait_for(lambda: _sent("alert") == 1, 20, "the urgent alert's mail")
        checkins_sent = _sent("checkin")
    finally:
        _stop(workers)
    print(f"\nurgent mail sent {waited:.2f} s after the alert; {checkins_sent}/{BACKLOG} sent")
    # The backlog takes about 40 s here (0.15 s a mail, two processes); the urgent mail 1 s or less.
    assert waited < 8
    assert checkins_sent < BACKLOG * 0.8
