"""Exports beside other database work on the embedded SQLite.

The FHIR and research exports once streamed their query through an open cursor and wrote their
progress while it was still open. On SQLite an open read keeps a lock (a snapshot under WAL, a
table lock in shared cache), so a second connection writing meanwhile, a report page or another
export's progress, failed or made the export fail with "database is locked". The exports now read
a batch whole, close the cursor, then write.
"""

import threading
from datetime import date

import pytest
from django.db import connection, connections

from dashboards import report_services
from dashboards.exporters import base, fhir_bundle, outcome_report, research
from dashboards.models import ExportJob
from dashboards.report_selectors import ReportPeriod, report_scope
from outcomes.models import Administration
from tests.report_support import PERIOD_END, PERIOD_START, add_pair, finished_episode


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    return tmp_path


def write_from_another_connection(episode) -> Exception | None:
    """What a report page or a second export does meanwhile: a write on its own connection, to
    the table the export reads."""
    failures: list[Exception] = []

    def write():
        try:
            add_pair(episode, date(2025, 6, 1), 10, 10)  # outside the period: not exported
        except Exception as error:  # noqa: BLE001 - the test reports it
            failures.append(error)
        finally:
            connections.close_all()

    thread = threading.Thread(target=write)
    thread.start()
    thread.join()
    return failures[0] if failures else None


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    ("exporter", "file_format"),
    [("fhir", "json"), ("research", "csv"), ("outcome_report", "csv")],
)
def test_an_export_finishes_while_another_connection_writes(
    cast, monkeypatch, exporter, file_format
):
    episodes = [finished_episode(cast.clinic, cast.therapist) for _ in range(3)]
    # Progress after every record, so the writes fall between records as they would between
    # batches of a large export.
    for module in (base, fhir_bundle):
        monkeypatch.setattr(module, "PROGRESS_EVERY", 1)
    for module in (fhir_bundle, research, outcome_report):
        monkeypatch.setattr(module, "BATCH", 1)
    beside: list[Exception | None] = []
    report_progress = base.Exporter.report_progress

    def progress_beside_a_writer(self, done):
        beside.append(write_from_another_connection(episodes[0]))
        report_progress(self, done)

    monkeypatch.setattr(base.Exporter, "report_progress", progress_beside_a_writer)
    job = report_services.export_job_request(
        user=cast.admin,
        scope=report_scope(user=cast.admin),
        period=ReportPeriod(PERIOD_START, PERIOD_END),
        exporter=exporter,
        file_format=file_format,
    )

    finished = report_services.export_job_run(job_id=job.pk)

    job.refresh_from_db()
    assert [error for error in beside if error] == []
    assert (finished, job.status, job.error) == (True, ExportJob.Status.DONE, "")
    assert len(beside) >= 2
    assert Administration.objects.count() == 3 * 4 + 2 * len(beside)
    connection.close()
