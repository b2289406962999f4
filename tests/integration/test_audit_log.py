"""The audit log: append-only (in the ORM and in PostgreSQL), the clinic admin's page and CSV."""

import csv
import io
from datetime import timedelta

import pytest
from django.db import connection, transaction
from django.db.utils import DatabaseError
from django.test import RequestFactory
from django.utils import timezone

from audit.models import AuditEvent
from audit.services import audit_client_view, audit_clients_listed
from tests.factories import make_client


def add_event(cast, *, action="client.view", actor=None, client=None, clinic=None, **fields):
    actor = actor or cast.therapist
    client = client or cast.client
    return AuditEvent.objects.create(
        actor=actor,
        actor_label=actor.username,
        action=action,
        object_type="clients.client",
        object_id=str(client.pk),
        clinic=clinic or cast.clinic,
        client=client,
        **fields,
    )


def csv_rows(response) -> list[list[str]]:
    body = b"".join(response.streaming_content).decode()
    return list(csv.reader(io.StringIO(body)))


def test_audit_client_view_records_who_saw_which_client(cast):
    request = RequestFactory().get("/clients/1/", REMOTE_ADDR="10.1.2.3")
    request.user = cast.therapist
    event = audit_client_view(request, cast.client, what="trajectory")
    assert (event.action, event.actor, event.client, event.clinic) == (
        "client.view",
        cast.therapist,
        cast.client,
        cast.clinic,
    )
    assert event.ip_address == "10.1.2.3" and event.details == {"view": "trajectory"}


def test_a_list_page_records_one_view_per_client_shown_in_one_statement(cast):
    """The caseload's audit insert (one INSERT ... SELECT on SQLite and on PostgreSQL) writes
    the same row as ``audit_client_view`` would, for each client shown, and nothing else."""
    other = make_client(cast.clinic, label="C-OTHER")
    request = RequestFactory().get("/", REMOTE_ADDR="10.1.2.4")
    written = audit_clients_listed(
        actor=cast.therapist, clients=[cast.client, other, cast.client], request=request,
        surface="caseload",
    )  # fmt: skip
    events = AuditEvent.objects.filter(details__view="caseload").order_by("client_id")
    assert written == 2
    assert [
        (e.action, e.actor, e.actor_label, e.object_type, e.object_id, e.client, e.clinic)
        for e in events
    ] == [
        ("client.view", cast.therapist, cast.therapist.username, "clients.client", str(c.pk), c,
         cast.clinic)
        for c in sorted([cast.client, other], key=lambda c: c.pk)
    ]  # fmt: skip
    assert {(e.ip_address, e.at is not None) for e in events} == {("10.1.2.4", True)}


def test_an_audit_event_cannot_be_changed_or_deleted_through_the_orm(cast):
    event = add_event(cast)
    event.action = "something.else"
    with pytest.raises(ValueError):
        event.save()
    with pytest.raises(ValueError):
        event.delete()


def test_the_clinic_admin_sees_their_clinic_only_and_can_filter(cast, client):
    add_event(cast, actor=cast.therapist, client=cast.client)
    add_event(cast, actor=cast.other_therapist, client=cast.other_client, action="alert.create")
    old = add_event(cast, at=timezone.now() - timedelta(days=40))
    add_event(cast, actor=cast.outsider, clinic=cast.other_clinic)
    client.force_login(cast.admin)

    everything = client.get("/audit/")
    assert everything.status_code == 200
    assert everything.context["page"].paginator.count == 3  # not the other clinic's event

    by_actor = client.get("/audit/", {"actor": "other_therapist"}).context["page"]
    assert [e.action for e in by_actor] == ["alert.create"]
    by_client = client.get("/audit/", {"client_label": cast.client.label.lower()}).context["page"]
    assert by_client.paginator.count == 2
    by_action = client.get("/audit/", {"action": "alert.create"}).context["page"]
    assert by_action.paginator.count == 1
    since = (timezone.now() - timedelta(days=7)).date().isoformat()
    recent = client.get("/audit/", {"date_from": since}).context["page"]
    assert old.pk not in {e.pk for e in recent} and recent.paginator.count == 2
    until = (timezone.now() - timedelta(days=30)).date().isoformat()
    assert [e.pk for e in client.get("/audit/", {"date_to": until}).context["page"]] == [old.pk]


