"""Nothing lost, nothing doubled, when a part of the system fails.

Each test breaks one thing for real where that is cheap (a closed port for the broker and for
SMTP, a killed worker process, a killed database session) and shows that the data a user gave
is kept and that the work is finished once, when the part is back.
"""

import contextlib
import os
import signal
import smtplib
import subprocess
import sys
import threading
import time
import uuid
from datetime import timedelta
from pathlib import Path

import pytest
import redis
import time_machine
from aiosmtpd.controller import Controller
from celery import Celery
from django.core.mail import get_connection
from django.db import OperationalError, connection
from django.utils import timezone

from checkins.services import checkin_submit
from clients.checkins import checkins_sweep
from clients.models import CheckIn, Episode
from config.celery_app import app as celery_app
from messaging.models import OutboundEmail
from messaging.services import BASE_BACKOFF_SECONDS, MAX_ATTEMPTS, MAX_BACKOFF, mail_queue
from messaging.tasks import sweep_outbox
from outcomes import evaluation
from outcomes.models import (
    Administration,
    Alert,
    AlertAction,
    AlertNotification,
    AlertRule,
    AlertSeverity,
)
from outcomes.services import administration_record, alert_raise, alert_resolve
from outcomes.tasks import retry_pending_notifications, send_alert_notifications, sweep_unevaluated
from tests.checkin_support import GAD7_CALM, start_plan
from tests.conftest import redis_url
from tests.factories import make_client, make_clinic, make_episode, make_staff
from tests.integration.conftest import closed_port
from tests.integration.evaluation_support import phq9, phq9_course

ROOT = Path(__file__).resolve().parents[2]


# --- Broker down during a submission ----------------------------------------------------------


def test_with_the_broker_down_a_submission_is_kept_and_evaluated_by_the_next_sweep(
    cast, broker_down, django_capture_on_commit_callbacks, caplog, settings
):
    started = time.monotonic()
    with django_capture_on_commit_callbacks(execute=True):
        baseline = administration_record(
            episode=cast.episode,
            instrument_code="phq9",
            answers=phq9(5),
            source="paper",
            administered_at=timezone.now() - timedelta(weeks=1),
        )
        risky = administration_record(
            episode=cast.episode,
            instrument_code="phq9",
            answers=phq9(12, item9=2),
            source="paper",
        )
    assert time.monotonic() - started < 10  # the client is not kept waiting on the broker

    stored = Administration.objects.filter(episode=cast.episode)
    assert set(stored.values_list("pk", flat=True)) == {
        baseline.administration.pk,
        risky.administration.pk,
    }
    assert "could not queue outcomes.tasks.evaluate_episode (OperationalError)" in caplog.text
    # The risk alert does not wait for the broker: it is raised in the submission's transaction.
    assert Alert.objects.get(episode=cast.episode, rule=AlertRule.RISK_ITEM)
    cast.episode.refresh_from_db()
    assert cast.episode.rules_pending_since is not None  # both forms wait for an evaluation

    # The broker is back; the five-minute sweep finds what no task reached.
    celery_app.conf.task_always_eager = True
    try:
        with time_machine.travel(timezone.now() + sweep_grace(), tick=False):
            assert sweep_unevaluated() == 1
    finally:
        celery_app.conf.task_always_eager = False
    cast.episode.refresh_from_db()
    assert cast.episode.rules_pending_since is None


def sweep_grace() -> timedelta:
    from outcomes.tasks import UNEVALUATED_GRACE

    return UNEVALUATED_GRACE + timedelta(seconds=1)


# --- SMTP down, then back ---------------------------------------------------------------------


class _Inbox:
    def __init__(self):
        self.messages = []

    async def handle_DATA(self, server, session, envelope):
        self.messages.append(envelope)
        return "250 OK"


