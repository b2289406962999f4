"""Supervisors' and clinic admins' report pages, export requests, progress and downloads.

Thin: parse, call one selector or service, render. Everything a user may see is decided by
``report_selectors.report_scope``; anything outside it (another team, another clinic, a therapist
asking) answers 404 and gives nothing away.
"""

from __future__ import annotations

from pathlib import Path

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import FileResponse, Http404, HttpResponseRedirect, JsonResponse
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import urlencode
from django.views.decorators.http import require_GET, require_POST

from audit.services import audit_record
from dashboards import report_charts, report_services
from dashboards.exporters import CONTENT_TYPES, ExportRefused, export_choices
from dashboards.forms import ReportPeriodForm
from dashboards.models import ExportJob, ReportSubscription
from dashboards.report_selectors import (
    ReportPeriod,
    alert_mails_undelivered_for,
    export_jobs_listed,
    report_frames,
    report_scope,
)
from dashboards.reports import clinic_report


def _scope_or_404(request, source):
    scope = report_scope(
        user=request.user, clinic_slug=source.get("clinic"), team_id=source.get("team")
    )
    if scope is None:
        raise Http404
    return scope


def _period(source) -> tuple[ReportPeriodForm, ReportPeriod]:
    """The period asked for, or the last twelve months when none (or an invalid one) is."""
    default = ReportPeriod.last_twelve_months(timezone.localdate())
    form = ReportPeriodForm(source if "start" in source else None, initial=default.as_options())
    if form.is_bound and form.is_valid():
        return form, ReportPeriod(start=form.cleaned_data["start"], end=form.cleaned_data["end"])
    return form, default


def report_context(*, scope, period) -> dict:
    """What the page and the PDF render: the same report, the same template body."""
    report = clinic_report(
        report_frames(scope=scope, period=period), start=period.start, end=period.end
    )
    return {"report": report, "scope": scope, "period": period}


@login_required
@require_GET
def report_page(request):
    scope = _scope_or_404(request, request.GET)
    form, period = _period(request.GET)
    context = report_context(scope=scope, period=period)
    report = context["report"]
    audit_record(
        actor=request.user,
        action="report.view",
        clinic=scope.clinic,
        request=request,
        details={**period.as_options(), **scope.as_options()},
    )
    now = timezone.now()
    jobs = export_jobs_listed(user=request.user, clinic=scope.clinic, now=now)
    context.update(
        {
            "undelivered_alert_mails": alert_mails_undelivered_for(scope=scope, now=now),
            "form": form,
            "figures": {
                "rates": report_charts.rates_figure(report),
                "rates_empty": report_charts.rates_empty_reason(report),
                "funnel": report_charts.funnel_figure(report),
            },
            "exporters": export_choices(),
            "jobs": jobs,
            "subscribed": ReportSubscription.objects.filter(
                user=request.user, clinic=scope.clinic
            ).exists(),
            "query": urlencode(
                {"clinic": scope.clinic.slug, **period.as_options(), **_team_query(scope)}
            ),
        }
    )
    return render(request, "dashboards/reports/report.html", context)


def _team_query(scope) -> dict:
    return {"team": scope.team.pk} if scope.team else {}


@login_required
@require_POST
def export_request(request):
    scope = _scope_or_404(request, request.POST)
    form, period = _period(request.POST)
    if form.is_bound and not form.is_valid():
        problems = " ".join(form.non_field_errors()) or "Choose a valid period."
        messages.error(request, f"Export not started: {problems}")
    else:
        try:
            report_services.export_job_request(
                user=request.user,
                scope=scope,
                period=period,
                exporter=request.POST.get("exporter", ""),
                file_format=request.POST.get("format", ""),
                request=request,
            )
        except report_services.ExportNotAllowed:
            raise Http404 from None
        except ExportRefused as refused:
            messages.error(request, f"Export not started: {refused}")
        else:
            messages.success(request, "Export started: it appears below when it is ready.")
    query = urlencode({"clinic": scope.clinic.slug, **period.as_options(), **_team_query(scope)})
    return HttpResponseRedirect(f"{reverse('reports:report')}?{query}#exports")


def _job_for(request, job_id) -> ExportJob:
    """The user's own job, while they still report on its clinic; otherwise 404."""
    job = get_object_or_404(
        ExportJob.objects.select_related("clinic"), pk=job_id, requested_by=request.user
    )
    scope, _ = report_services.export_job_scope(job)
    if scope is None:
        raise Http404
    return job


@login_required
@require_GET
def export_status(request, job_id):
    job = _job_for(request, job_id)
    ready = job.status == ExportJob.Status.DONE and not job.is_expired
    label = "Expired" if job.is_expired else job.get_status_display()
    if job.status == ExportJob.Status.FAILED and job.error:
        label = f"{label}: {job.error}"
    return JsonResponse(
        {
            "status": job.status
            if not (job.status == ExportJob.Status.DONE and job.is_expired)
            else "expired",
            "status_label": label,
            "error": job.error or None,
            "progress": job.progress,
            "total": job.total,
            "percent": round(100 * job.progress / job.total)
            if job.total
            else (100 if ready else 0),
            "download_url": reverse("reports:export_download", args=[job.pk]) if ready else None,
        },
        headers={"Cache-Control": "no-store"},
    )


@login_required
@require_GET
def export_download(request, job_id):
    job = _job_for(request, job_id)
    if job.status != ExportJob.Status.DONE or job.is_expired or not job.file_path:
        return render(request, "dashboards/reports/export_gone.html", {"job": job}, status=410)
    path = Path(settings.MEDIA_ROOT) / job.file_path
    if not path.exists():
        return render(request, "dashboards/reports/export_gone.html", {"job": job}, status=410)
    report_services.export_job_record_download(job=job, user=request.user, request=request)
    response = FileResponse(
        path.open("rb"),
        as_attachment=True,
        filename=job.file_name,
        content_type=CONTENT_TYPES[job.file_format],
    )
    response["Cache-Control"] = "no-store"
    return response


@login_required
@require_POST
def subscription_toggle(request):
    scope = _scope_or_404(request, request.POST)
    if request.POST.get("subscribe") == "1":
        report_services.report_subscribe(user=request.user, clinic=scope.clinic)
        messages.success(request, "You will receive a link to the monthly report by e-mail.")
    else:
        report_services.report_unsubscribe(user=request.user, clinic=scope.clinic)
        messages.success(request, "Monthly report e-mails stopped.")
    return HttpResponseRedirect(
        f"{reverse('reports:report')}?{urlencode({'clinic': scope.clinic.slug})}"
    )
