"""The client page, "review together", the notifications page and the actions on them."""

import re
from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from audit.models import AuditEvent
from clients.models import (
    CheckIn,
    CheckInKind,
    CheckInStatus,
    EndReason,
    EventKind,
    MeasurementPlan,
    TimelineEvent,
)
from outcomes.models import (
    Administration,
    AlertNotification,
    AlertSeverity,
    AlertState,
    NotificationChannel,
    ResponseSource,
)
from tests.integration.test_dashboard_caseload import add_alert, add_score

pytestmark = pytest.mark.django_db


def page_of(client, episode, suffix=""):
    return client.get(f"/episodes/{episode.pk}/{suffix}")


def test_a_client_page_out_of_scope_is_404_for_page_review_and_every_action(client, cast):
    client.force_login(cast.therapist)
    other = cast.other_episode
    assert page_of(client, other).status_code == 404
    assert page_of(client, other, "review/").status_code == 404
    alert = add_alert(other)
    for url in (
        f"/episodes/{other.pk}/events/",
        f"/episodes/{other.pk}/plan/pause/",
        f"/episodes/{other.pk}/close/",
        f"/alerts/{alert.pk}/acknowledge/",
        f"/alerts/{alert.pk}/resolve/",
    ):
        assert client.post(url, {"action": "no_action"}).status_code == 404, url
    client.force_login(cast.outsider)
    assert page_of(client, cast.episode).status_code == 404


def test_the_client_page_shows_charts_table_and_is_audited(client, cast):
    for weeks_ago, total in ((4, 16), (3, 15), (2, 18), (1, 20)):
        add_score(cast.episode, "phq9", total, weeks_ago=weeks_ago)
        add_score(cast.episode, "gad7", total - 4, weeks_ago=weeks_ago)
    add_score(cast.episode, "session_rating", 34, weeks_ago=1)
    TimelineEvent.objects.create(
        episode=cast.episode, occurred_on=timezone.localdate() - timedelta(days=10),
        kind=EventKind.MEDICATION_CHANGE,
    )  # fmt: skip
    client.force_login(cast.therapist)
    response = page_of(client, cast.episode)
    assert response.status_code == 200
    html = response.content.decode()
    for figure_id in ("figure-phq9", "figure-gad7", "heatmap-phq9", "figure-session-rating"):
        assert f'id="{figure_id}" type="application/json"' in html
    assert "provisional default" in html
    assert "Medication change" in html
    assert "<script>" not in html and "onclick" not in html  # strict CSP: no inline script
    assert "vendor/plotly.min.js" in html
    page = response.context["page"]
    assert [panel.code for panel in page.panels] == ["phq9", "gad7"]
    assert len(page.administrations) == 9
    event = AuditEvent.objects.get(action="client.view", client=cast.client)
    assert event.actor == cast.therapist and event.details["view"] == "trajectory"


def test_a_new_client_with_one_score_gets_a_chart_and_a_plain_note(client, cast):
    add_score(cast.episode, "phq9", 17, weeks_ago=0)
    client.force_login(cast.therapist)
    html = page_of(client, cast.episode).content.decode()
    assert 'id="figure-phq9"' in html
    assert "one score so far" in html
    assert "With one score there is no trend yet" in html
    assert (
        "Your first score was <strong>17</strong>"
        in page_of(client, cast.episode, "review/").content.decode()
    )


def test_a_client_with_only_missed_checkins_gets_advice_not_an_error(client, cast):
    now = timezone.now()
    for days in (14, 7):
        CheckIn.objects.create(
            episode=cast.episode, kind=CheckInKind.SCHEDULED, due_at=now - timedelta(days=days),
            instruments=["phq9", "gad7"], status=CheckInStatus.EXPIRED,
        )  # fmt: skip
    client.force_login(cast.therapist)
    html = page_of(client, cast.episode).content.decode()
    assert "No scores yet" in html
    assert "missed 2 check-ins, the last 2 in a row" in html
    review = page_of(client, cast.episode, "review/").content.decode()
    assert "There are no answers to show yet" in review
    caseload = client.get("/").content.decode()
    assert "Missed" in caseload and "0 % completed (0/2)" in caseload


