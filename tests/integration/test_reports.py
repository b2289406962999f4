"""The supervisors' outcome report page: who sees what, and the figures it shows."""

from datetime import date, timedelta

import pytest
from django.urls import reverse

from audit.models import AuditEvent
from tests.report_support import (
    PERIOD_END,
    PERIOD_START,
    at,
    checkin,
    finished_episode,
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
    therapist = row(report(client, cast.admin).context["report"], "therapist")
    assert therapist.urgent_alerts == 4 and therapist.urgent_acknowledged == 3
    assert therapist.median_hours_to_acknowledge == pytest.approx(2)


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
