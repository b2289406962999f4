"""The supervisors' outcome report page: who sees what, and the figures it shows."""

from datetime import date, timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from audit.models import AuditEvent
from clients.models import CheckInStatus
from dashboards import report_charts
from tests.report_support import (
    PERIOD_END,
    PERIOD_START,
    at,
    checkin,
    finished_episode,
    south_and_north,
    urgent_alert,
)

pytestmark = pytest.mark.django_db

PERIOD = {"start": PERIOD_START.isoformat(), "end": PERIOD_END.isoformat()}


def report(client, user, **params):
    client.force_login(user)
    return client.get(reverse("reports:report"), {**PERIOD, **params})


def row(report_object, label):
    return next(row for row in report_object.clinicians if row.label == label)


def test_a_supervisor_sees_only_the_clinicians_of_their_teams(client, cast):
    finished_episode(cast.clinic, cast.therapist)
    finished_episode(cast.clinic, cast.other_therapist)
    response = report(client, cast.supervisor)
    assert response.status_code == 200
    labels = [row.label for row in response.context["report"].clinicians]
    assert "therapist" in labels
    assert "other_therapist" not in labels
    assert [team.label for team in response.context["report"].teams] == ["Team A"]
    assert response.context["report"].total.ended == 1


def test_a_clinic_admin_sees_every_team(client, cast):
    finished_episode(cast.clinic, cast.therapist)
    finished_episode(cast.clinic, cast.other_therapist)
    response = report(client, cast.admin)
    assert [team.label for team in response.context["report"].teams] == ["Team A", "Team B"]
    assert response.context["report"].total.ended == 2


@pytest.mark.parametrize("who", ["therapist", "other_therapist", "outsider"])
def test_therapists_and_outsiders_get_not_found(client, cast, who):
    assert report(client, getattr(cast, who)).status_code == 404


def test_a_supervisor_cannot_pick_a_team_they_do_not_supervise(client, cast):
    assert report(client, cast.supervisor, team=cast.team_b.pk).status_code == 404
    assert report(client, cast.admin, team=cast.team_b.pk).status_code == 200


def test_another_clinics_slug_is_not_found(client, cast):
    assert report(client, cast.admin, clinic=cast.other_clinic.slug).status_code == 404


def test_signed_out_visitors_are_sent_to_log_in(client):
    response = client.get(reverse("reports:report"))
    assert response.status_code == 302
    assert reverse("login") in response["Location"]


def test_rates_on_fewer_than_ten_episodes_are_suppressed(client, cast):
    for _ in range(9):
        finished_episode(cast.clinic, cast.therapist)
    response = report(client, cast.admin)
    total = response.context["report"].total
    assert total.finished == 9
    assert total.recovery.suppressed and total.recovery.value is None
    assert total.effect_phq9.suppressed
    assert "n&nbsp;&lt;&nbsp;10" in response.content.decode()


def test_recovery_and_reliable_change_follow_talking_therapies(client, cast):
    # 8 recover (16/12 -> 6/5), 2 improve reliably but stay cases (18/14 -> 11/9),
    # 1 deteriorates (12/9 -> 19/14), 1 is no case at the start (5/4 -> 3/3).
    for _ in range(8):
        finished_episode(cast.clinic, cast.therapist)
    for _ in range(2):
        finished_episode(cast.clinic, cast.therapist, first=(18, 14), last=(11, 9))
    finished_episode(cast.clinic, cast.therapist, first=(12, 9), last=(19, 14))
    finished_episode(cast.clinic, cast.therapist, first=(5, 4), last=(3, 3))
    therapist = row(report(client, cast.admin).context["report"], "therapist")
    assert therapist.finished == 12 and therapist.paired == 12 and therapist.cases == 11
    assert (therapist.recovery.numerator, therapist.recovery.denominator) == (8, 11)
    assert therapist.reliable_improvement.numerator == 10
    assert therapist.reliable_deterioration.numerator == 1
    assert therapist.reliable_recovery.numerator == 8
    assert therapist.effect_phq9.shown and therapist.effect_phq9.d > 0
    low, high = therapist.recovery.interval
    assert low < 8 / 11 < high


def test_episodes_with_one_attended_session_are_not_finished_and_count_as_dropouts(client, cast):
    for _ in range(10):
        finished_episode(cast.clinic, cast.therapist, sessions=1)
    for _ in range(10):
        finished_episode(cast.clinic, cast.therapist, end_reason="unplanned")
    total = report(client, cast.admin).context["report"].total
    assert total.ended == 20 and total.finished == 10
    assert (total.dropout.numerator, total.dropout.denominator) == (20, 20)
    assert total.recovery.denominator == 10


