"""Writes for reports and exports: request an export, run it, expire it; monthly subscriptions.

Task arguments are job ids; the job row holds the rest, so a lost task loses nothing (the sweep
queues it again) and a retried one does nothing twice (the run claims the row first).
"""

from __future__ import annotations

import logging
from datetime import date, timedelta
from pathlib import Path

from django.conf import settings
from django.db.models import Q
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.utils.http import urlencode

from audit.services import audit_record
from dashboards.exporters import ExportRefused, exporter_class
from dashboards.models import EXPORT_LIFETIME, ExportJob, ReportSubscription
from dashboards.report_selectors import (
    ReportPeriod,
    ReportScope,
    report_period_problem,
    report_scope,
)
from lib.queue import enqueue_task_on_commit
from messaging.services import mail_queue

logger = logging.getLogger(__name__)

#: A queued job whose task has not started after this long is queued again (lost message).
REQUEUE_AFTER = timedelta(minutes=5)
#: A running job not finished after this long died with its worker: it is failed, not retried,
#: so a crashing export cannot loop.
RUNNING_STALE_AFTER = timedelta(hours=2)
EXPORT_DIR = "exports"

# Why a job failed, in words for the person who asked for it (shown on the report page). An
# unexpected error's own message can quote client data, so it is never shown: the log keeps its
# class and the job id for whoever investigates.
FAILED_UNEXPECTEDLY = (
    "Something went wrong while making this file. Please try again; if it fails again, "
    "tell your administrator."
)
FAILED_ACCESS_WITHDRAWN = "You no longer have access to these reports, so the file was not made."
FAILED_WORKER_LOST = (
    "The export stopped before it finished (the server was restarted). Please request it again."
)


class ExportNotAllowed(Exception):
    """The exporter or format does not exist, or the user may not export here."""


def export_job_request(
    *, user, scope: ReportScope, period: ReportPeriod, exporter: str, file_format: str, request=None
) -> ExportJob:
    """Record an export request, audit it and queue the work.

    ExportNotAllowed for an unknown export or format; ExportRefused (with the reason to show)
    for a period out of range or an export too large for its format (more rows than an Excel
    sheet holds), so no job is queued that could only fail.
    """
    try:
        exporter_cls = exporter_class(exporter)
    except KeyError as error:
        raise ExportNotAllowed("unknown export") from error
    if file_format not in exporter_cls.formats:
        raise ExportNotAllowed("unknown format")
    problem = report_period_problem(period.start, period.end, today=timezone.localdate())
    if problem is None:
        problem = exporter_cls(scope=scope, period=period).refusal(file_format)
    if problem is not None:
        raise ExportRefused(problem)
    job = ExportJob.objects.create(
        clinic=scope.clinic,
        requested_by=user,
        exporter=exporter,
        file_format=file_format,
        options={**period.as_options(), **scope.as_options()},
    )
    audit_record(
        actor=user,
        action="export.request",
        obj=job,
        clinic=scope.clinic,
        request=request,
        details={"exporter": exporter, "format": file_format, **job.options},
    )
    enqueue_task_on_commit("dashboards.tasks.export_run", str(job.pk))
    return job


def export_job_scope(job: ExportJob) -> tuple[ReportScope | None, ReportPeriod]:
    """The scope and period a job runs with, re-checked now: a supervisor who lost the team
    since asking gets nothing."""
    period = ReportPeriod(
        start=date.fromisoformat(job.options["start"]), end=date.fromisoformat(job.options["end"])
    )
    scope = report_scope(
        user=job.requested_by, clinic_slug=job.clinic.slug, team_id=job.options.get("team")
    )
    return scope, period


def export_job_run(*, job_id) -> bool:
    """Run one queued export. Returns True when it produced a file."""
    claimed = ExportJob.objects.filter(pk=job_id, status=ExportJob.Status.QUEUED).update(
        status=ExportJob.Status.RUNNING, started_at=timezone.now()
    )
    if claimed != 1:
        return False
    job = ExportJob.objects.select_related("clinic", "requested_by").get(pk=job_id)
    scope, period = export_job_scope(job)
    if scope is None:
        _export_job_fail(job, FAILED_ACCESS_WITHDRAWN)
        return False

    def progress(done: int) -> None:
        ExportJob.objects.filter(pk=job.pk).update(progress=done)

    exporter = exporter_class(job.exporter)(scope=scope, period=period, progress=progress)
    relative = f"{EXPORT_DIR}/{job.pk}.{job.file_format}"
    path = Path(settings.MEDIA_ROOT) / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        records = exporter.count()
        ExportJob.objects.filter(pk=job.pk).update(total=records)
        # Checked again here: the data may have grown since the request was accepted.
        refusal = exporter.refusal(job.file_format, records=records)
        if refusal is not None:
            raise ExportRefused(refusal)
        written = exporter.write(file_format=job.file_format, path=str(path))
    except Exception as error:
        # The class and the job id only, no traceback: a message (and the frames' values in a
        # traceback) can carry client data. Our own refusals carry a message written for the user.
        reason = str(error) if isinstance(error, ExportRefused) else FAILED_UNEXPECTEDLY
        logger.error("export %s failed (%s)", job.pk, error.__class__.__name__)
        path.unlink(missing_ok=True)
        _export_job_fail(job, reason)
        return False
    finished = timezone.now()
    ExportJob.objects.filter(pk=job.pk).update(
        status=ExportJob.Status.DONE,
        progress=written,
        total=written,
        file_path=relative,
        file_name=exporter.file_name(job.file_format),
        finished_at=finished,
        expires_at=finished + EXPORT_LIFETIME,
    )
    return True