def test_an_instrument_without_a_curve_shows_scores_and_says_why(client, cast):
    for weeks_ago, total in ((2, 8), (1, 12)):
        add_score(cast.episode, "who5", total, weeks_ago=weeks_ago)
    client.force_login(cast.therapist)
    html = page_of(client, cast.episode).content.decode()
    assert 'id="figure-who5"' in html
    assert "No expected recovery curve exists for WHO-5" in html
    assert page_of(client, cast.episode, "review/").status_code == 200


def test_review_together_shows_no_alerts_no_navigation_and_no_other_client(client, cast):
    add_score(cast.episode, "phq9", 18, weeks_ago=2)
    add_score(cast.episode, "phq9", 14, weeks_ago=1)
    add_score(cast.other_episode, "phq9", 22, weeks_ago=1)
    add_alert(cast.episode, severity=AlertSeverity.URGENT)
    client.force_login(cast.therapist)
    response = page_of(client, cast.episode, "review/")
    html = response.content.decode()
    assert "You started at <strong>18</strong> and your latest score is <strong>14</strong>" in html
    assert cast.other_client.label not in html
    assert "Prompt for review." not in html and "Notifications" not in html
    assert "Lower means feeling better" in html
    assert AuditEvent.objects.filter(action="client.view", details__view="review_together").exists()


def test_adding_a_timeline_event_redirects_back_and_audits_without_the_note(client, cast):
    client.force_login(cast.therapist)
    day = timezone.localdate() - timedelta(days=3)
    response = client.post(
        f"/episodes/{cast.episode.pk}/events/",
        {"occurred_on": day.isoformat(), "kind": EventKind.MEDICATION_CHANGE, "note": "sertraline"},
    )
    assert response.status_code == 302 and response.url.endswith(
        f"/episodes/{cast.episode.pk}/#timeline"
    )
    event = TimelineEvent.objects.get(episode=cast.episode)
    assert (event.occurred_on, event.created_by) == (day, cast.therapist)
    audit = AuditEvent.objects.get(action="timeline_event.create")
    assert "sertraline" not in str(audit.details)
    future = timezone.localdate() + timedelta(days=2)
    client.post(f"/episodes/{cast.episode.pk}/events/",
                {"occurred_on": future.isoformat(), "kind": EventKind.OTHER})  # fmt: skip
    assert TimelineEvent.objects.filter(episode=cast.episode).count() == 1


def test_get_never_changes_state(client, cast):
    client.force_login(cast.therapist)
    for url in (f"/episodes/{cast.episode.pk}/plan/pause/", f"/episodes/{cast.episode.pk}/close/"):
        assert client.get(url).status_code == 405


def test_pause_resume_and_end_the_measurement_plan(client, cast):
    plan = MeasurementPlan.objects.create(episode=cast.episode)
    client.force_login(cast.therapist)
    base = f"/episodes/{cast.episode.pk}/plan/"
    client.post(base + "pause/")
    plan.refresh_from_db()
    assert plan.paused_at is not None
    assert "Resume check-ins" in page_of(client, cast.episode).content.decode()
    client.post(base + "resume/")
    plan.refresh_from_db()
    assert plan.paused_at is None
    client.post(base + "end/")
    plan.refresh_from_db()
    assert plan.ended_at is not None
    assert client.post(base + "explode/").status_code == 404


def test_closing_the_episode_ends_the_plan_and_takes_it_off_the_caseload(client, cast):
    plan = MeasurementPlan.objects.create(episode=cast.episode)
    client.force_login(cast.therapist)
    response = client.post(
        f"/episodes/{cast.episode.pk}/close/",
        {"ended_on": timezone.localdate().isoformat(), "end_reason": EndReason.PLANNED},
    )
    assert response.status_code == 302
    cast.episode.refresh_from_db()
    plan.refresh_from_db()
    assert cast.episode.ended_on == timezone.localdate() and plan.ended_at is not None
    assert client.get("/").context["rows"] == []
    # Still readable afterwards, without the in-session entry or close form.
    html = page_of(client, cast.episode).content.decode()
    assert "Episode closed" in html and "Close the episode" not in html


def test_closing_with_an_end_before_the_start_is_refused_with_the_reason(client, cast):
    client.force_login(cast.therapist)
    before = cast.episode.started_on - timedelta(days=1)
    response = client.post(
        f"/episodes/{cast.episode.pk}/close/",
        {"ended_on": before.isoformat(), "end_reason": EndReason.PLANNED},
        follow=True,
    )
    assert "cannot be before the start" in response.content.decode()
    cast.episode.refresh_from_db()
    assert cast.episode.ended_on is None