def test_only_same_day_pairs_count_and_an_unpaired_episode_has_no_outcome(client, cast):
    from tests.report_support import add_pair

    episode = finished_episode(cast.clinic, cast.therapist, first=None, last=None)
    add_pair(episode, episode.started_on, 20, 15)
    # The last PHQ-9 has no GAD-7 on its day: the last pair is the one before it.
    add_pair(episode, episode.started_on + timedelta(days=14), 9, 6)
    from outcomes.models import Administration

    Administration.objects.create(
        episode=episode,
        instrument="phq9",
        administered_at=at(episode.ended_on - timedelta(days=1)),
        answers=[],
        total=25,
        source="paper",
    )
    finished_episode(cast.clinic, cast.therapist, last=None)
    from dashboards.report_selectors import ReportPeriod, report_frames, report_scope

    scope = report_scope(user=cast.admin)
    frames = report_frames(scope=scope, period=ReportPeriod(PERIOD_START, PERIOD_END))
    scores = frames.episodes.set_index("episode_id").loc[episode.pk]
    assert (scores.phq9_first, scores.gad7_first) == (20, 15)
    assert (scores.phq9_last, scores.gad7_last) == (9, 6)
    assert frames.episodes["phq9_last"].isna().sum() == 1


def test_completion_rate_and_caseload(client, cast):
    for index in range(10):
        episode = finished_episode(cast.clinic, cast.therapist, ended_on=date(2026, 9, 1))
        checkin(episode, sent_on=date(2026, 2, 1), completed=index < 7)
        checkin(episode, sent_on=date(2025, 6, 1), completed=True)  # before the period
    therapist = row(report(client, cast.admin).context["report"], "therapist")
    assert therapist.caseload == 10  # still open at the end of the period
    assert (therapist.completion.numerator, therapist.completion.denominator) == (7, 10)
    assert therapist.completion.value == pytest.approx(0.7)


def test_pending_and_cancelled_checkins_do_not_count_against_completion(client, cast):
    # The caseload's definition: completed / (completed + missed).
    for index in range(10):
        episode = finished_episode(cast.clinic, cast.therapist, ended_on=date(2026, 9, 1))
        checkin(episode, sent_on=date(2026, 2, 1), completed=index < 7)
        checkin(episode, sent_on=date(2026, 6, 29), status=CheckInStatus.PENDING)
        checkin(episode, sent_on=date(2026, 3, 1), status=CheckInStatus.CANCELLED)
    response = report(client, cast.admin)
    therapist = row(response.context["report"], "therapist")
    assert therapist.checkins_sent == 30 and therapist.checkins_missed == 3
    assert (therapist.completion.numerator, therapist.completion.denominator) == (7, 10)
    assert "completed / (completed + missed)" in response.content.decode()


def test_only_episodes_with_a_closed_checkin_count_towards_the_completion_threshold(client, cast):
    for index in range(10):
        episode = finished_episode(cast.clinic, cast.therapist, ended_on=date(2026, 9, 1))
        if index < 9:
            checkin(episode, sent_on=date(2026, 2, 1), completed=True)
        else:
            checkin(episode, sent_on=date(2026, 6, 29), status=CheckInStatus.PENDING)
    therapist = row(report(client, cast.admin).context["report"], "therapist")
    assert therapist.completion.episodes == 9 and therapist.completion.suppressed


def test_median_time_to_acknowledge_urgent_alerts(client, cast):
    raised = at(date(2026, 2, 1))
    for index, hours in enumerate((1, 2, 10)):
        urgent_alert(
            cast.episode,
            raised=raised,
            acknowledged=raised + timedelta(hours=hours),
            trigger=f"a{index}",
        )
    urgent_alert(cast.episode, raised=raised, acknowledged=None, trigger="open")
    response = report(client, cast.admin)
    therapist = row(response.context["report"], "therapist")
    assert therapist.urgent_alerts == 4 and therapist.urgent_acknowledged == 3
    assert therapist.median_hours_to_acknowledge == pytest.approx(2)
    # The median leaves out the open one and hides the slow one: both are shown beside it.
    assert therapist.urgent_unacknowledged == 1
    assert therapist.urgent_acknowledged_late == 1  # 10 h, past the clinic's 4 h window
    html = response.content.decode()
    assert "1 not acknowledged" in html and "1 after 4 h" in html


