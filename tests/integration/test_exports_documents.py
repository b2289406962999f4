"""The PDF, de-identified research and FHIR exports, and monthly report subscriptions."""

import csv
import io
import json
from datetime import date, timedelta
from pathlib import Path

import pytest
from django.urls import reverse

from dashboards import report_services
from dashboards.models import ExportJob, ReportSubscription
from dashboards.report_selectors import ReportPeriod, report_scope
from messaging.models import OutboundEmail
from tests.factories import make_staff
from tests.report_support import PERIOD_END, PERIOD_START, finished_episode

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    return tmp_path


def export(user, exporter, file_format, media) -> str | bytes:
    job = report_services.export_job_request(
        user=user,
        scope=report_scope(user=user),
        period=ReportPeriod(PERIOD_START, PERIOD_END),
        exporter=exporter,
        file_format=file_format,
    )
    assert report_services.export_job_run(job_id=job.pk)
    job.refresh_from_db()
    path = Path(media, job.file_path)
    return path.read_bytes() if file_format in ("pdf", "xlsx") else path.read_text("utf-8-sig")


def test_the_pdf_report_is_a_pdf_with_its_charts_drawn_as_svg(cast, media):
    for _ in range(12):
        finished_episode(cast.clinic, cast.therapist)
    pdf = export(cast.admin, "pdf_report", "pdf", media)
    assert pdf.startswith(b"%PDF-") and len(pdf) > 5000


def test_the_pdf_template_is_the_page_body_with_static_svg(cast):
    from dashboards import report_charts
    from dashboards.report_selectors import report_frames
    from dashboards.reports import clinic_report

    for _ in range(12):
        finished_episode(cast.clinic, cast.therapist)
    period = ReportPeriod(PERIOD_START, PERIOD_END)
    report = clinic_report(
        report_frames(scope=report_scope(user=cast.admin), period=period),
        start=period.start,
        end=period.end,
    )
    svg = report_charts.rates_svg(report)
    assert svg.startswith("<svg") and "therapist" in svg and "<script" not in svg
    assert "Recovered" in report_charts.funnel_svg(report)


def test_the_research_export_has_random_ids_shifted_dates_and_no_identifiers(cast, media):
    episodes = [
        finished_episode(cast.clinic, cast.therapist, label=f"C-SECRET-{index}", ended_on=ended)
        for index, ended in enumerate((date(2026, 5, 1), date(2026, 6, 1)))
    ]
    text = export(cast.admin, "research", "csv", media)
    for secret in ("C-SECRET", "@example.org"):
        assert secret not in text
    rows = list(csv.DictReader(io.StringIO(text)))
    assert cast.therapist.username not in {value for row in rows for value in row.values()}
    assert len(rows) == 8  # two paired contacts of two measures per episode
    assert len({row["client_id"] for row in rows}) == 2
    assert not {row["episode_id"] for row in rows} & {str(episode.pk) for episode in episodes}
    for client_rows in _by(rows, "client_id").values():
        shifted_start = date.fromisoformat(client_rows[0]["episode_started_on"])
        for row in client_rows:
            # Intervals within a client are exact; calendar dates are shifted.
            shifted = date.fromisoformat(row["administered_on"])
            assert (shifted - shifted_start).days == int(row["days_since_episode_start"])
        # Some real start lies within the largest shift (which episode it is, is not exported).
        assert any(abs((shifted_start - e.started_on).days) <= 182 for e in episodes)
    again = list(csv.DictReader(io.StringIO(export(cast.admin, "research", "csv", media))))
    assert not {row["client_id"] for row in rows} & {row["client_id"] for row in again}


def _by(rows, key):
    groups = {}
    for row in rows:
        groups.setdefault(row[key], []).append(row)
    return groups


def test_the_fhir_export_is_a_valid_r4_bundle_of_questionnaire_responses(cast, media):
    from fhir.resources.R4B.bundle import Bundle

    from outcomes.models import Administration

    episode = finished_episode(
        cast.clinic, cast.therapist, label="C-7001", ended_on=date(2026, 5, 1)
    )
    Administration.objects.filter(episode=episode, instrument="phq9").update(answers=[2] * 8 + [0])
    Administration.objects.filter(episode=episode, instrument="gad7").update(answers=[1] * 7)
    text = export(cast.admin, "fhir", "json", media)
    bundle = Bundle.model_validate_json(text)
    assert bundle.type == "collection"
    resources = [entry.resource for entry in bundle.entry]
    responses = [r for r in resources if r.get_resource_type() == "QuestionnaireResponse"]
    observations = [r for r in resources if r.get_resource_type() == "Observation"]
    assert len(responses) == 4 and len(observations) == 4
    assert {r.questionnaire for r in responses} == {
        "http://loinc.org/q/44249-1",
        "http://loinc.org/q/69737-5",
    }
    assert {o.code.coding[0].code for o in observations} == {"44261-6", "70274-6"}
    assert all(r.subject.identifier.value == "C-7001" for r in responses)
    phq9 = next(r for r in responses if r.questionnaire.endswith("44249-1"))
    assert [item.linkId for item in phq9.item] == [f"phq9-{n}" for n in range(1, 10)]
    assert phq9.item[0].answer[0].valueInteger == 2
    by_type = {}
    for entry in json.loads(text)["entry"]:
        by_type.setdefault(entry["resource"]["resourceType"], []).append(entry)
    derived = {e["resource"]["derivedFrom"][0]["reference"] for e in by_type["Observation"]}
    assert derived == {e["fullUrl"] for e in by_type["QuestionnaireResponse"]}


