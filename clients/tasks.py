"""Celery interface to the check-in services: thin, ids only, everything else from the rows."""

from celery import shared_task

from clients import checkins


@shared_task(ignore_result=True)
def sweep_checkins() -> dict[str, int]:
    """Every five minutes (beat): expire, create, send, remind. Running it twice, or two at once,
    does each step once (the rows are claimed first), so no countdown or ETA is ever needed."""
    return checkins.checkins_sweep()
