from celery import shared_task

from messaging import services


@shared_task(ignore_result=True)
def send_outbound_email(mail_id: int) -> None:
    services.mail_send(mail_id=mail_id)


@shared_task(ignore_result=True)
def sweep_outbox() -> None:
    """Send whatever is due: new mails whose task was lost, retries whose backoff has passed."""
    for mail_id in services.mail_due_ids():
        services.mail_send(mail_id=mail_id)


@shared_task(ignore_result=True)
def purge_outbox() -> int:
    """Nightly: delete the mails the outbox finished with past the retention period."""
    return services.mail_purge()