def test_charts_travel_as_json_and_the_page_has_no_inline_script(client, cast):
    for _ in range(10):
        finished_episode(cast.clinic, cast.therapist)
    html = report(client, cast.admin).content.decode()
    assert 'id="figure-rates" type="application/json"' in html
    assert 'id="figure-funnel" type="application/json"' in html
    scripts = [part.split(">", 1)[0] for part in html.split("<script")[1:]]
    assert all("src=" in tag or 'type="application/json"' in tag for tag in scripts)
    assert "National reference" in html


def test_viewing_the_report_is_audited(client, cast):
    report(client, cast.supervisor)
    event = AuditEvent.objects.get(action="report.view")
    assert event.actor == cast.supervisor and event.clinic == cast.clinic
    assert event.details["start"] == PERIOD["start"]


# --- suppression: the funnel and complementary suppression (audit finding 1) ----------------------


def test_the_funnel_does_not_show_what_n_lt_10_hides(client, cast):
    south_and_north(cast.clinic, north=cast.therapist, south=cast.other_therapist)
    response = report(client, cast.admin, team=cast.team_b.pk)
    result = response.context["report"]
    assert result.total.recovery.suppressed and result.total.cases == 5
    stages = {stage.label: stage for stage in result.funnel_stages}
    assert stages["Case at start, paired scores"].shown_count == 5  # base: 10 finished
    recovered = stages["Recovered"]
    assert recovered.suppressed and recovered.shown_count is None
    assert recovered.percent_of_base is None
    html = response.content.decode()
    assert "Recovered 3" not in html
    assert 'Recovered <span class="suppressed">n&nbsp;&lt;&nbsp;10</span>' in html
    # The plotly figure carries neither the count nor plotly's own percentages.
    trace = report_charts.funnel_figure(result)["data"][0]
    assert trace["x"][-1] is None and trace["text"][-1] == "n < 10"
    assert trace["textinfo"] == "text" and "percent" not in trace.get("hovertemplate", "")
    assert trace["text"][3] == "5 (50 % of 10)"
    svg = report_charts.funnel_svg(result)
    assert svg.endswith(
        '<text x="0" y="122">Recovered</text><text x="566" y="122">n &lt; 10</text></svg>'
    )
    assert '<text x="566" y="122">3' not in svg


def test_the_funnels_recovered_share_is_the_tables_recovery_rate_with_its_denominator(client, cast):
    for _ in range(10):
        finished_episode(cast.clinic, cast.therapist)
    for _ in range(2):
        finished_episode(cast.clinic, cast.therapist, last=(16, 12))  # still a case
    for _ in range(3):
        finished_episode(cast.clinic, cast.therapist, sessions=1)  # ended, not finished
    response = report(client, cast.admin)
    result = response.context["report"]
    assert (result.total.recovery.numerator, result.total.recovery.denominator) == (10, 12)
    trace = report_charts.funnel_figure(result)["data"][0]
    # 10 of 12 cases, as in the table; not 10 of the 15 referrals that ended (67 %).
    assert trace["text"][-1] == "10 (83 % of 12)"
    assert "Each percentage is of the stage before it" in response.content.decode()


def test_a_suppressed_team_cannot_be_recovered_by_subtraction_from_the_total(client, cast):
    south_and_north(cast.clinic, north=cast.therapist, south=cast.other_therapist)
    response = report(client, cast.admin)
    result = response.context["report"]
    assert (result.total.recovery.numerator, result.total.recovery.denominator) == (6, 18)
    assert not result.total.recovery.suppressed
    teams = {team.label: team for team in result.teams}
    assert teams["Team B"].recovery.too_few
    assert teams["Team A"].recovery.withheld and teams["Team A"].recovery.value is None
    clinicians = {clinician.label: clinician for clinician in result.clinicians}
    assert clinicians["therapist"].recovery.withheld
    html = response.content.decode()
    # Recovery and reliable recovery are hidden for both teams and both clinicians (3/13 is
    # Team A's reliable improvement, on 13 paired episodes, and stays).
    assert "6/18" in html and "3/5" not in html
    assert teams["Team A"].reliable_recovery.withheld
    assert html.count(">withheld</span>") == 4
    assert "cannot be worked out" in html
    # Reliable improvement rests on 13 and 10 paired episodes: shown for both, nothing withheld.
    assert not teams["Team A"].reliable_improvement.suppressed
    assert not teams["Team B"].reliable_improvement.suppressed
    # The chart leaves withheld clinicians out as it does suppressed ones.
    rates = report_charts.rates_figure(result)["data"][0]
    assert "therapist" not in rates["x"]


