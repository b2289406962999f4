"""Celery interface to the outcomes services: tasks take ids, call one service, own retries."""

from celery import shared_task

from outcomes import evaluation


@shared_task(ignore_result=True)
def evaluate_episode(episode_id: int) -> None:
    evaluation.episode_evaluate(episode_id=episode_id)
