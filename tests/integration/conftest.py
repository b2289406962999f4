import socket

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


def closed_port() -> int:
    """A loopback port nobody listens on (bound, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def broker_down(monkeypatch):
    """Point the Celery app at a broker that refuses connections, as when Redis is down.

    Celery reads the ``CELERY_BROKER_URL`` environment variable before its own configuration
    (CI exports it), so both are pointed at the closed port; cached connections are dropped so
    the next publish dials it, and again afterwards so the next test dials the real broker.
    """
    from config.celery_app import app

    def forget_connections():
        app._pool = None
        app.amqp._producer_pool = None

    url = f"redis://127.0.0.1:{closed_port()}/0"
    # The setting first: reading it afterwards would return the environment's (patched) value,
    # and the undo would then restore the closed port.
    monkeypatch.setattr(app.conf, "broker_url", url)
    monkeypatch.setenv("CELERY_BROKER_URL", url)
    forget_connections()
    assert app.conf.broker_url == url
    yield
    monkeypatch.undo()
    forget_connections()
    assert app.conf.broker_url != url
