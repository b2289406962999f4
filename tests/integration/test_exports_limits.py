"""Exports that cannot be made as asked: too many rows for Excel, an impossible period, a failure
that must not leak data into the logs; and which exports the report page lists."""

import logging
from datetime import timedelta
from pathlib import Path

import pytest
import xlsxwriter.worksheet
from django.urls import reverse
from django.utils import timezone

from dashboards import report_services
from dashboards.exporters import base
from dashboards.exporters.outcome_report import OutcomeReportExporter
from dashboards.models import ExportJob
from dashboards.report_selectors import ReportPeriod, report_scope
from tests.report_support import PERIOD_END, PERIOD_START, finished_episode

pytestmark = pytest.mark.django_db

PERIOD = {"start": PERIOD_START.isoformat(), "end": PERIOD_END.isoformat()}


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    return tmp_path


@pytest.fixture
def excel_holds_three_rows(monkeypatch):
    """Excel's limit, scaled down: a header and two records fit, a third record does not."""
    monkeypatch.setattr(base, "XLSX_MAX_ROWS", 3)


def request_export(client, user, **fields):
    client.force_login(user)
    return client.post(
        reverse("reports:export_request"),
        {**PERIOD, "exporter": "outcome_report", "format": "xlsx", **fields},
        follow=True,
    )


def job_request(user, file_format="xlsx"):
    return report_services.export_job_request(
        user=user,
        scope=report_scope(user=user),
        period=ReportPeriod(PERIOD_START, PERIOD_END),
        exporter="outcome_report",
        file_format=file_format,
    )


def test_an_export_too_large_for_excel_is_refused_with_a_pointer_to_csv(
    client, cast, excel_holds_three_rows
):
    for _ in range(3):
        finished_episode(cast.clinic, cast.therapist)
    html = request_export(client, cast.admin).content.decode()
    assert "Export not started: Too many rows for Excel" in html and "Use CSV." in html
    assert not ExportJob.objects.exists()
    # CSV has no such limit.
    html = request_export(client, cast.admin, format="csv").content.decode()
    assert "Export started" in html and ExportJob.objects.get().file_format == "csv"


def test_an_export_that_fits_in_excel_is_accepted(client, cast, excel_holds_three_rows):
    for _ in range(2):
        finished_episode(cast.clinic, cast.therapist)
    job = job_request(cast.admin)
    assert report_services.export_job_run(job_id=job.pk)
    job.refresh_from_db()
    assert job.status == ExportJob.Status.DONE and job.total == 2


def test_a_job_that_grew_past_excels_limit_since_it_was_asked_for_fails_clearly(
    client, cast, media, monkeypatch
):
    for _ in range(3):
        finished_episode(cast.clinic, cast.therapist)
    job = job_request(cast.admin)  # accepted under the real limit
    monkeypatch.setattr(base, "XLSX_MAX_ROWS", 3)
    assert report_services.export_job_run(job_id=job.pk) is False
    job.refresh_from_db()
    assert job.status == ExportJob.Status.FAILED
    assert job.error.startswith("Too many rows for Excel") and "Use CSV." in job.error
    assert not list(Path(media).rglob("*.xlsx"))
    client.force_login(cast.admin)
    status = client.get(reverse("reports:export_status", args=[job.pk])).json()
    assert status["status"] == "failed" and "Use CSV." in status["status_label"]
    assert "Too many rows for Excel" in client.get(reverse("reports:report")).content.decode()


def test_rows_excel_refuses_fail_the_job_instead_of_going_missing(cast, media, monkeypatch):
    """Even if count() and the rows disagree, XlsxWriter's -1 for a row past the sheet is
    caught: the job fails rather than reporting a complete file."""
    for _ in range(3):
        finished_episode(cast.clinic, cast.therapist)
    original_init = xlsxwriter.worksheet.Worksheet.__init__

    def small_sheet(self, *args, **kwargs):
        original_init(self, *args, **kwargs)
        self.xls_rowmax = 3

    monkeypatch.setattr(xlsxwriter.worksheet.Worksheet, "__init__", small_sheet)
    monkeypatch.setattr(OutcomeReportExporter, "count", lambda self: 2)  # a count that lies
    job = job_request(cast.admin)
    assert report_services.export_job_run(job_id=job.pk) is False
    job.refresh_from_db()
    assert job.status == ExportJob.Status.FAILED
    assert "row 4 is past the sheet's limit" in job.error and "Use CSV." in job.error
    assert not list(Path(media).rglob("*.xlsx"))