# --- the period (audit finding 3) ----------------------------------------------------------------


@pytest.mark.parametrize(
    "start, end, message",
    [
        ("2026-01-01", "9999-12-31", "Choose dates between 1 January 1990 and"),
        ("0001-01-01", "2026-01-01", "Choose dates between 1 January 1990 and"),
        ("1989-12-31", "2026-01-01", "Choose dates between 1 January 1990 and"),
        ("2026-03-01", "2026-02-01", "The period must start before it ends."),
    ],
)
def test_an_impossible_period_is_a_form_error_not_a_server_error(client, cast, start, end, message):
    client.force_login(cast.admin)
    response = client.get(reverse("reports:report"), {"start": start, "end": end})
    assert response.status_code == 200
    assert response.context["form"].errors
    html = response.content.decode()
    assert message in html and "the last 12 months) instead" in html
    assert response.context["period"].end == timezone.localdate()  # the default instead


def test_a_period_up_to_a_year_ahead_is_accepted(client, cast):
    ahead = (timezone.localdate() + timedelta(days=365)).isoformat()
    response = report(client, cast.admin, start="1990-01-01", end=ahead)
    assert response.status_code == 200 and not response.context["form"].errors
    assert response.context["period"].end.isoformat() == ahead


def test_the_report_and_the_caseload_count_completion_the_same_way(client, cast):
    from dashboards.selectors import caseload_rows

    statuses = ("completed",) * 3 + ("expired", "pending", "pending", "cancelled")
    for day, status in enumerate(statuses, start=1):
        checkin(cast.episode, sent_on=date(2026, 2, day), status=status)
    therapist = row(report(client, cast.admin).context["report"], "therapist")
    (caseload,) = caseload_rows(user=cast.therapist)
    assert (therapist.completion.numerator, therapist.completion.denominator) == (3, 4)
    assert caseload.completion_rate == pytest.approx(3 / 4)


# --- the API serves what the page shows, no more ----------------------------------------------


def test_the_api_report_leaves_out_what_suppression_hides(cast):
    from tests.integration.test_api import api_as

    south_and_north(cast.clinic, north=cast.therapist, south=cast.other_therapist)
    response = api_as(cast.admin).get("/api/v1/reports/outcomes/", PERIOD)
    assert response.status_code == 200, response.content
    body = response.json()
    total = body["total"]
    assert total["recovery"]["numerator"] == 6 and total["recovery"]["denominator"] == 18
    assert total["recovered"] == 6 and total["cases"] == 18
    teams = {team["label"]: team for team in body["teams"]}
    south = teams["Team B"]
    # Too few cases: neither the rate nor the counts it is made of (3 of 5).
    assert south["recovery"] == {
        "numerator": None, "denominator": None, "value": None, "low": None, "high": None,
        "suppressed": True, "withheld": False,
    }  # fmt: skip
    assert south["recovered"] is None and south["cases"] is None
    # Withheld so that 6 - 3 does not give South's 3 back.
    north = teams["Team A"]
    assert north["recovery"]["withheld"] and north["recovery"]["numerator"] is None
    assert north["recovered"] is None
    # Reliable improvement rests on 10 paired episodes: shown, with its counts.
    assert south["reliable_improvement"]["denominator"] == 10 and south["paired"] == 10


def test_the_api_funnel_names_suppressed_stages_without_their_counts(cast):
    from tests.integration.test_api import api_as

    south_and_north(cast.clinic, north=cast.therapist, south=cast.other_therapist)
    query = {**PERIOD, "team": cast.team_b.pk}
    funnel = api_as(cast.admin).get("/api/v1/reports/outcomes/", query).json()["funnel"]
    stages = {stage["step"]: stage for stage in funnel}
    assert stages["Case at start, paired scores"] == {
        "step": "Case at start, paired scores", "episodes": 5, "suppressed": False,
    }  # fmt: skip
    assert stages["Recovered"] == {"step": "Recovered", "episodes": None, "suppressed": True}


@pytest.mark.parametrize(
    "query, field",
    [
        ({"start": "2026-01-01", "end": "9999-12-31"}, "start"),
        ({"end": "9999-12-31"}, "end"),
        ({"end": "0001-01-05"}, "end"),
        ({"start": "0001-01-01"}, "start"),
        ({"start": "2026-03-01", "end": "2026-02-01"}, "start"),
    ],
)
def test_the_api_refuses_an_impossible_period_with_a_400(cast, query, field):
    from tests.integration.test_api import api_as

    response = api_as(cast.admin).get("/api/v1/reports/outcomes/", query)
    assert response.status_code == 400
    assert list(response.json()) == [field]


