"""Exports: requested from the report page, run as a task, downloaded by the requester only,
audited, expired after 24 hours."""

import csv
import io
import zipfile
from datetime import timedelta
from pathlib import Path

import pytest
import time_machine
from django.urls import reverse
from django.utils import timezone
from django.utils.html import escape

from audit.models import AuditEvent
from dashboards import report_services
from dashboards.exporters import EXPORTERS
from dashboards.models import ExportJob
from dashboards.report_selectors import ReportPeriod, report_scope
from tests.report_support import PERIOD_END, PERIOD_START, finished_episode

pytestmark = pytest.mark.django_db

PERIOD = {"start": PERIOD_START.isoformat(), "end": PERIOD_END.isoformat()}


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    return tmp_path


def request_export(client, user, *, exporter="outcome_report", file_format="csv", **extra):
    client.force_login(user)
    return client.post(
        reverse("reports:export_request"),
        {**PERIOD, "exporter": exporter, "format": file_format, **extra},
    )


def run_export(client, user, django_capture_on_commit_callbacks, **kwargs) -> ExportJob:
    with django_capture_on_commit_callbacks() as callbacks:
        response = request_export(client, user, **kwargs)
    assert response.status_code == 302
    assert len(callbacks) == 1  # the task is queued after commit
    job = ExportJob.objects.get()
    assert report_services.export_job_run(job_id=job.pk)
    job.refresh_from_db()
    return job


def download(client, job):
    response = client.get(reverse("reports:export_download", args=[job.pk]))
    body = b"".join(response.streaming_content) if response.status_code == 200 else b""
    return response, body


def test_the_outcome_report_exports_one_csv_row_per_episode(
    client, cast, media, django_capture_on_commit_callbacks
):
    finished_episode(cast.clinic, cast.therapist, label="C-9001")
    finished_episode(cast.clinic, cast.other_therapist, label="C-9002")
    job = run_export(client, cast.supervisor, django_capture_on_commit_callbacks)
    assert job.status == ExportJob.Status.DONE and job.progress == job.total == 1
    assert job.expires_at == job.finished_at + timedelta(hours=24)
    assert Path(media, job.file_path).parent.name == "exports"
    response, body = download(client, job)
    assert response.status_code == 200
    assert response["Content-Disposition"].startswith("attachment")
    rows = list(csv.DictReader(io.StringIO(body.decode("utf-8-sig"))))
    # The supervisor of team A exports team A only.
    assert [row["client_label"] for row in rows] == ["C-9001"]
    assert rows[0]["phq9_first"] == "16.0" and rows[0]["gad7_last"] == "5.0"
    assert rows[0]["finished"] == "true" and rows[0]["recovered"] == "true"


def test_csv_cells_that_look_like_formulas_are_neutralised(
    client, cast, django_capture_on_commit_callbacks
):
    finished_episode(cast.clinic, cast.therapist, label='=HYPERLINK("x")')
    finished_episode(cast.clinic, cast.therapist, label="@SUM(A1)")
    job = run_export(client, cast.admin, django_capture_on_commit_callbacks)
    _, body = download(client, job)
    labels = [row["client_label"] for row in csv.DictReader(io.StringIO(body.decode("utf-8-sig")))]
    assert sorted(labels) == sorted(['\'=HYPERLINK("x")', "'@SUM(A1)"])


def test_the_excel_export_stores_formula_like_text_as_text(
    client, cast, django_capture_on_commit_callbacks
):
    finished_episode(cast.clinic, cast.therapist, label="=1+2")
    job = run_export(client, cast.admin, django_capture_on_commit_callbacks, file_format="xlsx")
    response, body = download(client, job)
    assert response["Content-Type"].startswith("application/vnd.openxmlformats")
    sheet = zipfile.ZipFile(io.BytesIO(body)).read("xl/worksheets/sheet1.xml").decode()
    assert "<f>" not in sheet  # no formula anywhere
    assert "=1+2" in sheet and "client_label" in sheet


def test_only_the_requester_may_download_and_every_download_is_audited(
    client, cast, django_capture_on_commit_callbacks
):
    finished_episode(cast.clinic, cast.therapist)
    job = run_export(client, cast.admin, django_capture_on_commit_callbacks)
    assert download(client, job)[0].status_code == 200
    for other in (cast.supervisor, cast.therapist, cast.outsider):
        client.force_login(other)
        assert download(client, job)[0].status_code == 404
        assert client.get(reverse("reports:export_status", args=[job.pk])).status_code == 404
    actions = list(
        AuditEvent.objects.filter(object_id=str(job.pk)).values_list("action", flat=True)
    )
    assert sorted(actions) == ["export.download", "export.request"]


def test_a_download_is_refused_after_24_hours_and_the_sweep_deletes_the_file(
    client, cast, media, django_capture_on_commit_callbacks
):
    finished_episode(cast.clinic, cast.therapist)
    job = run_export(client, cast.admin, django_capture_on_commit_callbacks)
    path = Path(media, job.file_path)
    assert path.exists()
    with time_machine.travel(timezone.now() + timedelta(hours=24, minutes=1)):
        client.force_login(cast.admin)  # the session itself idled out meanwhile
        assert download(client, job)[0].status_code == 410
        report_services.exports_sweep()
    job.refresh_from_db()
    assert job.status == ExportJob.Status.EXPIRED and not path.exists()


def test_a_supervisor_who_lost_the_team_can_no_longer_download(
    client, cast, django_capture_on_commit_callbacks
):
    finished_episode(cast.clinic, cast.therapist)
    job = run_export(
        client, cast.supervisor, django_capture_on_commit_callbacks, team=cast.team_a.pk
    )
    cast.supervisor.memberships.get().teams.clear()
    assert download(client, job)[0].status_code == 404


