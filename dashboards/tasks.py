"""Celery interface to the report services: ids only, everything else from the rows."""

from celery import shared_task

from dashboards import report_services


# A million-row export takes minutes: it gets a longer limit than the default 240 s.
@shared_task(ignore_result=True, soft_time_limit=3600, time_limit=3700)
def export_run(job_id: str) -> None:
    report_services.export_job_run(job_id=job_id)


@shared_task(ignore_result=True)
def sweep_exports() -> dict[str, int]:
    """Hourly (beat): delete expired export files; queue again exports whose message was lost."""
    return report_services.exports_sweep()


@shared_task(ignore_result=True)
def send_monthly_reports() -> int:
    """Daily (beat): e-mail subscribers a link to last month's report, once per month."""
    return report_services.monthly_reports_send()
