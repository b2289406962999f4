import pytest

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_therapist_logs_in_and_lands_on_the_caseload(live_server, page):
    from tests.factories import make_clinic, make_staff

    clinic = make_clinic()
    make_staff(clinic, username="dr_lee", password="a-Long-pass-2026")
    page.goto(f"{live_server.url}/login/")
    page.get_by_label("Username").fill("dr_lee")
    page.get_by_label("Password").fill("a-Long-pass-2026")
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(f"{live_server.url}/")
    assert page.get_by_role("heading", name="My caseload").is_visible()
