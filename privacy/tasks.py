from celery import shared_task

from privacy import services


@shared_task(ignore_result=True)
def erase_expired_episodes() -> None:
    """Daily: the retention job (each clinic's ``retention_days`` for closed episodes)."""
    services.retention_erase_expired()
