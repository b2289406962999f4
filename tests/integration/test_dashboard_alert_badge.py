"""The alert badge counts what the notifications list shows: the same attention rule, the same
episode scope, in one query."""

import pytest

from clients.models import Episode, Membership, Role
from clients.selectors import episode_scope_q
from dashboards import selectors
from outcomes.models import AlertNotification, AlertSeverity, AlertState, NotificationChannel
from tests.factories import make_client, make_clinic, make_episode, make_staff, make_team
from tests.integration.test_dashboard_caseload import add_alert

pytestmark = pytest.mark.django_db


def notify(alert, user):
    AlertNotification.objects.create(
        alert=alert, recipient=user, channel=NotificationChannel.IN_APP,
        kind=AlertNotification.Kind.ESCALATION,
    )  # fmt: skip


def listed_open(user) -> int:
    return sum(
        alert.state == AlertState.OPEN for alert in selectors.alerts_for_attention(user=user)
    )


def test_an_escalation_to_a_supervisor_who_lost_the_team_leaves_the_badge_too(cast):
    alert = add_alert(cast.episode, severity=AlertSeverity.URGENT)
    notify(alert, cast.supervisor)
    assert selectors.open_alert_badge_count(user=cast.supervisor) == listed_open(cast.supervisor)
    assert listed_open(cast.supervisor) == 1
    cast.supervisor.memberships.get().teams.clear()
    assert listed_open(cast.supervisor) == 0
    assert selectors.open_alert_badge_count(user=cast.supervisor) == 0


def test_an_in_app_notice_about_a_client_outside_the_scope_is_not_counted(cast):
    # A notification row reaching the outsider (a misrouted escalation, a revoked membership):
    # the list never shows it, so the badge must not count it.
    alert = add_alert(cast.episode, severity=AlertSeverity.URGENT)
    notify(alert, cast.outsider)
    assert listed_open(cast.outsider) == 0
    assert selectors.open_alert_badge_count(user=cast.outsider) == 0


def test_the_badge_is_one_query(cast, django_assert_num_queries):
    alert = add_alert(cast.episode, severity=AlertSeverity.URGENT)
    notify(alert, cast.supervisor)
    with django_assert_num_queries(1):
        assert selectors.open_alert_badge_count(user=cast.supervisor) == 1


def test_the_badge_and_the_list_agree_for_everyone_in_the_cast(cast):
    opened = add_alert(cast.episode, trigger="a")
    add_alert(cast.episode, state=AlertState.ACKNOWLEDGED, trigger="b")
    other = add_alert(cast.other_episode, severity=AlertSeverity.URGENT, trigger="c")
    for user in (cast.supervisor, cast.admin, cast.outsider):
        notify(opened, user)
        notify(other, user)
    for user in (
        cast.therapist,
        cast.other_therapist,
        cast.supervisor,
        cast.admin,
        cast.outsider,
    ):
        assert selectors.open_alert_badge_count(user=user) == listed_open(user), user


def test_the_badge_scope_is_the_pages_scope(cast):
    """``_episode_scope_exists_q`` is the SQL form of ``clients.selectors.episode_scope_q``: the
    same episodes for every role, including a supervisor in a second clinic and a therapist in
    two teams (one supervised, one not)."""
    second = make_clinic("Second Clinic")
    team_c = make_team(second, "Team C")
    colleague = make_staff(second, teams=[team_c], username="colleague")
    make_episode(make_client(second), colleague)
    # The supervisor of team A also supervises team C in the second clinic.
    Membership.objects.create(user=cast.supervisor, clinic=second, role=Role.SUPERVISOR).teams.set(
        [team_c]
    )
    # A therapist of team A and team B: the supervisor of team A sees them.
    both = make_staff(cast.clinic, teams=[cast.team_a, cast.team_b], username="both")
    make_episode(make_client(cast.clinic), both)
    # A supervisor's own caseload.
    make_episode(make_client(cast.clinic), cast.supervisor)
    for user in (
        cast.therapist,
        cast.other_therapist,
        cast.supervisor,
        cast.admin,
        cast.outsider,
        colleague,
        both,
    ):
        page = set(Episode.objects.filter(episode_scope_q(user)).values_list("pk", flat=True))
        badge = set(
            Episode.objects.filter(selectors._episode_scope_exists_q(user)).values_list(
                "pk", flat=True
            )
        )
        assert badge == page, user
