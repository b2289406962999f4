"""The staff navigation by role: each user is shown the pages they can open, and nothing before
the second factor is verified."""

import re

import pytest
from django.contrib.auth import get_user_model

from outcomes.models import AlertSeverity
from tests.auth import login_verified, totp_device_for
from tests.integration.test_dashboard_caseload import add_alert

pytestmark = pytest.mark.django_db

NAV = re.compile(r'<nav aria-label="Main">(.*?)</nav>', re.S)
LINK = re.compile(r'<a href="([^"]+)" class="nav-[a-z]+"[^>]*>([^<]+)')


def nav_links(response) -> dict[str, str]:
    """Label → URL of the links in the main navigation."""
    (nav,) = NAV.findall(response.content.decode())
    return {label.strip(): url for url, label in LINK.findall(nav)}


@pytest.mark.parametrize(
    "who, labels",
    [
        ("therapist", ["Caseload", "Notifications", "Account"]),
        ("supervisor", ["Caseload", "Notifications", "Reports", "Account"]),
        (
            "admin",
            ["Caseload", "Notifications", "Reports", "Alert calibration", "Audit log", "Account"],
        ),
    ],
)
def test_each_role_is_shown_the_pages_it_may_open_and_each_opens(client, cast, who, labels):
    client.force_login(getattr(cast, who))
    links = nav_links(client.get("/alerts/"))
    assert list(links) == labels
    for url in links.values():
        assert client.get(url).status_code == 200, url


def test_the_admin_and_the_demo_outbox_are_for_superusers_only(client, cast, settings):
    settings.SHOW_LOCAL_OUTBOX = True
    cast.admin.is_staff = True  # staff, even: the outbox holds every clinic's mail
    cast.admin.save()
    client.force_login(cast.admin)
    assert "Admin" not in nav_links(client.get("/alerts/"))
    assert "Outbox (demo)" not in nav_links(client.get("/alerts/"))
    assert client.get("/outbox/").status_code == 404

    root = get_user_model().objects.create_superuser("root", password="pw-Root-12345")
    login_verified(client, root)
    links = nav_links(client.get("/alerts/"))
    assert links["Admin"] == "/admin/" and links["Outbox (demo)"] == "/outbox/"
    assert client.get("/outbox/").status_code == 200
    settings.SHOW_LOCAL_OUTBOX = False
    assert "Outbox (demo)" not in nav_links(client.get("/alerts/"))


def test_the_page_being_shown_is_marked_current(client, cast):
    client.force_login(cast.admin)
    html = client.get("/reports/").content.decode()
    assert re.search(r'class="nav-reports" aria-current="page"', html)
    assert 'class="nav-caseload" aria-current' not in html


@pytest.mark.mfa
def test_before_the_second_factor_the_navigation_shows_nothing_not_even_the_alert_count(
    client, cast
):
    add_alert(cast.episode, severity=AlertSeverity.URGENT)
    totp_device_for(cast.therapist)
    client.force_login(cast.therapist)  # password accepted, second factor not yet given
    page = client.get("/accounts/mfa/verify/?next=/")
    assert page.status_code == 200
    assert nav_links(page) == {}
    assert 'class="badge"' not in page.content.decode()

    login_verified(client, cast.therapist)
    page = client.get("/alerts/")
    assert list(nav_links(page)) == ["Caseload", "Notifications", "Account"]
    assert 'class="badge"' in page.content.decode()


@pytest.mark.parametrize(
    "who, shown", [("admin", True), ("supervisor", False), ("therapist", False)]
)
def test_only_a_clinic_admin_is_offered_the_client_privacy_page(client, cast, who, shown):
    client.force_login(getattr(cast, who))
    html = client.get(f"/episodes/{cast.episode.pk}/").content.decode()
    privacy_url = f"/privacy/clients/{cast.client.pk}/"
    assert (privacy_url in html) is shown
    assert client.get(privacy_url).status_code == (200 if shown else 404)
