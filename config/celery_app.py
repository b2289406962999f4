"""Celery application: every background job (scheduling, email, alert computation) runs here."""

import logging
import os

from celery import Celery
from celery.signals import beat_init

logger = logging.getLogger(__name__)

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("outcome_tracker")
# All Celery settings live in Django settings with the CELERY_ prefix (cookiecutter-django style).
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

# Sweeps that beat runs this often or more are also run once when beat starts.
SWEEP_AT_START_UP_TO_SECONDS = 300.0


def sweeps_to_run_at_start(schedule: dict) -> list[str]:
    """The frequent interval sweeps (check-ins, unevaluated forms, escalation, outbox).

    django-celery-beat dates a new entry's last run "now", so a sweep first runs one interval
    after beat starts: a fresh demo or a restarted beat would leave due check-in mails and
    overdue escalations waiting five minutes. The sweeps claim their rows, so an extra run is
    harmless; the hourly and nightly jobs keep their own times.
    """
    return [
        entry["task"]
        for entry in schedule.values()
        if isinstance(entry["schedule"], int | float)
        and entry["schedule"] <= SWEEP_AT_START_UP_TO_SECONDS
    ]


@beat_init.connect
def _sweep_at_start(sender=None, **kwargs) -> None:
    for task_name in sweeps_to_run_at_start(app.conf.beat_schedule):
        try:
            app.send_task(task_name)
        except Exception as error:  # a broker still starting: the schedule runs it soon enough
            logger.warning("could not queue %s at start (%s)", task_name, type(error).__name__)