def test_mail_queued_while_smtp_is_down_is_sent_once_when_it_returns(db, settings):
    port = closed_port()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = "127.0.0.1", port, 2
    settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
    with time_machine.travel(timezone.now(), tick=False) as clock:
        mail = mail_queue(to="t@example.org", subject="New alert", body_text="-", purpose="alert")
        sweep_outbox()  # SMTP refuses the connection
        mail.refresh_from_db()
        assert (mail.status, mail.attempts) == ("queued", 1)
        assert "ConnectionRefusedError" in mail.last_error
        assert mail.next_attempt_at == timezone.now() + timedelta(seconds=BASE_BACKOFF_SECONDS)

        inbox = _Inbox()
        server = Controller(inbox, hostname="127.0.0.1", port=port)
        server.start()
        try:
            sweep_outbox()  # back, but the backoff has not passed: nothing is sent yet
            assert inbox.messages == []
            clock.shift(timedelta(seconds=BASE_BACKOFF_SECONDS))
            sweep_outbox()
            sweep_outbox()  # a second sweep (or a re-delivered task) sends nothing more
        finally:
            server.stop()
    mail.refresh_from_db()
    assert (mail.status, mail.attempts, mail.last_error) == ("sent", 2, "")
    assert len(inbox.messages) == 1 and inbox.messages[0].rcpt_tos == ["t@example.org"]


def smtp_down(settings) -> int:
    """Point Django's SMTP backend at a closed loopback port; returns the port."""
    port = closed_port()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = "127.0.0.1", port, 2
    settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
    return port


def urgent_alert_mailed(cast):
    """An urgent alert for the therapist (who has an address), handed to the outbox at once."""
    cast.therapist.email = "therapist@clinic.example.org"
    cast.therapist.save()
    alert, _ = alert_raise(
        episode=cast.episode,
        rule=AlertRule.RISK_ITEM,
        trigger="adm:1",
        severity=AlertSeverity.URGENT,
        message="PHQ-9 item 9 answered 2",
    )
    notification = alert.notifications.get(channel="email")
    assert send_alert_notifications([notification.pk]) == 1
    return alert, notification


def beat_minute(minute: int) -> None:
    """What beat runs at this minute for the outbox and the notifications (config/settings.py)."""
    sweep_outbox()
    if minute % 5 == 0:
        retry_pending_notifications()


def test_an_urgent_alert_mail_survives_two_hours_of_smtp_outage_and_is_sent_once(
    cast, settings, client
):
    port = smtp_down(settings)
    with time_machine.travel(timezone.now(), tick=False) as clock:
        alert, notification = urgent_alert_mailed(cast)
        health = []
        for minute in range(120):
            beat_minute(minute)
            health.append(client.get("/healthz").json())
            clock.shift(timedelta(minutes=1))
        mail = OutboundEmail.objects.get(purpose="alert")
        notification.refresh_from_db()
        # Tried all along (not "failed" after six attempts) and never more than 15 minutes apart.
        assert (mail.status, notification.status) == ("queued", "queued")
        assert mail.attempts > MAX_ATTEMPTS
        assert mail.next_attempt_at - timezone.now() <= MAX_BACKOFF
        # The first quarter hour is within the delay an alert mail may have; after it, /healthz
        # says so for the whole outage.
        assert {body["status"] for body in health[:15]} == {"ok"}
        assert {body["status"] for body in health[16:]} == {"degraded"}
        assert {body["background"]["alert_emails"] for body in health[16:]} == {"behind"}
        assert {body["background"]["outbox"] for body in health} == {"ok"}

        inbox = _Inbox()
        server = Controller(inbox, hostname="127.0.0.1", port=port)
        server.start()
        try:
            for minute in range(120, 136):  # at most one capped backoff until the next attempt
                beat_minute(minute)
                clock.shift(timedelta(minutes=1))
        finally:
            server.stop()
        body = client.get("/healthz").json()
    assert len(inbox.messages) == 1
    assert inbox.messages[0].rcpt_tos == ["therapist@clinic.example.org"]
    mail.refresh_from_db()
    notification.refresh_from_db()
    assert (mail.status, mail.last_error) == ("sent", "")
    assert (notification.status, notification.sent_at) == ("sent", mail.sent_at)
    assert body["status"] == "ok" and body["background"]["alert_emails"] == "ok"
    assert alert.notifications.filter(channel="email").count() == 1


def test_the_mail_of_an_alert_resolved_during_an_outage_is_given_up_and_says_why(
    cast, settings, client
):
    smtp_down(settings)
    with time_machine.travel(timezone.now(), tick=False) as clock:
        alert, notification = urgent_alert_mailed(cast)
        for minute in range(40):
            beat_minute(minute)
            clock.shift(timedelta(minutes=1))
        assert client.get("/healthz").json()["status"] == "degraded"
        alert_resolve(alert=alert, user=cast.therapist, action=AlertAction.CONTACTED_CLIENT)
        sweep_outbox()
        body = client.get("/healthz").json()
    mail = OutboundEmail.objects.get(purpose="alert")
    notification.refresh_from_db()
    assert mail.status == notification.status == "failed"
    assert "alert was resolved" in mail.last_error == notification.last_error
    assert body["status"] == "ok"


