"""A clinic admin (not a superuser) chooses the clinic's alert operating point by clicking (issue
16): from the navigation to the calibration page, where each point says what it would have cost
in false alarms on the clinic's own history; "more sensitive", confirmed, is then marked current,
audited, and the active clients' alerts are re-evaluated with it."""

import pytest
from django.core.management import call_command
from playwright.sync_api import expect

from audit.models import AuditEvent
from clients.models import Clinic, Episode, Role
from clients.selectors import clinic_operating_point, operating_point_settings
from config.celery_app import app as celery_app
from measures.rules import OPERATING_POINTS
from outcomes.curves import clinic_curve_overrides, curves_fit
from outcomes.evaluation import rule_settings, settings_fingerprint
from tests.auth import totp_device_for
from tests.browser.accessibility import audit
from tests.browser.test_onboarding_journeys import PASSWORD, sign_in
from tests.factories import make_staff

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.mfa, pytest.mark.slow]

CHOSEN = "more sensitive"


@pytest.fixture
def clinic_with_a_history():
    """The demo clinic (ended and active episodes with weekly PHQ-9 and GAD-7), its curves fitted
    and calibrated, and a clinic admin who is not a superuser."""
    call_command("seed_demo", clients=60, verbosity=0)
    clinic = Clinic.objects.get(slug="demo")
    curves_fit(clinic=clinic)
    admin = make_staff(clinic, role=Role.ADMIN, username="admin_ng", password=PASSWORD)
    assert not admin.is_superuser and not admin.is_staff
    return clinic, admin


@pytest.fixture
def sweep_runs_at_once():
    """No worker here: the sweep the choice queues runs in the request, after commit."""
    celery_app.conf.task_always_eager = True
    yield
    celery_app.conf.task_always_eager = False


def test_a_clinic_admin_chooses_the_more_sensitive_operating_point_by_clicking(
    live_server, audit_page, screenshot, clinic_with_a_history, sweep_runs_at_once
):
    page = audit_page  # audit_page: axe-core may be injected (the journey checks no policy)
    clinic, admin = clinic_with_a_history
    assert CHOSEN in OPERATING_POINTS and clinic_operating_point(clinic) != CHOSEN
    sign_in(page, live_server, "admin_ng", totp_device_for(admin))

    page.get_by_role("navigation", name="Main").get_by_role(
        "link", name="Alert calibration"
    ).click()
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Alert calibration: {clinic.name}")
    points = page.locator("tr.operating-point")
    expect(points).to_have_count(len(OPERATING_POINTS))
    # Every point has figures from the fit: a rate, not the dash of "no figure".
    expect(page.locator("tr.operating-point td").filter(has_text="%").first).to_be_visible()
    current = page.locator("tr.current-point")
    expect(current).to_have_count(1)
    expect(current).to_contain_text(clinic_operating_point(clinic))
    assert audit(page) == []
    screenshot(page, "clinic-admin-calibration")

    page.get_by_role("button", name=f"Use this operating point: {CHOSEN}", exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_contain_text(CHOSEN)
    assert audit(page) == []
    screenshot(page, "clinic-admin-calibration-confirm")
    clinic.refresh_from_db()
    assert clinic_operating_point(clinic) != CHOSEN  # asked, not yet changed
    page.get_by_role("button", name=f"Confirm: use “{CHOSEN}”").click()

    expect(page.locator(".messages")).to_contain_text(f"now uses the operating point “{CHOSEN}”")
    current = page.locator("tr.current-point")
    expect(current).to_have_count(1)
    expect(current.locator(".point-name")).to_have_text(CHOSEN)
    expect(current).to_contain_text("Current")
    screenshot(page, "clinic-admin-calibration-chosen")

    clinic.refresh_from_db()
    wanted = operating_point_settings(OPERATING_POINTS[CHOSEN])
    assert {key: getattr(clinic, key) for key in wanted} == wanted
    event = AuditEvent.objects.get(action="clinic.operating_point", clinic=clinic)
    assert event.actor == admin and event.details["operating_point"] == CHOSEN
    # The queued sweep re-evaluated every active episode with the new settings.
    curves = clinic_curve_overrides(clinic=clinic)
    fingerprint = settings_fingerprint(rule_settings(clinic=clinic, curves=curves))
    active = Episode.objects.filter(clinic=clinic, ended_on__isnull=True)
    assert active.exists()
    assert set(active.values_list("rules_fingerprint", flat=True)) == {fingerprint}
