"""Celery interface to the outcomes services: tasks take ids, call one service, own retries.

Every task here is idempotent (rows are claimed, alerts are unique per trigger), so late
acknowledgement and re-delivery are safe, and the beat tasks heal whatever a lost message missed.
"""

from datetime import timedelta

from celery import shared_task
from django.utils import timezone

from outcomes import curves, evaluation, notifications
from outcomes.models import Administration

# Unevaluated administrations younger than this are left to the task their submission queued.
UNEVALUATED_GRACE = timedelta(minutes=2)


@shared_task(ignore_result=True)
def evaluate_episode(episode_id: int) -> None:
    """After each submission (queued on commit by ``administration_record``)."""
    evaluation.episode_evaluate(episode_id=episode_id)


@shared_task(ignore_result=True)
def evaluate_episodes(episode_ids: list[int]) -> dict:
    """One chunk of a sweep."""
    summary = evaluation.episodes_evaluate(episode_ids=episode_ids)
    return {"episodes": summary.episodes, "alerts_created": summary.alerts_created}


def _queue_chunks(episode_ids: list[int]) -> int:
    size = evaluation.CHUNK_SIZE
    for start in range(0, len(episode_ids), size):
        evaluate_episodes.apply_async(args=[episode_ids[start : start + size]])
    return len(episode_ids)


@shared_task(ignore_result=True)
def sweep_active_episodes(full: bool = False) -> int:
    """Hourly (beat): re-evaluate the active episodes whose rule inputs changed (a new form, a
    missed check-in, a changed clinic setting or a newly fitted curve), one task per chunk, so
    workers on several machines share the load; ``full`` re-evaluates every active episode."""
    return _queue_chunks(evaluation.episodes_to_evaluate(full=full))


@shared_task(ignore_result=True)
def sweep_unevaluated() -> int:
    """Every few minutes (beat): episodes with an administration that no evaluation reached (a
    lost task, a broker outage at submission time)."""
    ids = list(
        Administration.objects.filter(
            alerts_evaluated_at__isnull=True,
            created_at__lte=timezone.now() - UNEVALUATED_GRACE,
        )
        .order_by("episode_id")
        .values_list("episode_id", flat=True)
        .distinct()
    )
    return _queue_chunks(ids)


@shared_task(ignore_result=True)
def send_alert_notifications(notification_ids: list[int]) -> int:
    return notifications.notifications_send(notification_ids=notification_ids)


@shared_task(ignore_result=True)
def retry_pending_notifications() -> int:
    return notifications.notifications_catch_up()


@shared_task(ignore_result=True)
def escalate_alerts() -> int:
    """Every few minutes (beat): urgent alerts past the clinic's acknowledgement window."""
    return notifications.alerts_escalate()


# A digest the outbox could not take is retried hourly for the rest of the working day; those
# already written are not repeated (``digests_send`` skips them).
DIGEST_RETRY_DELAY = 3600
DIGEST_MAX_RETRIES = 8


@shared_task(
    bind=True,
    ignore_result=True,
    max_retries=DIGEST_MAX_RETRIES,
    default_retry_delay=DIGEST_RETRY_DELAY,
)
def send_weekly_digests(self) -> int:
    run = notifications.digests_send()
    if run.failed:
        raise self.retry()
    return run.sent


@shared_task(ignore_result=True)
def fit_trajectories() -> int:
    """Monthly (beat): refit every clinic's expected recovery curves."""
    return len(curves.clinics_fit())
