"""The clinic admin's other pages, reached by clicks from where they land: import clients from a
CSV file (checked first, then for real), a client's privacy page, and the audit log that records
both."""

import pytest
from playwright.sync_api import expect

from clients.models import Client, Role
from tests.auth import totp_device_for
from tests.browser.test_onboarding_journeys import PASSWORD, sign_in
from tests.factories import make_clinic, make_staff, make_team

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.mfa, pytest.mark.slow]


def test_a_clinic_admin_imports_clients_opens_a_privacy_page_and_reads_the_audit_log(
    live_server, page, screenshot, tmp_path
):
    clinic = make_clinic("Riverside Therapies")
    make_staff(clinic, teams=[make_team(clinic, "Team A")], username="dr_lee")
    admin = make_staff(clinic, role=Role.ADMIN, username="admin_ng", password=PASSWORD)
    csv = tmp_path / "clients.csv"
    csv.write_text("label,therapist\nC-0201,dr_lee\nC-0202,dr_lee\n", encoding="utf-8")
    sign_in(page, live_server, "admin_ng", totp_device_for(admin))

    page.get_by_role("link", name="Add client").click()
    page.get_by_role("link", name="Import a CSV file").click()
    page.get_by_label("CSV file").set_input_files(str(csv))
    page.get_by_label("Only check the file (create nothing)").check()
    page.get_by_role("button", name="Import").click()
    expect(page.get_by_text("The file is valid: 2 clients to add.")).to_be_visible()
    assert not Client.objects.exists()
    page.get_by_label("CSV file").set_input_files(str(csv))
    page.get_by_role("button", name="Import").click()
    expect(page.get_by_text("2 clients added.")).to_be_visible()
    assert set(Client.objects.values_list("label", flat=True)) == {"C-0201", "C-0202"}

    page.get_by_role("link", name="C-0201").click()
    page.get_by_role("link", name="Privacy: export or erase").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("C-0201")
    screenshot(page, "clinic-admin-privacy")

    page.get_by_role("link", name="Audit log").click()
    expect(page.get_by_role("heading", name="Audit log", level=1)).to_be_visible()
    expect(page.get_by_role("cell", name="client.create").first).to_be_visible()
    screenshot(page, "clinic-admin-audit-log")