def _export_job_fail(job: ExportJob, reason: str) -> None:
    ExportJob.objects.filter(pk=job.pk).update(
        status=ExportJob.Status.FAILED, error=reason[:200], finished_at=timezone.now()
    )


def export_job_record_download(*, job: ExportJob, user, request=None) -> None:
    audit_record(
        actor=user,
        action="export.download",
        obj=job,
        clinic=job.clinic,
        request=request,
        details={"exporter": job.exporter, "format": job.file_format, **job.options},
    )


def exports_sweep(*, now=None) -> dict[str, int]:
    """Delete expired files, queue again jobs whose message was lost, fail dead runs."""
    now = now or timezone.now()
    expired = 0
    for job in ExportJob.objects.filter(
        Q(status=ExportJob.Status.DONE, expires_at__lte=now)
        | Q(status=ExportJob.Status.FAILED, file_path__gt="")
    ):
        if job.file_path:
            (Path(settings.MEDIA_ROOT) / job.file_path).unlink(missing_ok=True)
        new_status = ExportJob.Status.EXPIRED if job.status == ExportJob.Status.DONE else job.status
        expired += ExportJob.objects.filter(pk=job.pk, status=job.status).update(
            status=new_status, file_path=""
        )
    requeued = 0
    for job_id in ExportJob.objects.filter(
        status=ExportJob.Status.QUEUED, created_at__lte=now - REQUEUE_AFTER
    ).values_list("pk", flat=True):
        enqueue_task_on_commit("dashboards.tasks.export_run", str(job_id))
        requeued += 1
    dead = ExportJob.objects.filter(
        status=ExportJob.Status.RUNNING, started_at__lte=now - RUNNING_STALE_AFTER
    ).update(status=ExportJob.Status.FAILED, error=FAILED_WORKER_LOST, finished_at=now)
    return {"expired": expired, "requeued": requeued, "dead": dead}


# --- monthly report subscriptions ----------------------------------------------------------------


def report_subscribe(*, user, clinic) -> ReportSubscription:
    subscription, _ = ReportSubscription.objects.get_or_create(
        user=user,
        clinic=clinic,
        # The month just ended was already visible: the first mail is for the coming month.
        defaults={"last_sent_month": ReportPeriod.month_before(timezone.localdate()).start},
    )
    audit_record(actor=user, action="report.subscribe", obj=subscription, clinic=clinic)
    return subscription


def report_unsubscribe(*, user, clinic) -> None:
    for subscription in ReportSubscription.objects.filter(user=user, clinic=clinic):
        audit_record(actor=user, action="report.unsubscribe", obj=subscription, clinic=clinic)
        subscription.delete()


def monthly_reports_send(*, today: date | None = None) -> int:
    """E-mail each subscriber a link to last month's report, once per month.

    The mail carries a link and nothing else: no figures, no names (they are health data about
    the clinic's clients); the page checks the reader's permission when it is opened.
    """
    today = today or timezone.localdate()
    period = ReportPeriod.month_before(today)
    sent = 0
    due = ReportSubscription.objects.filter(
        Q(last_sent_month__isnull=True) | Q(last_sent_month__lt=period.start)
    ).select_related("user", "clinic")
    for subscription in due:
        # Claim the month first: a second beat or a retried task finds nothing left to send.
        claimed = (
            ReportSubscription.objects.filter(pk=subscription.pk)
            .filter(Q(last_sent_month__isnull=True) | Q(last_sent_month__lt=period.start))
            .update(last_sent_month=period.start)
        )
        if claimed != 1:
            continue
        user = subscription.user
        if not user.is_active or not user.email:
            continue
        if report_scope(user=user, clinic_slug=subscription.clinic.slug) is None:
            continue
        query = urlencode({"clinic": subscription.clinic.slug, **period.as_options()})
        link = f"{settings.SITE_URL}{reverse('reports:report')}?{query}"
        context = {"link": link, "period": period, "clinic_name": subscription.clinic.name}
        mail_queue(
            to=user.email,
            subject="Your monthly outcome report is ready",
            body_text=render_to_string("dashboards/reports/email/monthly_report.txt", context),
            purpose="report",
        )
        sent += 1
    return sent