def test_the_smtp_backend_really_refuses_on_a_closed_port(settings):
    # Guards the test above: a closed port must fail fast, not hang for EMAIL_TIMEOUT.
    backend = get_connection(
        "django.core.mail.backends.smtp.EmailBackend",
        host="127.0.0.1",
        port=closed_port(),
        timeout=2,
    )
    with pytest.raises((ConnectionRefusedError, smtplib.SMTPException)):
        backend.open()


# --- Database connection lost during the sweep ------------------------------------------------


def deteriorating_episodes(cast, count: int):
    episodes = []
    for _ in range(count):
        episode = make_episode(make_client(cast.clinic), cast.therapist, weeks_ago=8)
        phq9_course(episode, [6, 7, 19, 20])
        episodes.append(episode)
    return episodes


def test_a_sweep_cut_off_by_a_lost_database_finishes_on_the_next_run_without_duplicates(
    cast, monkeypatch
):
    episodes = deteriorating_episodes(cast, 4)
    ids = [episode.pk for episode in episodes]
    monkeypatch.setattr(evaluation, "CHUNK_SIZE", 2)
    real_chunk = evaluation._chunk_evaluate
    calls = []

    def dies_on_the_second_chunk(episode_ids, **options):
        calls.append(episode_ids)
        if len(calls) == 2:
            raise OperationalError("server closed the connection unexpectedly")
        return real_chunk(episode_ids, **options)

    monkeypatch.setattr(evaluation, "_chunk_evaluate", dies_on_the_second_chunk)
    with pytest.raises(OperationalError):
        evaluation.episodes_evaluate(episode_ids=ids)
    first_chunk_alerts = set(Alert.objects.values_list("episode_id", "rule", "trigger"))
    assert {episode_id for episode_id, _, _ in first_chunk_alerts} == set(ids[:2])

    monkeypatch.setattr(evaluation, "_chunk_evaluate", real_chunk)
    evaluation.episodes_evaluate(episode_ids=ids)  # the next run (hourly sweep or a retry)
    evaluation.episodes_evaluate(episode_ids=ids)  # and one more, for good measure

    alerts = list(Alert.objects.values_list("episode_id", "rule", "trigger"))
    assert len(alerts) == len(set(alerts))
    assert {episode_id for episode_id, _, _ in alerts} == set(ids)
    assert first_chunk_alerts <= set(alerts)
    per_alert = AlertNotification.objects.values_list("alert_id", "recipient_id", "channel", "kind")
    assert len(list(per_alert)) == len(set(per_alert))
    assert not Episode.objects.filter(rules_pending_since__isnull=False).exists()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_sweep_whose_database_session_is_killed_completes_on_the_next_run(settings):
    clinic = make_clinic()
    therapist = make_staff(clinic)
    episodes = []
    for _ in range(4):
        episode = make_episode(make_client(clinic), therapist, weeks_ago=8)
        phq9_course(episode, [6, 7, 19, 20])
        episodes.append(episode)
    ids = [episode.pk for episode in episodes]
    real_chunk = evaluation._chunk_evaluate
    calls = []

    def session_killed_before_the_second_chunk(episode_ids, **options):
        calls.append(episode_ids)
        if len(calls) == 2:
            # What a database restart does to a live session: the server ends it.
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_terminate_backend(pg_backend_pid())")
        return real_chunk(episode_ids, **options)

    evaluation.CHUNK_SIZE, chunk_size = 2, evaluation.CHUNK_SIZE
    evaluation._chunk_evaluate = session_killed_before_the_second_chunk
    try:
        with pytest.raises(OperationalError):
            evaluation.episodes_evaluate(episode_ids=ids)
        connection.close()  # what Celery's Django fixup does before the next task
        evaluation._chunk_evaluate = real_chunk
        evaluation.episodes_evaluate(episode_ids=ids)
        evaluation.episodes_evaluate(episode_ids=ids)
    finally:
        evaluation.CHUNK_SIZE, evaluation._chunk_evaluate = chunk_size, real_chunk
    alerts = list(Alert.objects.values_list("episode_id", "rule", "trigger"))
    assert len(alerts) == len(set(alerts)) and {a[0] for a in alerts} == set(ids)


