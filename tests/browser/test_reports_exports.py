"""A supervisor's week ends with the exports, in headless Chromium: sign in with the second
factor, reach Reports from the navigation, and make, download and open every export in every
format. Only clicks and typing after the seed; the files are opened as the recipient would
(pandas for CSV and Excel, a PDF reader's first bytes and pages, JSON for FHIR).

Screenshots: var/screenshots/reports-exports.png (the cards) and reports-exports-done.png.
"""

import json
import re
import zlib
from datetime import timedelta

import pandas as pd
import pytest
from django.utils import timezone
from django_otp.oath import totp
from playwright.sync_api import expect

from clients.models import Role
from config.celery_app import app as celery_app
from dashboards.exporters import export_choices
from tests.auth import totp_device_for
from tests.factories import make_clinic, make_staff, make_team
from tests.report_support import finished_episode

# The second factor is on, as in every deployment: the seeded supervisor must pass it.
pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.mfa, pytest.mark.slow]

PASSWORD = "a-Long-pass-2026"
EPISODES = 12  # ten or more, so the report's rates (and the PDF's charts) are not suppressed


@pytest.fixture
def exports_run_at_once(settings, tmp_path):
    """No worker in a browser test: the export task runs in the request that queues it (after
    commit, as a worker would pick it up), and files go to a temporary MEDIA_ROOT."""
    settings.MEDIA_ROOT = tmp_path / "media"
    celery_app.conf.task_always_eager = True
    yield
    celery_app.conf.task_always_eager = False


@pytest.fixture
def supervisor_with_a_team():
    clinic = make_clinic()
    team = make_team(clinic, "Team A")
    therapist = make_staff(clinic, teams=[team], username="dr_lee")
    supervisor = make_staff(
        clinic, role=Role.SUPERVISOR, teams=[team], username="sup_okafor", password=PASSWORD
    )
    ended_on = timezone.localdate() - timedelta(days=30)
    for number in range(EPISODES):
        finished_episode(clinic, therapist, ended_on=ended_on, label=f"C-{9100 + number}")
    return supervisor, totp_device_for(supervisor)


def current_code(device) -> str:
    return f"{totp(device.bin_key, step=device.step, t0=device.t0, digits=device.digits):06d}"


def pdf_pages(pdf: bytes) -> int:
    """How many page objects the PDF holds. WeasyPrint packs its objects into compressed object
    streams, so each stream is inflated first (no PDF reader is among the dependencies)."""
    content = pdf
    for stream in re.findall(rb"stream\r?\n(.*?)endstream", pdf, re.S):
        try:
            content += zlib.decompressobj().decompress(stream)
        except zlib.error:
            continue  # an image or font stream in another encoding
    return len(re.findall(rb"/Type\s*/Page(?![a-zA-Z])", content))


def open_export(path, file_format: str):
    """Open a downloaded file as its recipient would; return what it holds."""
    if file_format == "csv":
        return pd.read_csv(path, encoding="utf-8-sig")
    if file_format == "xlsx":
        return pd.read_excel(path)
    if file_format == "pdf":
        return path.read_bytes()
    return json.loads(path.read_text("utf-8"))


def test_a_supervisor_signs_in_reaches_reports_and_downloads_every_export_in_every_format(
    live_server, page, screenshot, tmp_path, exports_run_at_once, supervisor_with_a_team
):
    _supervisor, device = supervisor_with_a_team
    page.goto(f"{live_server.url}/login/")
    page.get_by_label("Username").fill("sup_okafor")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()

    # The second factor: nothing of the clinic shows until it is given.
    page.wait_for_url(re.compile(r"/accounts/mfa/verify/"))
    expect(page.get_by_role("navigation", name="Main").get_by_role("link")).to_have_count(0)
    page.get_by_label("Code").fill(current_code(device))
    page.get_by_role("button", name="Verify").click()
    page.wait_for_url(f"{live_server.url}/")
    # No clients of their own: the supervisor lands on the team's.
    expect(page.get_by_role("heading", name="Team clients", level=1)).to_be_visible()

    page.get_by_role("navigation", name="Main").get_by_role("link", name="Reports").click()
    page.wait_for_url(re.compile(r"/reports/"))
    expect(page.get_by_role("heading", name="Outcome report", level=1)).to_be_visible()

    choices = export_choices()
    cards = page.locator("form.export-form")
    expect(cards).to_have_count(len(choices))
    for choice in choices:
        card = page.locator(f'form.export-form[data-exporter="{choice.identifier}"]')
        expect(card.get_by_role("heading", level=3)).to_have_text(choice.title)
        expect(card.get_by_text(choice.description)).to_be_visible()
        for _file_format, label in choice.formats:
            expect(card.get_by_role("button", name=f"Export as {label}")).to_be_visible()
    page.locator("#exports").scroll_into_view_if_needed()
    screenshot(page, "reports-exports")

    opened = {}
    for choice in choices:
        for file_format, label in choice.formats:
            card = page.locator(f'form.export-form[data-exporter="{choice.identifier}"]')
            card.get_by_role("button", name=f"Export as {label}").click()
            page.wait_for_url(re.compile(r"/reports/\?.*#exports$"))
            expect(page.get_by_text("Export started")).to_be_visible()
            newest = page.locator("tr.export-job").first
            expect(newest).to_contain_text(f"{choice.title} · {label}")
            link = newest.get_by_role("link", name="Download")
            expect(link).to_be_visible(timeout=60_000)
            with page.expect_download() as waiting:
                link.click()
            download = waiting.value
            assert download.failure() is None
            assert download.suggested_filename.endswith(f".{file_format}")
            saved = tmp_path / download.suggested_filename
            download.save_as(saved)
            opened[(choice.identifier, file_format)] = open_export(saved, file_format)
    screenshot(page, "reports-exports-done")

    assert set(opened) == {(c.identifier, f) for c in choices for f, _label in c.formats}
    # The tabular exports: one row per episode, or per form scored (two forms at two visits).
    for file_format in ("csv", "xlsx"):
        episodes = opened[("outcome_report", file_format)]
        assert sorted(episodes["client_label"]) == [f"C-{9100 + n}" for n in range(EPISODES)]
        research = opened[("research", file_format)]
        assert len(research) == EPISODES * 4
        assert (
            not research.astype(str).apply(lambda column: column.str.contains("C-91")).any().any()
        )
    pdf = opened[("pdf_report", "pdf")]
    assert pdf.startswith(b"%PDF-") and pdf.rstrip().endswith(b"%%EOF")
    assert pdf_pages(pdf) >= 1
    bundle = opened[("fhir", "json")]
    assert bundle["resourceType"] == "Bundle"
    kinds = {entry["resource"]["resourceType"] for entry in bundle["entry"]}
    assert kinds == {"QuestionnaireResponse", "Observation"}