def test_the_notifications_page_lists_open_alerts_urgent_first_and_the_badge_counts_them(
    client, cast
):
    warning = add_alert(cast.episode, trigger="w")
    urgent = add_alert(cast.episode, severity=AlertSeverity.URGENT, trigger="u")
    add_alert(cast.episode, state=AlertState.RESOLVED, trigger="r")
    add_alert(cast.other_episode, trigger="o")
    client.force_login(cast.therapist)
    response = client.get("/alerts/")
    assert [a.pk for a in response.context["new_alerts"]] == [urgent.pk, warning.pk]
    html = response.content.decode()
    assert cast.other_client.label not in html
    assert '<span class="badge"><span class="visually-hidden">: new alerts </span>2</span>' in html


def test_an_escalated_alert_appears_for_the_supervisor_it_was_sent_to(client, cast):
    alert = add_alert(cast.episode, severity=AlertSeverity.URGENT)
    alert.escalation_level = 1
    alert.escalated_at = datetime(2026, 3, 4, 9, 30, tzinfo=UTC)
    alert.save()
    AlertNotification.objects.create(
        alert=alert, recipient=cast.supervisor, channel=NotificationChannel.IN_APP,
        kind=AlertNotification.Kind.ESCALATION,
    )  # fmt: skip
    client.force_login(cast.supervisor)
    response = client.get("/alerts/")
    assert [a.pk for a in response.context["new_alerts"]] == [alert.pk]
    html = response.content.decode()
    # When it escalated, so the supervisor can see how long it waited.
    expected = '<time datetime="2026-03-04T09:30:00+00:00">4 Mar, 09:30</time>'
    assert f"Escalated to the supervisor {expected}" in html


def test_acknowledge_then_resolve_from_the_notifications_page_and_it_leaves_the_list(client, cast):
    alert = add_alert(cast.episode, severity=AlertSeverity.URGENT)
    client.force_login(cast.therapist)
    response = client.post(f"/alerts/{alert.pk}/acknowledge/", {"next": "/alerts/"})
    assert response.status_code == 302 and response.url == "/alerts/"
    alert.refresh_from_db()
    assert alert.state == AlertState.ACKNOWLEDGED and alert.acknowledged_by == cast.therapist
    listed = client.get("/alerts/").context
    assert listed["new_alerts"] == [] and listed["acknowledged_alerts"] == [alert]

    client.post(
        f"/alerts/{alert.pk}/resolve/",
        {"action": "contacted_client", "note": "Phoned; safe; extra session Thursday.",
         "next": "/alerts/"},
    )  # fmt: skip
    alert.refresh_from_db()
    assert alert.state == AlertState.RESOLVED and alert.action == "contacted_client"
    listed = client.get("/alerts/").context
    assert listed["new_alerts"] == [] and listed["acknowledged_alerts"] == []
    assert AuditEvent.objects.filter(action="alert.resolve", object_id=str(alert.pk)).exists()
    # Shown in the client's history, not among the alerts needing action.
    page = page_of(client, cast.episode)
    assert page.context["open_alerts"] == [] and page.context["past_alerts"] == [alert]


def test_resolving_needs_an_action_and_a_second_acknowledge_says_why_it_failed(client, cast):
    alert = add_alert(cast.episode)
    client.force_login(cast.therapist)
    response = client.post(f"/alerts/{alert.pk}/resolve/", {"note": "x"}, follow=True)
    alert.refresh_from_db()
    assert alert.state == AlertState.OPEN
    assert "This field is required." in response.content.decode()
    client.post(f"/alerts/{alert.pk}/acknowledge/")
    response = client.post(f"/alerts/{alert.pk}/acknowledge/", follow=True)
    assert "Only an open alert can be acknowledged" in response.content.decode()


def test_an_offsite_next_is_ignored(client, cast):
    alert = add_alert(cast.episode)
    client.force_login(cast.therapist)
    response = client.post(f"/alerts/{alert.pk}/acknowledge/", {"next": "https://evil.example/"})
    assert response.url == f"/episodes/{cast.episode.pk}/"


def test_alerts_of_a_closed_episode_leave_the_notifications_and_the_badge(client, cast):
    alert = add_alert(cast.episode)
    client.force_login(cast.therapist)
    assert client.get("/alerts/").context["new_alerts"] == [alert]
    cast.episode.ended_on = timezone.localdate()
    cast.episode.save()
    response = client.get("/alerts/")
    assert response.context["new_alerts"] == []
    assert 'class="badge"' not in response.content.decode()


