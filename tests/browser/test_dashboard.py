"""The therapist's day in headless Chromium, on the seeded demo clinic: log in, see the client at
risk at the top of the caseload, open them, see the chart drawn, act on an alert.

Screenshots of the caseload and the client page at desktop (1366 px) and tablet (820 px) widths
are written to var/screenshots/ (linked from the README).
"""

import re

import pytest
from django.core.management import call_command

from clients.models import Episode
from outcomes.models import Alert, AlertSeverity, AlertState

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

PASSWORD = "demo-password-2026"
TABLET = {"width": 820, "height": 1180}


@pytest.fixture
def demo_clinic():
    call_command("seed_demo", clients=40, verbosity=0)


def _therapist_with_a_client_at_risk() -> tuple[str, set[str]]:
    """The seeded therapist carrying an active client with an unresolved urgent (risk) alert,
    and the labels of all such clients of theirs."""
    urgent = (
        Alert.objects.filter(
            severity=AlertSeverity.URGENT,
            state__in=(AlertState.OPEN, AlertState.ACKNOWLEDGED),
            episode__ended_on__isnull=True,
        )
        .select_related("episode__therapist", "episode__client")
        .order_by("episode__therapist__username")
    )
    first = urgent.first()
    assert first is not None, "the demo clinic seeds clients who endorse the risk item"
    therapist = first.episode.therapist
    labels = {
        alert.episode.client.label for alert in urgent if alert.episode.therapist == therapist
    }
    return therapist.username, labels


def _log_in(page, live_server, username):
    page.goto(f"{live_server.url}/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(f"{live_server.url}/")


def _wait_for_plots(page, count_at_least=1):
    page.wait_for_function(
        "n => [...document.querySelectorAll('.js-plotly-plot')]"
        ".filter(el => el.data && el.data.length > 0).length >= n",
        arg=count_at_least,
    )


def test_the_therapist_sees_the_client_at_risk_first_opens_the_chart_and_resolves_the_alert(
    live_server, page, screenshot, demo_clinic
):
    username, at_risk = _therapist_with_a_client_at_risk()
    csp_violations = []
    page.on(
        "console",
        lambda message: (
            csp_violations.append(message.text)
            if "Content Security Policy" in message.text
            else None
        ),
    )
    _log_in(page, live_server, username)

    # The caseload: the client with the urgent alert is the first row, shown with word and shape.
    rows = page.locator("tr.caseload-row")
    assert (
        rows.count()
        == Episode.objects.filter(therapist__username=username, ended_on__isnull=True).count()
    )
    first = rows.first
    assert first.get_attribute("data-label") in at_risk
    assert "urgent" in first.locator(".cell-alerts").inner_text()
    assert page.locator(".nav-alerts .badge").is_visible()
    screenshot(page, "dashboard-desktop")
    # Every column is in view, at a desktop and at a small laptop's width: none scrolls sideways
    # out of sight (the alerts column, the last, would be the one lost).
    for width in (1366, 1024):
        page.set_viewport_size({"width": width, "height": 900})
        overflow = page.evaluate(
            "() => { const wrap = document.querySelector('.table-wrap');"
            " return wrap.scrollWidth - wrap.clientWidth; }"
        )
        assert overflow <= 0, f"the caseload table is {overflow} px too wide at {width} px"
    page.set_viewport_size(TABLET)
    screenshot(page, "dashboard-tablet")
    page.set_viewport_size({"width": 1366, "height": 900})

    # The client page: the trajectory charts are drawn by plotly from the JSON on the page.
    label = first.get_attribute("data-label")
    first.locator("a.client-link").click()
    page.wait_for_url(re.compile(r"/episodes/\d+/$"))
    assert page.get_by_role("heading", name=label, level=1).is_visible()
    _wait_for_plots(page, 2)
    scores = page.evaluate(
        "() => document.querySelector('.js-plotly-plot').data"
        ".find(t => t.name && t.name.endsWith(' score')).y.length"
    )
    assert scores >= 1
    assert page.locator(".js-plotly-plot .scatterlayer .trace").count() > 0
    screenshot(page, "client-desktop")
    page.set_viewport_size(TABLET)
    page.reload()  # lay the page out at tablet width from the start, as a tablet would
    _wait_for_plots(page, 2)
    screenshot(page, "client-tablet")
    page.set_viewport_size({"width": 1366, "height": 900})

    # Acknowledge the urgent alert at the top, then resolve it with the action taken.
    card = page.locator("#alerts .alert-card.severity-urgent").first
    alert_id = int(card.get_attribute("data-alert-id"))
    card.get_by_role("button", name="Acknowledge").click()
    page.wait_for_load_state()
    assert page.get_by_text("acknowledged.").first.is_visible()
    card = page.locator(f'.alert-card[data-alert-id="{alert_id}"]')
    assert "Acknowledged by" in card.inner_text()
    card.get_by_label("Action taken").select_option("safety_plan")
    card.get_by_label("Note").fill("Called the client; safety plan reviewed together.")
    card.get_by_role("button", name="Resolve alert").click()
    page.wait_for_load_state()
    assert page.get_by_text("resolved.").first.is_visible()
    assert page.locator(f'#alerts .alert-card[data-alert-id="{alert_id}"]').count() == 0

    alert = Alert.objects.get(pk=alert_id)
    assert alert.state == AlertState.RESOLVED and alert.action == "safety_plan"

    # It has left the open list on the notifications page too.
    page.get_by_role("link", name=re.compile("^Notifications")).click()
    page.wait_for_url(f"{live_server.url}/alerts/")
    assert page.locator(f'.alert-card[data-alert-id="{alert_id}"]').count() == 0

    # "Review together": a large chart for the client, without the staff navigation or alerts.
    page.goto(f"{live_server.url}/episodes/{alert.episode_id}/review/")
    _wait_for_plots(page)
    assert page.get_by_text("Your progress").first.is_visible()
    assert page.locator("nav[aria-label=Main]").count() == 0
    assert page.locator(".alert-card").count() == 0
    screenshot(page, "review-together-desktop")
    assert csp_violations == []