@pytest.mark.parametrize("who", ["therapist", "supervisor", "outsider"])
def test_only_clinic_admins_read_the_audit_log(cast, client, who):
    client.force_login(getattr(cast, who))
    assert client.get("/audit/").status_code == 404
    assert client.get("/audit/export.csv").status_code == 404


def test_the_csv_export_neutralises_formulas_and_is_itself_audited(cast, client):
    add_event(cast, details={"note": '=HYPERLINK("http://evil")'})
    client.force_login(cast.admin)

    response = client.get("/audit/export.csv", {"action": "client.view"})

    assert response["Content-Type"].startswith("text/csv")
    rows = csv_rows(response)
    assert rows[0][:3] == ["time (UTC)", "staff", "action"]
    assert len(rows) == 2 and rows[1][2] == "client.view" and rows[1][5] == cast.client.label
    evil = add_event(cast, actor=cast.admin, action="=cmd|' /C calc'!A0")
    rows = csv_rows(client.get("/audit/export.csv", {"actor": "clinicadmin"}))
    actions = [row[2] for row in rows[1:]]
    assert "'=cmd|' /C calc'!A0" in actions and evil.action not in actions
    exports = AuditEvent.objects.filter(action="audit.export", actor=cast.admin)
    assert exports.count() == 2
    assert exports.first().details == {"filters": {"actor": "clinicadmin"}}


def test_bulk_writes_on_the_audit_log_are_refused_by_the_orm_on_every_database(cast):
    event = add_event(cast)
    events = AuditEvent.objects.filter(pk=event.pk)
    with pytest.raises(ValueError, match="append-only"):
        events.update(action="tampered")
    with pytest.raises(ValueError, match="append-only"):
        AuditEvent.objects.update(action="tampered")
    with pytest.raises(ValueError, match="append-only"):
        events.delete()
    with pytest.raises(ValueError, match="append-only"):
        AuditEvent.objects.all().delete()
    event.action = "tampered"
    with pytest.raises(ValueError, match="append-only"):
        AuditEvent.objects.bulk_update([event], ["action"])
    with pytest.raises(ValueError, match="append-only"):
        AuditEvent.objects.update_or_create(pk=event.pk, defaults={"action": "tampered"})
    assert AuditEvent.objects.get(pk=event.pk).action == "client.view"


def test_a_deleted_client_or_account_is_still_unlinked_from_the_trail(cast):
    from tests.factories import make_client

    client = make_client(cast.clinic)
    event = add_event(cast, client=client, actor=cast.outsider)
    client.delete()  # on_delete=SET_NULL goes through the base manager, not the guarded one
    cast.outsider.delete()
    event = AuditEvent.objects.get(pk=event.pk)
    assert event.client is None and event.actor is None and event.actor_label == "outsider"


