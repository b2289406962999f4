import pytest

from clients.models import Role
from tests.factories import make_client, make_clinic, make_episode, make_staff, make_team


@pytest.fixture
def cast(db):
    """A clinic with two teams, a therapist in each, a supervisor of team A, an admin, and an
    outsider from another clinic; one client per therapist."""

    class Cast:
        pass

    c = Cast()
    c.clinic = make_clinic()
    c.team_a = make_team(c.clinic, "Team A")
    c.team_b = make_team(c.clinic, "Team B")
    c.therapist = make_staff(c.clinic, teams=[c.team_a], username="therapist")
    c.other_therapist = make_staff(c.clinic, teams=[c.team_b], username="other_therapist")
    c.supervisor = make_staff(
        c.clinic, role=Role.SUPERVISOR, teams=[c.team_a], username="supervisor"
    )
    c.admin = make_staff(c.clinic, role=Role.ADMIN, username="clinicadmin")
    c.other_clinic = make_clinic("Hillside Clinic")
    c.outsider = make_staff(c.other_clinic, username="outsider")
    c.client = make_client(c.clinic)
    c.episode = make_episode(c.client, c.therapist)
    c.other_client = make_client(c.clinic)
    c.other_episode = make_episode(c.other_client, c.other_therapist)
    return c