def test_the_outcome_report_streams_in_batches_over_many_episodes(cast, media):
    from clients.models import Client, Episode

    clients = Client.objects.bulk_create(
        Client(clinic=cast.clinic, label=f"B-{index:05d}") for index in range(2100)
    )
    Episode.objects.bulk_create(
        Episode(
            client=client, clinic=cast.clinic, therapist=cast.therapist, started_on=PERIOD_START
        )
        for client in clients
    )
    rows = list(csv.reader(io.StringIO(export(cast.admin, "outcome_report", "csv", media))))
    assert len(rows) == 1 + 2100
    assert len({row[0] for row in rows[1:]}) == 2100
    assert ExportJob.objects.get().progress == 2100


def test_a_supervisor_subscribes_and_gets_one_link_per_month(client, cast):
    cast.supervisor.email = "supervisor@example.org"
    cast.supervisor.save()
    finished_episode(cast.clinic, cast.therapist, label="C-NOT-IN-MAIL")
    client.force_login(cast.supervisor)
    client.post(reverse("reports:subscription"), {"subscribe": "1"})
    assert ReportSubscription.objects.filter(user=cast.supervisor).exists()
    next_month = date.today().replace(day=1) + timedelta(days=32)
    assert report_services.monthly_reports_send(today=next_month) == 1
    assert report_services.monthly_reports_send(today=next_month) == 0
    mail = OutboundEmail.objects.get(purpose="report")
    assert mail.to == "supervisor@example.org"
    assert "/reports/?clinic=" in mail.body_text
    assert "C-NOT-IN-MAIL" not in mail.body_text and "%" not in mail.body_text
    client.post(reverse("reports:subscription"), {"subscribe": "0"})
    assert not ReportSubscription.objects.exists()


def test_no_report_mail_goes_to_someone_who_lost_the_supervisor_role(cast):
    user = make_staff(cast.clinic, role="supervisor", teams=[cast.team_a])
    user.email = "former@example.org"
    user.save()
    report_services.report_subscribe(user=user, clinic=cast.clinic)
    user.memberships.update(role="therapist")
    next_month = date.today().replace(day=1) + timedelta(days=32)
    assert report_services.monthly_reports_send(today=next_month) == 0
    assert not OutboundEmail.objects.exists()


def capture_pdf_html(monkeypatch) -> list[str]:
    """The HTML the PDF export hands to WeasyPrint, collected as it is rendered."""
    from dashboards.exporters import pdf_report

    rendered = []
    original = pdf_report.render_to_string

    def render(template, context):
        rendered.append(original(template, context))
        return rendered[-1]

    monkeypatch.setattr(pdf_report, "render_to_string", render)
    return rendered


def test_the_pdf_suppresses_the_funnel_and_withholds_as_the_page_does(cast, media, monkeypatch):
    from tests.report_support import south_and_north

    south_and_north(cast.clinic, north=cast.therapist, south=cast.other_therapist)
    rendered = capture_pdf_html(monkeypatch)
    pdf = export(cast.admin, "pdf_report", "pdf", media)
    assert pdf.startswith(b"%PDF-")
    (html,) = rendered
    # Team B's recovery (5 cases) is suppressed, Team A's withheld: 6/18 minus 3/13 is not there.
    assert "6/18" in html and "3/5" not in html and html.count(">withheld</span>") == 4
    # Whole clinic: 18 cases, recovered shown; the funnel's SVG and caption agree with the table.
    assert "Recovered 6" in html


def test_the_pdf_funnel_of_a_small_team_hides_the_stage_the_table_suppresses(
    cast, media, monkeypatch
):
    from dashboards.exporters import pdf_report
    from tests.report_support import south_and_north

    south_and_north(cast.clinic, north=cast.therapist, south=cast.other_therapist)
    rendered = capture_pdf_html(monkeypatch)
    exporter = pdf_report.PdfReportExporter(
        scope=report_scope(user=cast.admin, team_id=cast.team_b.pk),
        period=ReportPeriod(PERIOD_START, PERIOD_END),
    )
    exporter.write(file_format="pdf", path=str(Path(media, "south.pdf")))
    (html,) = rendered
    assert "Recovered 3" not in html and ">3 (30 %)<" not in html
    assert 'Recovered <span class="suppressed">n&nbsp;&lt;&nbsp;10</span>' in html
    assert '<text x="0" y="122">Recovered</text><text x="566" y="122">n &lt; 10</text>' in html


def test_a_visual_analogue_mark_is_exported_as_a_decimal_not_floored():
    from dashboards.exporters.fhir_bundle import _questionnaire_response
    from measures.instruments import get_instrument

    response = _questionnaire_response(
        get_instrument("session_rating"), 1, {"value": "C-1"}, "2026-01-05", [8.6, 8.6, 8.6, 9.6]
    )
    answers = [entry["answer"][0] for entry in response["item"]]
    assert answers[0] == {"valueDecimal": 8.6} and answers[3] == {"valueDecimal": 9.6}


def test_the_research_export_keeps_decimal_session_rating_marks_and_totals(cast, media):
    from outcomes.services import administration_record

    episode = finished_episode(cast.clinic, cast.therapist, ended_on=date(2026, 5, 1))
    from tests.report_support import at

    administration_record(
        episode=episode,
        instrument_code="session_rating",
        answers=[8.6, 8.6, 8.6, 9.6],
        administered_at=at(date(2026, 4, 20)),
    )
    rows = list(csv.DictReader(io.StringIO(export(cast.admin, "research", "csv", media))))
    rating = next(row for row in rows if row["instrument"] == "session_rating")
    assert rating["answers"] == "8.6 8.6 8.6 9.6"
    assert rating["total"] == "35.4" and rating["band"] == "alliance concern"