# --- "Review together": the dashed line's footnote (audit finding 5) ----------------------------

DASHED_LINE_NOTE = "The dashed line shows where people who started at a similar level"


def review_html(client, cast) -> str:
    client.force_login(cast.therapist)
    return page_of(client, cast.episode, "review/").content.decode()


def test_the_review_page_explains_the_dashed_line_and_calls_a_default_a_first_estimate(
    client, cast
):
    for weeks_ago, total in ((3, 18), (2, 15), (1, 13)):
        add_score(cast.episode, "phq9", total, weeks_ago=weeks_ago)
    html = review_html(client, cast)
    assert DASHED_LINE_NOTE in html
    assert "It is a first estimate" in html
    assert "(a first estimate)" in html  # the line's own name in the chart's legend


@pytest.mark.parametrize(
    "code, totals",
    [("phq9", (6, 4)), ("who5", (8, 12)), ("k10", (30, 24))],
    ids=["below-caseness", "who5", "k10"],
)
def test_the_review_page_says_nothing_of_a_dashed_line_it_does_not_draw(client, cast, code, totals):
    for weeks_ago, total in zip((2, 1), totals, strict=True):
        if code == "k10":  # items run 1-5, which add_score's answers do not
            Administration.objects.create(
                episode=cast.episode, instrument="k10",
                administered_at=timezone.now() - timedelta(weeks=weeks_ago),
                answers=[total // 10] * 10, total=total, source=ResponseSource.LINK,
            )  # fmt: skip
        else:
            add_score(cast.episode, code, total, weeks_ago=weeks_ago)
    html = review_html(client, cast)
    assert "You started at" in html and 'class="plot plot-review"' in html  # a chart is shown
    assert DASHED_LINE_NOTE not in html and "first estimate" not in html


def test_the_review_page_without_scores_has_no_dashed_line_note(client, cast):
    html = review_html(client, cast)
    assert "There are no answers to show yet" in html and DASHED_LINE_NOTE not in html


def test_an_alert_card_says_why_in_the_caseloads_words_not_the_rules_name(client, cast):
    # The client's status is "Off track"; a card titled "Not on track" beside it read as a
    # contradiction. The card names the reason as the caseload row does.
    alert = add_alert(cast.episode, severity=AlertSeverity.HIGH)
    alert.instrument = "phq9"
    alert.administration = add_score(cast.episode, "phq9", 18, weeks_ago=1)
    alert.save(update_fields=["instrument", "administration"])
    client.force_login(cast.therapist)
    response = page_of(client, cast.episode)
    for html in (response.content.decode(), client.get("/alerts/").content.decode()):
        title = re.search(rf'id="alert-{alert.pk}-title"[^>]*>(.*?)</h3>', html, re.S).group(1)
        assert title.endswith("Worse than expected on PHQ-9")
    chart = response.context["page"].panels[0].figure
    marker = next(trace for trace in chart["data"] if trace.get("name") == "Alert")
    assert marker["text"] == ["Worse than expected on PHQ-9"]


def test_a_client_reliably_worse_into_the_clinical_range_is_described_not_called_harmed(
    client, cast
):
    add_score(cast.episode, "phq9", 4, weeks_ago=3)
    add_score(cast.episode, "phq9", 16, weeks_ago=1)
    client.force_login(cast.therapist)
    html = page_of(client, cast.episode).content.decode()
    assert "(worse, now in the clinical range)" in html
    assert "harmed" not in html


def test_a_long_status_reason_and_alert_message_are_kept_whole(client, cast):
    """They were cut at 300 characters, mid-word ("…PHQ-9 rose from 16 at intake")."""
    from outcomes.models import AlertRule, AlertSeverity
    from outcomes.services import alert_raise

    reason = "PHQ-9 above the expected curve for three weeks. " * 8 + "Review together."
    cast.episode.status_reason = reason
    cast.episode.save()
    alert, _ = alert_raise(
        episode=cast.episode,
        rule=AlertRule.NOT_ON_TRACK,
        trigger="long",
        severity=AlertSeverity.WARNING,
        message=reason,
    )
    alert.refresh_from_db()
    assert len(reason) > 300 and alert.message == reason
    client.force_login(cast.therapist)
    html = client.get(f"/episodes/{cast.episode.pk}/").content.decode()
    assert "three weeks. Review together." in html