@pytest.mark.postgres
def test_postgresql_itself_refuses_to_change_or_delete_an_audit_event(cast):
    event = add_event(cast)
    # The base manager skips the ORM's own refusal, so the statement reaches the trigger.
    unguarded = AuditEvent._base_manager
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        unguarded.filter(pk=event.pk).update(action="tampered")
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        unguarded.filter(pk=event.pk).delete()
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        unguarded.filter(pk=event.pk).update(client=cast.other_client)
    with (
        pytest.raises(DatabaseError, match="append-only"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute("DELETE FROM audit_auditevent")
    with (
        pytest.raises(DatabaseError, match="TRUNCATE refused"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        # The test's transaction holds deferred foreign-key checks, which TRUNCATE refuses
        # to run beside whatever our trigger says: check them now.
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        cursor.execute("TRUNCATE audit_auditevent CASCADE")
    assert AuditEvent.objects.get(pk=event.pk).action == "client.view"


@pytest.mark.postgres
def test_postgresql_lets_a_deleted_client_or_account_be_unlinked_from_the_trail(cast):
    from tests.factories import make_client

    client = make_client(cast.clinic)
    client_id = client.pk
    event = add_event(cast, client=client, actor=cast.outsider)
    client.delete()  # Django's SET_NULL: the one UPDATE the trigger allows
    cast.outsider.delete()
    event = AuditEvent.objects.get(pk=event.pk)
    assert event.client is None and event.object_id == str(client_id)
    assert event.actor is None and event.actor_label == "outsider"


# --- List pages ---------------------------------------------------------------------------------


def audit_inserts(queries) -> int:
    return sum(1 for q in queries if q["sql"].startswith('INSERT INTO "audit_auditevent"'))


def test_the_caseload_records_every_client_it_lists_in_one_insert(cast, client):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from tests.factories import make_client, make_episode

    for _ in range(5):
        make_episode(make_client(cast.clinic), cast.therapist)
    client.force_login(cast.therapist)

    with CaptureQueriesContext(connection) as queries:
        assert client.get("/", REMOTE_ADDR="10.4.4.4").status_code == 200

    listed = AuditEvent.objects.filter(action="client.view", details__view="caseload")
    assert listed.count() == 6 and audit_inserts(queries) == 1
    assert {e.actor for e in listed} == {cast.therapist}
    assert {e.ip_address for e in listed} == {"10.4.4.4"}
    assert not listed.filter(client=cast.other_client).exists()  # not on this caseload


def test_the_team_caseload_and_the_alerts_page_record_the_clients_they_show(cast, client):
    from outcomes.models import AlertRule, AlertSeverity
    from outcomes.services import alert_raise

    alert_raise(
        episode=cast.episode,
        rule=AlertRule.CONTACT_REQUEST,
        trigger="t",
        severity=AlertSeverity.HIGH,
        message="Asked to be contacted.",
    )
    client.force_login(cast.admin)
    client.get("/", {"view": "team"})
    team = AuditEvent.objects.filter(actor=cast.admin, details__view="team_caseload")
    assert set(team.values_list("client_id", flat=True)) == {cast.client.pk, cast.other_client.pk}

    client.force_login(cast.therapist)
    client.get("/alerts/")
    alerts = AuditEvent.objects.filter(actor=cast.therapist, details__view="alerts")
    assert list(alerts.values_list("client_id", flat=True)) == [cast.client.pk]


def test_an_empty_list_writes_nothing(cast, client):
    client.force_login(cast.outsider)
    assert client.get("/").status_code == 200 and client.get("/alerts/").status_code == 200
    assert not AuditEvent.objects.filter(actor=cast.outsider, action="client.view").exists()


def test_a_long_list_of_clients_is_recorded_in_one_insert(cast):
    from django.test.utils import CaptureQueriesContext

    from audit.services import audit_clients_listed
    from tests.factories import make_client

    clients = [make_client(cast.clinic) for _ in range(300)] + [cast.other_client]
    request = RequestFactory().get("/", REMOTE_ADDR="10.5.5.5")
    with CaptureQueriesContext(connection) as queries:
        written = audit_clients_listed(
            actor=cast.supervisor, clients=clients, request=request, surface="clinic_caseload"
        )
    assert written == 301 and audit_inserts(queries) == 1
    listed = AuditEvent.objects.filter(action="client.view", actor=cast.supervisor)
    assert sorted(listed.values_list("client_id", "clinic_id", "object_id")) == sorted(
        (client.pk, client.clinic_id, str(client.pk)) for client in clients
    )
    event = listed.first()
    assert event.object_type == "clients.client" and event.actor_label == cast.supervisor.username
    assert event.ip_address == "10.5.5.5" and event.details == {"view": "clinic_caseload"}
    assert abs(event.at - timezone.now()) < timedelta(minutes=1)