# --- Alert mails that did not go out ------------------------------------------------------------


def alert_mailed_while_smtp_refuses(episode, monkeypatch, *, trigger):
    """An urgent alert whose e-mail the outbox tried once: SMTP refused it."""
    import smtplib

    from messaging.tasks import sweep_outbox
    from outcomes.models import AlertRule, AlertSeverity
    from outcomes.services import alert_raise
    from outcomes.tasks import send_alert_notifications

    def refuse(self, messages):
        raise smtplib.SMTPServerDisconnected("connection refused")

    therapist = episode.therapist
    therapist.email = f"{therapist.username}@clinic.example.org"
    therapist.save()
    alert, _ = alert_raise(
        episode=episode,
        rule=AlertRule.RISK_ITEM,
        trigger=trigger,
        severity=AlertSeverity.URGENT,
        message="PHQ-9 item 9 answered 2",
    )
    notices = alert.notifications.filter(channel="email").values_list("pk", flat=True)
    # Refusing before the hand-off: the urgent worker sends an alert's mail at once.
    monkeypatch.setattr("django.core.mail.backends.locmem.EmailBackend.send_messages", refuse)
    send_alert_notifications(list(notices))
    sweep_outbox()
    monkeypatch.undo()
    return alert


def undelivered_block(client, user):
    """The warnings listed, and the warning block's HTML ("" when there is none)."""
    response = report(client, user)
    page = response.content.decode()
    start = page.find('<section class="card undelivered-alert-mails"')
    block = page[start : page.index("</section>", start)] if start >= 0 else ""
    return response.context["undelivered_alert_mails"], block


def test_the_report_page_warns_of_alert_mails_still_undelivered_after_a_quarter_hour(
    client, cast, monkeypatch
):
    import time_machine

    start = timezone.now()
    with time_machine.travel(start, tick=False):
        alert_mailed_while_smtp_refuses(cast.episode, monkeypatch, trigger="adm:1")
        alert_mailed_while_smtp_refuses(cast.other_episode, monkeypatch, trigger="adm:2")
        mails, page = undelivered_block(client, cast.supervisor)
        assert (mails, page) == ([], "")  # not overdue yet
    with time_machine.travel(start + timedelta(minutes=16), tick=False):
        mails, page = undelivered_block(client, cast.supervisor)
        # Team A's therapist only: the other therapist is not the supervisor's to see.
        assert [(mail.recipient, mail.severity, mail.notice) for mail in mails] == [
            ("therapist", "Urgent", "New alert")
        ]
        assert "Alert e-mails not delivered" in page
        assert "Refused by the mail server 1 time; still retrying" in page
        for secret in (cast.client.label, "PHQ", "item 9", "risk"):
            assert secret not in page
        admin_mails, _ = undelivered_block(client, cast.admin)
        assert {mail.recipient for mail in admin_mails} == {"therapist", "other_therapist"}


def test_the_warning_goes_once_the_mail_is_sent(client, cast, monkeypatch):
    import time_machine

    from messaging.tasks import sweep_outbox

    with time_machine.travel(timezone.now(), tick=False) as clock:
        alert_mailed_while_smtp_refuses(cast.episode, monkeypatch, trigger="adm:1")
        clock.shift(timedelta(minutes=16))
        assert len(undelivered_block(client, cast.supervisor)[0]) == 1
        sweep_outbox()  # SMTP is back
        mails, page = undelivered_block(client, cast.supervisor)
    assert (mails, page) == ([], "")


def test_an_empty_chart_of_rates_by_clinician_says_why(client, cast):
    for _ in range(3):
        finished_episode(cast.clinic, cast.therapist)
    response = report(client, cast.admin)
    html = response.content.decode()
    assert 'id="chart-rates"' not in html
    assert "no clinician has 10 or more finished episodes with paired scores" in html
    svg = report_charts.rates_svg(response.context["report"])
    assert "no clinician has 10 or more finished episodes" in svg


def test_the_chart_of_rates_is_drawn_once_a_clinician_has_ten_finished_episodes(client, cast):
    for _ in range(10):
        finished_episode(cast.clinic, cast.therapist)
    html = report(client, cast.admin).content.decode()
    assert 'id="chart-rates"' in html and 'class="chart-empty"' not in html