def test_a_text_cut_by_excel_fails_the_job(cast, monkeypatch):
    finished_episode(cast.clinic, cast.therapist)
    rows = iter([["label"], ["x" * 40_000]])
    monkeypatch.setattr(OutcomeReportExporter, "iterate_rows", lambda self: rows)
    job = job_request(cast.admin)
    assert report_services.export_job_run(job_id=job.pk) is False
    job.refresh_from_db()
    assert "longer than Excel's 32,767 characters" in job.error


def test_a_failing_export_logs_its_class_and_id_but_no_message_or_traceback(
    cast, monkeypatch, caplog
):
    finished_episode(cast.clinic, cast.therapist)

    def explode(self):
        raise ValueError("client C-SECRET scored 27")

    monkeypatch.setattr(OutcomeReportExporter, "iterate_rows", explode)
    job = job_request(cast.admin, file_format="csv")
    with caplog.at_level(logging.DEBUG, logger="dashboards.report_services"):
        assert report_services.export_job_run(job_id=job.pk) is False
    job.refresh_from_db()
    # The person who asked reads what happened in words; the class name is for the log.
    assert job.status == ExportJob.Status.FAILED
    assert job.error == report_services.FAILED_UNEXPECTEDLY
    (record,) = [r for r in caplog.records if r.name == "dashboards.report_services"]
    assert record.getMessage() == f"export {job.pk} failed (ValueError)"
    assert record.exc_info is None and record.exc_text is None
    assert "C-SECRET" not in caplog.text


@pytest.mark.parametrize("start, end", [("2026-01-01", "9999-12-31"), ("0001-01-01", "2026-01-01")])
def test_an_export_for_an_impossible_period_is_refused_not_queued(client, cast, start, end):
    html = request_export(client, cast.admin, start=start, end=end, format="csv")
    assert html.status_code == 200
    assert "Export not started: Choose dates between 1 January 1990" in html.content.decode()
    assert not ExportJob.objects.exists()
    with pytest.raises(report_services.ExportRefused):
        report_services.export_job_request(
            user=cast.admin,
            scope=report_scope(user=cast.admin),
            period=ReportPeriod(PERIOD_START, PERIOD_END.replace(year=9999)),
            exporter="outcome_report",
            file_format="csv",
        )


def test_the_page_lists_exports_whose_file_is_still_there_not_those_asked_for_today(client, cast):
    now = timezone.now()

    def job(**fields):
        return ExportJob.objects.create(
            clinic=cast.clinic, requested_by=cast.admin, exporter="outcome_report",
            file_format="csv", options={**PERIOD, "team": None}, **fields,
        )  # fmt: skip

    # Asked for 30 hours ago, finished 2 hours later: downloadable for 20 more hours.
    slow = job(
        status=ExportJob.Status.DONE, created_at=now - timedelta(hours=30),
        finished_at=now - timedelta(hours=28), expires_at=now + timedelta(hours=20),
        file_path="exports/slow.csv",
    )  # fmt: skip
    gone = job(
        status=ExportJob.Status.DONE, created_at=now - timedelta(hours=26),
        finished_at=now - timedelta(hours=25), expires_at=now - timedelta(hours=1),
    )  # fmt: skip
    failed = job(
        status=ExportJob.Status.FAILED, created_at=now - timedelta(hours=3),
        finished_at=now - timedelta(hours=3), error="ValueError",
    )  # fmt: skip
    running = job(status=ExportJob.Status.RUNNING, created_at=now - timedelta(minutes=5))
    client.force_login(cast.admin)
    response = client.get(reverse("reports:report"))
    assert [listed.pk for listed in response.context["jobs"]] == [running.pk, failed.pk, slow.pk]
    assert gone.pk not in {listed.pk for listed in response.context["jobs"]}
    html = response.content.decode()
    assert reverse("reports:export_download", args=[slow.pk]) in html
    assert "Failed: ValueError" in html
