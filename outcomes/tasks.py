"""Celery interface to the outcomes services: tasks take ids, call one service, own retries.

Every task here is idempotent (rows are claimed, alerts are unique per trigger), so late
acknowledgement and re-delivery are safe, and the beat tasks heal whatever a lost message missed.
"""

from datetime import timedelta

from celery import shared_task
from django.utils import timezone

from clients.models import Episode
from outcomes import curves, evaluation, notifications

# Unevaluated administrations younger than this are left to the task their submission queued.
UNEVALUATED_GRACE = timedelta(minutes=2)


@shared_task(ignore_result=True)
def evaluate_episode(episode_id: int) -> None:
    """After each submission (queued on commit by ``administration_record``) and each expired
    check-in. Skips an episode with nothing new since its last evaluation (an earlier task or a
    sweep already read this form), so a backlog of tasks for one episode costs one evaluation;
    a changed setting or curve still counts as new."""
    evaluation.episode_evaluate(episode_id=episode_id, only_changed=True)


@shared_task(ignore_result=True)
def evaluate_episodes(episode_ids: list[int], full: bool = True) -> dict:
    """One chunk of a sweep; ``full=False`` skips the episodes another evaluation brought up to
    date since the sweep picked them."""
    summary = evaluation.episodes_evaluate(episode_ids=episode_ids, only_changed=not full)
    return {"episodes": summary.episodes, "alerts_created": summary.alerts_created}


def _queue_chunks(episode_ids: list[int], *, full: bool) -> int:
    size = evaluation.CHUNK_SIZE
    for start in range(0, len(episode_ids), size):
        chunk = episode_ids[start : start + size]
        evaluate_episodes.apply_async(args=[chunk], kwargs={"full": full})
    return len(episode_ids)


@shared_task(ignore_result=True)
def sweep_active_episodes(full: bool = False) -> int:
    """Hourly (beat): re-evaluate the active episodes whose rule inputs changed (a new form, a
    missed check-in, a changed clinic setting or a newly fitted curve), one task per chunk, so
    workers on several machines share the load; ``full`` re-evaluates every active episode."""
    return _queue_chunks(evaluation.episodes_to_evaluate(full=full), full=full)


@shared_task(ignore_result=True)
def sweep_unevaluated() -> int:
    """Every few minutes (beat): episodes with an administration that no evaluation reached (a
    lost task, a broker outage at submission time): their mark is older than the grace."""
    ids = list(
        Episode.objects.filter(rules_pending_since__lte=timezone.now() - UNEVALUATED_GRACE)
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    return _queue_chunks(ids, full=False)


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