# --- The same check-in submitted twice at once ------------------------------------------------


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_risky_check_in_submitted_three_times_at_once_raises_one_alert_told_once(settings):
    clinic = make_clinic()
    therapist = make_staff(clinic)
    therapist.email = "therapist@example.org"
    therapist.save()
    episode = make_episode(make_client(clinic), therapist)
    start_plan(episode)
    checkins_sweep()
    checkin = CheckIn.objects.get(episode=episode)
    barrier = threading.Barrier(3)
    outcomes, errors = [], []

    def submit():
        try:
            barrier.wait(timeout=10)
            outcomes.append(
                checkin_submit(
                    checkin_id=checkin.pk, answers={"phq9": phq9(14, item9=2), "gad7": GAD7_CALM}
                )
            )
        except Exception as error:  # surfaced by the assertion below
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=submit) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert errors == []
    assert sorted(outcome.stored for outcome in outcomes) == [False, False, True]
    assert Administration.objects.filter(checkin=checkin, instrument="phq9").count() == 1
    assert Alert.objects.filter(episode=episode, rule=AlertRule.RISK_ITEM).count() == 1
    # One notification per channel: the therapist is told once, not three times.
    notifications = AlertNotification.objects.filter(alert__episode=episode)
    assert sorted(notifications.values_list("channel", flat=True)) == ["email", "in_app"]


# --- A worker killed in the middle of a task --------------------------------------------------


def _start_worker(env) -> subprocess.Popen:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "config",
            "worker",
            "--include",
            "tests.fault_tasks",
            "--pool",
            "prefork",
            "--concurrency",
            "1",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
            "-l",
            "WARNING",
        ],
        cwd=ROOT,
        env=env,
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def _kill_hard(worker: subprocess.Popen) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(worker.pid, signal.SIGKILL)  # the main process and its pool child, no goodbye
    worker.wait(timeout=10)


def _wait_for(condition, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.mark.slow
@pytest.mark.redis
@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_task_whose_worker_is_killed_runs_again_and_raises_one_alert(settings, monkeypatch):
    broker = os.environ.get("REDIS_URL") or redis_url()
    # Celery prefers the CELERY_BROKER_URL environment variable (CI exports it) to the broker
    # given in code: point it at the tests' own Redis database for the sender too.
    monkeypatch.setenv("CELERY_BROKER_URL", broker)
    episode = make_episode(make_client(make_clinic()), make_staff(make_clinic()))
    database = connection.settings_dict
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.fault_worker_settings",
        "DATABASE_URL": (
            f"postgres://{database['USER']}:{database['PASSWORD'] or ''}@{database['HOST']}:"
            f"{database['PORT'] or 5432}/{database['NAME']}"
        ),
        "CELERY_BROKER_URL": broker,
        "FAULT_REDIS_URL": broker,
        "MFA_REQUIRED": "0",
    }
    runs_key = f"fault-test-runs:{uuid.uuid4().hex}"
    store = redis.Redis.from_url(broker)
    # REDIS_URL's database belongs to the tests: empty it, or a message a killed worker left
    # unacknowledged in an earlier run would come back in this one.
    store.flushdb()
    # Not the current app: shared tasks sent later in this process (other tests) would go to it.
    sender = Celery(broker=broker, set_as_current=False)
    sender.send_task("tests.fault_tasks.slow_alert", args=[episode.pk, runs_key, 3.0])

    worker = _start_worker(env)
    try:
        _wait_for(lambda: store.get(runs_key) == b"1", 60, "the task to start")
        _kill_hard(worker)
        assert not Alert.objects.filter(episode=episode).exists()  # it died mid-task
        worker = _start_worker(env)
        # acks_late: the message was never acknowledged, so Redis hands it out again once the
        # visibility timeout passes; the restarted worker runs it to the end.
        _wait_for(lambda: Alert.objects.filter(episode=episode).exists(), 90, "the re-run")
    finally:
        _kill_hard(worker)
        sender.close()
    assert int(store.get(runs_key)) == 2
    assert Alert.objects.filter(episode=episode).count() == 1