def test_the_status_endpoint_reports_progress_and_the_download_link(
    client, cast, django_capture_on_commit_callbacks
):
    finished_episode(cast.clinic, cast.therapist)
    request_export(client, cast.admin)
    job = ExportJob.objects.get()
    status = client.get(reverse("reports:export_status", args=[job.pk])).json()
    assert status["status"] == "queued" and status["download_url"] is None
    report_services.export_job_run(job_id=job.pk)
    status = client.get(reverse("reports:export_status", args=[job.pk])).json()
    assert status["status"] == "done" and status["percent"] == 100
    assert status["download_url"] == reverse("reports:export_download", args=[job.pk])


def test_a_job_runs_once_even_if_its_task_is_delivered_twice(cast):
    scope = report_scope(user=cast.admin)
    job = report_services.export_job_request(
        user=cast.admin,
        scope=scope,
        period=ReportPeriod(PERIOD_START, PERIOD_END),
        exporter="outcome_report",
        file_format="csv",
    )
    assert report_services.export_job_run(job_id=job.pk) is True
    assert report_services.export_job_run(job_id=job.pk) is False


def test_the_sweep_queues_again_a_job_whose_message_was_lost(
    cast, django_capture_on_commit_callbacks
):
    job = ExportJob.objects.create(
        clinic=cast.clinic, requested_by=cast.admin, exporter="outcome_report", file_format="csv",
        options={**PERIOD, "team": None}, created_at=timezone.now() - timedelta(minutes=10),
    )  # fmt: skip
    with django_capture_on_commit_callbacks() as callbacks:
        assert report_services.exports_sweep()["requeued"] == 1
    assert len(callbacks) == 1
    assert ExportJob.objects.get(pk=job.pk).status == ExportJob.Status.QUEUED


@pytest.mark.parametrize(
    "exporter, file_format", [("no_such_export", "csv"), ("outcome_report", "exe")]
)
def test_unknown_exports_and_formats_are_refused(client, cast, exporter, file_format):
    response = request_export(client, cast.admin, exporter=exporter, file_format=file_format)
    assert response.status_code == 404
    assert not ExportJob.objects.exists()


def test_therapists_cannot_request_exports(client, cast):
    assert request_export(client, cast.therapist).status_code == 404
    assert not ExportJob.objects.exists()


def test_the_report_page_offers_every_export_with_its_title_description_and_formats(client, cast):
    """The cards are plain data: an exporter class handed to the template would be called by
    Django's template engine, fail, and leave four empty cards with no button."""
    client.force_login(cast.supervisor)
    page = client.get(reverse("reports:report"))
    assert page.status_code == 200
    cards = page.context["exporters"]
    assert [card.identifier for card in cards] == list(EXPORTERS)
    html = page.content.decode()
    for card in cards:
        exporter = EXPORTERS[card.identifier]
        assert card.title and card.description and card.formats
        assert f">{escape(card.title)}</h3>" in html
        assert escape(card.description) in html
        for file_format, label in card.formats:
            assert file_format in exporter.formats
            assert f'name="format" value="{file_format}"' in html
            assert f"Export as {label}" in html
    # Every button posts the exporter it belongs to, never an empty one.
    assert 'name="exporter" value=""' not in html
    assert html.count('name="format" value="') == sum(len(card.formats) for card in cards)


def test_the_export_list_names_each_export_and_format_in_words(
    client, cast, django_capture_on_commit_callbacks
):
    finished_episode(cast.clinic, cast.therapist)
    run_export(client, cast.supervisor, django_capture_on_commit_callbacks, file_format="xlsx")
    html = client.get(reverse("reports:report")).content.decode()
    assert "Outcome report (one row per episode) · Excel" in html
    assert "outcome_report ·" not in html


def test_a_failed_export_tells_the_supervisor_why_in_words_not_an_exception_class(
    client, cast, monkeypatch, django_capture_on_commit_callbacks
):
    from dashboards.exporters.outcome_report import OutcomeReportExporter

    def explode(self):
        raise KeyError("phq9_first")

    finished_episode(cast.clinic, cast.therapist)
    monkeypatch.setattr(OutcomeReportExporter, "iterate_rows", explode)
    with django_capture_on_commit_callbacks():
        request_export(client, cast.supervisor)
    job = ExportJob.objects.get()
    assert report_services.export_job_run(job_id=job.pk) is False
    html = client.get(reverse("reports:report")).content.decode()
    assert escape(report_services.FAILED_UNEXPECTEDLY) in html
    assert "KeyError" not in html and "phq9_first" not in html
    status = client.get(reverse("reports:export_status", args=[job.pk])).json()
    assert status["error"] == report_services.FAILED_UNEXPECTEDLY


def test_the_fhir_download_states_its_fhir_version_in_the_file_and_the_media_type(
    client, cast, media, django_capture_on_commit_callbacks
):
    from fhir.resources.R4B.bundle import Bundle

    finished_episode(cast.clinic, cast.therapist)
    job = run_export(
        client, cast.supervisor, django_capture_on_commit_callbacks, exporter="fhir",
        file_format="json",
    )  # fmt: skip
    response, body = download(client, job)
    assert response["Content-Type"] == "application/fhir+json; fhirVersion=4.0"
    bundle = Bundle.model_validate_json(body)
    assert bundle.meta.profile == ["http://hl7.org/fhir/StructureDefinition/Bundle|4.0.1"]
