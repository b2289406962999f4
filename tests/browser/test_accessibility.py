"""Staff who use a keyboard or a screen reader: axe-core finds no serious or critical WCAG 2.1
A/AA violation on any page of the week's journeys (sign-in, caseload, client page with its
charts drawn, alerts, reports with an export made, adding a client) nor on the client's check-in
form. Seeded with the demo clinic, so the pages carry real tables, charts and alerts.
"""

import re

import pytest
from django.core.management import call_command
from playwright.sync_api import expect

from clients.models import Membership, Role
from config.celery_app import app as celery_app
from dashboards import report_services, tasks
from dashboards.models import ExportJob
from tests.browser.accessibility import audit
from tests.checkin_support import open_checkin
from tests.factories import make_client, make_clinic, make_episode, make_staff

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

PASSWORD = "demo-password-2026"


@pytest.fixture
def demo_clinic():
    call_command("seed_demo", clients=40, verbosity=0)


@pytest.fixture
def exports_run_at_once(settings, tmp_path):
    """No worker here: the export runs in the request that queues it, after commit."""
    settings.MEDIA_ROOT = tmp_path / "media"
    celery_app.conf.task_always_eager = True
    yield
    celery_app.conf.task_always_eager = False


def sign_in(page, live_server, username):
    page.goto(f"{live_server.url}/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(f"{live_server.url}/")


def wait_for_plots(page):
    page.wait_for_function(
        "() => [...document.querySelectorAll('.js-plotly-plot')].every(el => el.data)"
    )


def test_no_page_of_the_staff_journeys_has_a_serious_accessibility_violation(
    live_server, audit_page, demo_clinic, exports_run_at_once, screenshot
):
    page = audit_page
    found: dict[str, list[str]] = {}
    admin = Membership.objects.filter(role=Role.ADMIN).select_related("user").first().user

    page.goto(f"{live_server.url}/login/")
    found["sign-in"] = audit(page)
    sign_in(page, live_server, admin.username)
    found["caseload"] = audit(page)

    page.locator("a.client-link").first.click()
    page.wait_for_url(re.compile(r"/episodes/\d+/$"))
    wait_for_plots(page)
    found["client page"] = audit(page)

    page.goto(f"{live_server.url}/alerts/")
    found["alerts"] = audit(page)

    page.goto(f"{live_server.url}/reports/")
    wait_for_plots(page)
    found["reports"] = audit(page)
    # The report's tables fit a 1280 px screen (nothing cut off beyond their card).
    for width in (1280, 1440):
        page.set_viewport_size({"width": width, "height": 900})
        overflows = page.evaluate(
            "() => [...document.querySelectorAll('.report-table')].map("
            "t => t.closest('.table-wrap').scrollWidth - t.closest('.table-wrap').clientWidth)"
        )
        screenshot(page, f"reports-{width}")
        assert overflows and max(overflows) <= 0, f"tables overflow at {width} px: {overflows}"
    page.set_viewport_size({"width": 1366, "height": 900})
    page.locator(".export-form").first.get_by_role("button").first.click()
    page.get_by_role("link", name=re.compile("Download")).first.wait_for()
    found["reports, export done"] = audit(page)

    page.goto(f"{live_server.url}/clients/new/")
    found["add client"] = audit(page)

    failures = [f"{name}: {line}" for name, lines in found.items() for line in lines]
    assert not failures, "\n".join(failures)


def test_a_screen_reader_hears_when_an_export_started_on_the_page_is_ready(
    live_server, audit_page, demo_clinic, settings, tmp_path, monkeypatch
):
    settings.MEDIA_ROOT = tmp_path
    # No worker: the job stays queued until the test runs it, as a worker would meanwhile.
    monkeypatch.setattr(tasks.export_run, "apply_async", lambda *args, **kwargs: None)
    page = audit_page
    admin = Membership.objects.filter(role=Role.ADMIN).select_related("user").first().user
    sign_in(page, live_server, admin.username)
    page.goto(f"{live_server.url}/reports/")
    form = page.locator('.export-form[data-exporter="outcome_report"]')
    form.get_by_role("button", name="Export as CSV").click()
    expect(page.locator("tr.export-job .export-status")).to_contain_text("Queued")
    expect(page.locator("#export-announcer")).to_have_text("")

    assert report_services.export_job_run(job_id=ExportJob.objects.get().pk)

    expect(page.locator("#export-announcer")).to_have_text(
        re.compile(r"^Outcome report .* is ready: the Download link is in the list")
    )
    expect(page.locator("tr.export-job .export-download a")).to_have_text("Download")
    assert not (found := audit(page)), "\n".join(found)


@pytest.fixture
def emailed_checkin(db):
    clinic = make_clinic("Riverside Therapies")
    therapist = make_staff(clinic, username="dr_lee")
    client = make_client(clinic, label="C-0042", name="Ada Example", email="ada@example.org")
    return open_checkin(make_episode(client, therapist))


def test_the_check_in_form_has_no_serious_accessibility_violation(
    live_server, audit_page, emailed_checkin
):
    _checkin, key = emailed_checkin
    audit_page.goto(f"{live_server.url}/c/{key}/")
    assert not (found := audit(audit_page)), "\n".join(found)
    # A submit with nothing answered: the errors are shown next to their questions.
    audit_page.get_by_role("button", name=re.compile("Send|Submit")).first.click()
    assert not (found := audit(audit_page)), "\n".join(found)
