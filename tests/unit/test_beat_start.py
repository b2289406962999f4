"""Beat's frequent sweeps run when beat starts, not one interval (five minutes) later."""

from unittest import mock

from celery.signals import beat_init
from django.conf import settings

from config.celery_app import app, sweeps_to_run_at_start


def test_the_frequent_sweeps_are_the_ones_run_at_start():
    assert sorted(sweeps_to_run_at_start(settings.CELERY_BEAT_SCHEDULE)) == [
        "clients.tasks.sweep_checkins",
        "messaging.tasks.sweep_outbox",
        "outcomes.tasks.escalate_alerts",
        "outcomes.tasks.retry_pending_notifications",
        "outcomes.tasks.sweep_unevaluated",
    ]


def test_starting_beat_queues_each_frequent_sweep_once():
    with mock.patch.object(app, "send_task") as send_task:
        beat_init.send(sender=mock.Mock())
    queued = [call.args[0] for call in send_task.call_args_list]
    assert sorted(queued) == sorted(sweeps_to_run_at_start(app.conf.beat_schedule))
    assert "clients.tasks.sweep_checkins" in queued
    assert "outcomes.tasks.sweep_unevaluated" in queued


def test_a_broker_that_refuses_at_start_does_not_stop_beat(caplog):
    with mock.patch.object(app, "send_task", side_effect=OSError("connection refused")):
        beat_init.send(sender=mock.Mock())
    assert "could not queue clients.tasks.sweep_checkins at start (OSError)" in caplog.text
