"""Bulk import of clients from CSV: the command line (with a dry run) and the API endpoint. All
rows or none, with every invalid row's errors by line."""

from io import StringIO

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command

from audit.models import AuditEvent
from clients.models import Client, Episode
from tests.integration.test_api import api_as

GOOD = (
    "label,therapist,email,started_on,timezone\n"
    "I-1,therapist,i1@example.org,2026-01-05,Europe/London\n"
    "I-2,other_therapist,,2026-01-06,\n"
    "I-3,therapist,i3@example.org,,America/New_York\n"
)
BAD = (
    "label,therapist,email,started_on\n"
    "I-1,therapist,i1@example.org,2026-01-05\n"
    "I-2,ghost,not-an-email,05/01/2026\n"
    "I-1,therapist,,\n"
)


@pytest.fixture
def csv_file(tmp_path):
    def write(text):
        path = tmp_path / "clients.csv"
        path.write_text(text, encoding="utf-8")
        return path

    return write


def test_the_command_imports_every_row_with_a_first_episode(cast, csv_file):
    out, err = StringIO(), StringIO()
    call_command("import_clients", csv_file(GOOD), clinic=cast.clinic.slug, stdout=out, stderr=err)
    assert "3 client(s) imported" in out.getvalue()
    imported = Client.objects.filter(clinic=cast.clinic, label__startswith="I-")
    assert imported.count() == 3
    therapists = dict(
        Episode.objects.filter(client__in=imported).values_list(
            "client__label", "therapist__username"
        )
    )
    assert therapists == {"I-1": "therapist", "I-2": "other_therapist", "I-3": "therapist"}
    assert Client.objects.get(label="I-3").timezone == "America/New_York"
    assert AuditEvent.objects.filter(action="client.bulk_create", actor=cast.admin).exists()


def test_a_dry_run_checks_and_creates_nothing(cast, csv_file):
    out = StringIO()
    call_command(
        "import_clients", csv_file(GOOD), clinic=cast.clinic.slug, dry_run=True, stdout=out,
        stderr=StringIO(),
    )  # fmt: skip
    assert "3 client(s) would be imported" in out.getvalue()
    assert not Client.objects.filter(label__startswith="I-").exists()


def test_one_bad_row_stops_the_whole_import_and_every_error_is_reported_by_line(cast, csv_file):
    err = StringIO()
    with pytest.raises(CommandError, match="Nothing was imported"):
        call_command(
            "import_clients", csv_file(BAD), clinic=cast.clinic.slug, stdout=StringIO(),
            stderr=err,
        )  # fmt: skip
    report = err.getvalue()
    assert ":3: therapist:" in report
    assert ":3: email:" in report
    assert ":3: started_on:" in report
    assert ":4: label:" in report
    assert ":2:" not in report
    assert not Client.objects.filter(label__startswith="I-").exists()


def test_a_file_without_the_required_columns_is_refused(cast, csv_file):
    err = StringIO()
    with pytest.raises(CommandError):
        call_command(
            "import_clients", csv_file("name,email\nA,a@example.org\n"), clinic=cast.clinic.slug,
            stdout=StringIO(), stderr=err,
        )  # fmt: skip
    assert "label, therapist" in err.getvalue()


def test_the_api_endpoint_imports_all_or_nothing(cast):
    client = api_as(cast.admin)
    bad = client.post(
        "/api/v1/clients/import/",
        {"file": SimpleUploadedFile("c.csv", BAD.encode(), "text/csv")},
        format="multipart",
    )
    assert bad.status_code == 400
    rows = {row["line"]: set(row["errors"]) for row in bad.json()["rows"]}
    assert rows == {3: {"therapist", "email", "started_on"}, 4: {"label"}}
    assert not Client.objects.filter(label__startswith="I-").exists()

    good = client.post(
        "/api/v1/clients/import/",
        {"file": SimpleUploadedFile("c.csv", GOOD.encode("utf-8-sig"), "text/csv")},
        format="multipart",
    )
    assert good.status_code == 201, good.json()
    assert good.json() == {"dry_run": False, "count": 3}
    assert Client.objects.filter(label__startswith="I-").count() == 3


def test_a_therapist_importing_for_colleagues_is_refused(cast):
    response = api_as(cast.therapist).post(
        "/api/v1/clients/import/",
        {"file": SimpleUploadedFile("c.csv", GOOD.encode(), "text/csv")},
        format="multipart",
    )
    assert response.status_code == 400
    assert [row["line"] for row in response.json()["rows"]] == [3]


def test_a_body_past_djangos_field_limit_gets_a_json_400_and_imports_nothing(cast, settings):
    # Found by the API fuzz: Django's own answer to this is its HTML "Bad Request" page.
    settings.DATA_UPLOAD_MAX_NUMBER_FIELDS = 5
    fields = {f"extra{n}": "x" for n in range(10)}
    response = api_as(cast.admin).post(
        "/api/v1/clients/import/",
        {"file": SimpleUploadedFile("c.csv", GOOD.encode(), "text/csv"), **fields},
        format="multipart",
    )
    assert response.status_code == 400
    assert response["Content-Type"] == "application/json"
    assert response.json() == {"detail": "The request has too many fields."}
    assert not Client.objects.filter(label__startswith="I-").exists()


def test_the_command_refreshes_the_planners_statistics_after_an_import(cast, csv_file):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    def analysed(**options):
        with CaptureQueriesContext(connection) as queries:
            call_command(
                "import_clients",
                csv_file(GOOD),
                clinic=cast.clinic.slug,
                stdout=StringIO(),
                **options,
            )
        return [q["sql"] for q in queries if q["sql"].startswith("ANALYZE")]

    assert analysed(dry_run=True) == []
    statements = analysed()
    assert 'ANALYZE "clients_client"' in statements and 'ANALYZE "clients_episode"' in statements
