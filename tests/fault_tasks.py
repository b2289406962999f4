"""A task for the worker-kill fault test only (loaded with ``celery worker --include``).

It does what the real alert tasks do, slowly: counts its runs in Redis, sleeps long enough to be
killed, then raises an alert through the idempotent ``alert_raise``.
"""

import os
import time

import redis
from celery import shared_task

from clients.models import Episode
from outcomes.models import AlertRule, AlertSeverity
from outcomes.services import alert_raise


@shared_task(ignore_result=True)
def slow_alert(episode_id: int, runs_key: str, sleep_seconds: float) -> None:
    redis.Redis.from_url(os.environ["FAULT_REDIS_URL"]).incr(runs_key)
    time.sleep(sleep_seconds)
    alert_raise(
        episode=Episode.objects.select_related("clinic", "client").get(pk=episode_id),
        rule=AlertRule.CONTACT_REQUEST,
        trigger=f"fault-test:{runs_key}",
        severity=AlertSeverity.HIGH,
        message="Fault test: raised once however often the task runs.",
    )
