"""The REST API: tokens, scope (another clinic's or therapist's objects answer 404), clients and
episodes, answers through the one door, alerts, trajectories, reports, and the schema."""

import hashlib
import re
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.utils import timezone
from rest_framework.test import APIClient

from api.models import ApiToken
from api.services import api_token_create, api_token_revoke, api_token_use
from audit.models import AuditEvent
from clients.models import CheckIn, CheckInKind, CheckInStatus, Client, Episode, MeasurementPlan
from outcomes.models import Administration, Alert, AlertRule, AlertState
from outcomes.services import administration_record
from tests.auth import login_verified
from tests.factories import make_episode

PHQ9_WITH_RISK = [2, 2, 2, 2, 2, 2, 2, 2, 1]
PHQ9_CALM = [1, 1, 1, 1, 1, 1, 1, 1, 0]


def api_as(user) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {api_token_create(user=user, name='t').key}")
    return client


# --- Authentication -----------------------------------------------------------------------------


def test_a_token_is_stored_only_as_its_hash_and_opens_the_api(cast):
    issued = api_token_create(user=cast.therapist, name="EHR sync")
    stored = ApiToken.objects.get(pk=issued.token.pk)
    assert stored.key_hash == hashlib.sha256(issued.key.encode()).hexdigest()
    assert issued.key not in {stored.key_prefix, stored.key_hash, stored.name}
    assert issued.key.startswith(stored.key_prefix)

    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {issued.key}")
    assert client.get("/api/v1/episodes/").status_code == 200
    stored.refresh_from_db()
    assert stored.last_used_at is not None


def test_a_revoked_or_wrong_token_and_no_credentials_answer_401(cast):
    issued = api_token_create(user=cast.therapist, name="kiosk")
    api_token_revoke(token=issued.token, actor=cast.admin)
    for header in (f"Bearer {issued.key}", "Bearer otk_" + "x" * 43, "Bearer", None):
        client = APIClient()
        if header:
            client.credentials(HTTP_AUTHORIZATION=header)
        response = client.get("/api/v1/episodes/")
        assert response.status_code == 401, header
        assert response["WWW-Authenticate"].startswith("Bearer")


def test_a_token_of_a_deactivated_user_stops_working(cast):
    client = api_as(cast.therapist)
    cast.therapist.is_active = False
    cast.therapist.save()
    assert client.get("/api/v1/episodes/").status_code == 401


def test_the_command_prints_a_new_key_once(cast):
    out, err = StringIO(), StringIO()
    call_command("create_api_token", "therapist", "EHR sync", stdout=out, stderr=err)
    key = out.getvalue().strip()
    token = ApiToken.objects.get(user=cast.therapist, name="EHR sync")
    assert token.key_hash == hashlib.sha256(key.encode()).hexdigest()
    assert AuditEvent.objects.filter(action="api_token.create", object_id=str(token.pk)).exists()


def test_token_creation_and_revocation_are_on_each_clinic_admins_audit_page(cast, client):
    from clients.models import Membership, Role

    Membership.objects.create(user=cast.therapist, clinic=cast.other_clinic, role=Role.THERAPIST)
    issued = api_token_create(user=cast.therapist, name="EHR sync", actor=cast.admin)
    api_token_revoke(token=issued.token, actor=cast.admin)

    for action in ("api_token.create", "api_token.revoke"):
        events = AuditEvent.objects.filter(action=action, object_id=str(issued.token.pk))
        assert set(events.values_list("clinic_id", flat=True)) == {
            cast.clinic.pk,
            cast.other_clinic.pk,
        }
    client.force_login(cast.admin)
    shown = {event.action for event in client.get("/audit/").context["page"]}
    assert {"api_token.create", "api_token.revoke"} <= shown


def test_the_browser_session_works_and_needs_csrf_for_changes(cast):
    client = APIClient(enforce_csrf_checks=True)
    login_verified(client, cast.therapist)
    assert client.get(f"/api/v1/episodes/{cast.episode.pk}/").status_code == 200
    response = client.post(f"/api/v1/episodes/{cast.episode.pk}/close/", {"end_reason": "planned"})
    assert response.status_code == 403
    cast.episode.refresh_from_db()
    assert cast.episode.ended_on is None


def test_requests_beyond_the_rate_answer_429(cast, settings):
    settings.API_THROTTLE_RATES = {"user": "3/minute", "anon": "3/minute"}
    client = api_as(cast.therapist)
    codes = [client.get("/api/v1/instruments/").status_code for _ in range(4)]
    assert codes == [200, 200, 200, 429]


# --- Scope --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/clients/{client}/",
        "/api/v1/episodes/{episode}/",
        "/api/v1/episodes/{episode}/responses/",
        "/api/v1/episodes/{episode}/trajectory/",
        "/api/v1/episodes/{episode}/plan/",
    ],
)
def test_another_therapists_and_another_clinics_objects_answer_404(cast, path):
    MeasurementPlan.objects.create(episode=cast.other_episode)
    url = path.format(client=cast.other_client.pk, episode=cast.other_episode.pk)
    assert api_as(cast.therapist).get(url).status_code == 404
    assert api_as(cast.outsider).get(url).status_code == 404
    assert api_as(cast.admin).get(url).status_code == 200


def test_lists_hold_only_what_the_user_may_see(cast):
    def labels(user):
        return {c["label"] for c in api_as(user).get("/api/v1/clients/").json()["results"]}

    assert labels(cast.therapist) == {cast.client.label}
    assert labels(cast.supervisor) == {cast.client.label}
    assert labels(cast.admin) == {cast.client.label, cast.other_client.label}
    assert labels(cast.outsider) == set()


def test_changes_to_out_of_scope_objects_answer_404_and_change_nothing(cast):
    client = api_as(cast.therapist)
    closing = client.post(
        f"/api/v1/episodes/{cast.other_episode.pk}/close/", {"end_reason": "planned"}
    )
    renaming = client.patch(f"/api/v1/clients/{cast.other_client.pk}/", {"label": "X"})
    answering = client.post(
        f"/api/v1/episodes/{cast.other_episode.pk}/responses/",
        {"instrument": "phq9", "answers": PHQ9_CALM},
        format="json",
    )
    assert [closing.status_code, renaming.status_code, answering.status_code] == [404, 404, 404]
    assert Episode.objects.get(pk=cast.other_episode.pk).ended_on is None
    assert not Administration.objects.filter(episode=cast.other_episode).exists()


# --- Clients and episodes -----------------------------------------------------------------------


def test_creating_a_client_opens_their_first_episode_with_the_default_plan(cast):
    response = api_as(cast.supervisor).post(
        "/api/v1/clients/",
        {"label": "C-9001", "email": "c9001@example.org", "therapist": "therapist"},
        format="json",
    )
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["label"] == "C-9001"
    assert [e["therapist"] for e in body["episodes"]] == ["therapist"]
    episode = Episode.objects.get(pk=body["episodes"][0]["id"])
    assert MeasurementPlan.objects.get(episode=episode).instruments == ["phq9", "gad7"]
    assert AuditEvent.objects.filter(action="client.create", client_id=body["id"]).exists()


def test_a_therapist_cannot_give_a_new_client_to_someone_else(cast):
    response = api_as(cast.therapist).post(
        "/api/v1/clients/", {"label": "C-9002", "therapist": "other_therapist"}, format="json"
    )
    assert response.status_code == 400
    assert "therapist" in response.json()
    assert not Client.objects.filter(label="C-9002").exists()


def test_a_label_already_in_the_clinic_is_refused(cast):
    response = api_as(cast.admin).post("/api/v1/clients/", {"label": cast.client.label})
    assert response.status_code == 400
    assert "label" in response.json()


def test_bulk_creation_is_all_or_nothing_with_errors_per_row(cast):
    client = api_as(cast.admin)
    rows = [
        {"label": "B-1", "therapist": "therapist"},
        {"label": "B-2", "therapist": "nobody", "timezone": "Mars/Olympus"},
        {"label": "B-1", "therapist": "other_therapist"},
    ]
    response = client.post("/api/v1/clients/bulk/", {"clients": rows}, format="json")
    assert response.status_code == 400
    errors = response.json()["clients"]
    assert errors[0] == {}
    assert set(errors[1]) == {"therapist", "timezone"}
    assert set(errors[2]) == {"label"}
    assert not Client.objects.filter(label__startswith="B-").exists()

    rows[1], rows[2]["label"] = {"label": "B-2", "therapist": "therapist"}, "B-3"
    dry = client.post("/api/v1/clients/bulk/", {"clients": rows, "dry_run": True}, format="json")
    assert dry.status_code == 200 and dry.json()["count"] == 3
    assert not Client.objects.filter(label__startswith="B-").exists()
    done = client.post("/api/v1/clients/bulk/", {"clients": rows}, format="json")
    assert done.status_code == 201, done.json()
    assert Client.objects.filter(label__startswith="B-").count() == 3


def test_closing_an_episode_ends_its_plan_and_cancels_open_checkins(cast):
    MeasurementPlan.objects.create(episode=cast.episode)
    checkin = CheckIn.objects.create(
        episode=cast.episode,
        kind=CheckInKind.SCHEDULED,
        due_at=timezone.now(),
        expires_at=timezone.now() + timedelta(days=4),
        instruments=["phq9"],
    )
    client = api_as(cast.therapist)
    url = f"/api/v1/episodes/{cast.episode.pk}/close/"
    response = client.post(url, {"end_reason": "planned"})
    assert response.status_code == 200, response.json()
    assert response.json()["is_active"] is False
    assert MeasurementPlan.objects.get(episode=cast.episode).ended_at is not None
    assert CheckIn.objects.get(pk=checkin.pk).status == CheckInStatus.CANCELLED
    assert AuditEvent.objects.filter(action="episode.close", object_id=str(cast.episode.pk))
    again = client.post(url, {"end_reason": "planned"})
    assert again.status_code == 400


def test_a_returning_client_gets_a_new_episode_only_after_the_last_one_closed(cast):
    client = api_as(cast.therapist)
    first = client.post("/api/v1/episodes/", {"client": cast.client.pk})
    assert first.status_code == 400
    client.post(f"/api/v1/episodes/{cast.episode.pk}/close/", {"end_reason": "planned"})
    second = client.post("/api/v1/episodes/", {"client": cast.client.pk})
    assert second.status_code == 201, second.json()
    assert second.json()["is_active"] is True


def test_the_plan_can_be_changed_and_paused(cast):
    client = api_as(cast.therapist)
    url = f"/api/v1/episodes/{cast.episode.pk}/plan/"
    assert client.get(url).status_code == 404
    changed = client.put(url, {"instruments": ["phq9"], "weekday": 3}, format="json")
    assert changed.status_code == 200, changed.json()
    assert changed.json()["weekday"] == 3
    paused = client.post(url + "pause/")
    assert paused.json()["is_running"] is False
    assert client.put(url, {"instruments": ["nonsense"]}, format="json").status_code == 400


def test_reading_the_plan_is_audited(cast):
    MeasurementPlan.objects.create(episode=cast.episode)
    assert (
        api_as(cast.supervisor).get(f"/api/v1/episodes/{cast.episode.pk}/plan/").status_code == 200
    )
    assert AuditEvent.objects.filter(
        action="client.view", actor=cast.supervisor, client=cast.client, details__view="api.plan"
    ).exists()


# --- Answers, alerts, trajectory --------------------------------------------------------------


def test_answers_go_through_the_same_door_and_a_risk_answer_raises_the_urgent_alert(cast):
    client = api_as(cast.therapist)
    url = f"/api/v1/episodes/{cast.episode.pk}/responses/"
    response = client.post(url, {"instrument": "phq9", "answers": PHQ9_WITH_RISK}, format="json")
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["administration"]["total"] == 17
    assert body["administration"]["source"] == "api"
    alert = Alert.objects.get(pk=body["risk_alert"])
    assert alert.rule == AlertRule.RISK_ITEM and alert.state == AlertState.OPEN
    listed = client.get(url).json()["results"]
    assert [a["id"] for a in listed] == [body["administration"]["id"]]


def test_invalid_answers_are_refused_per_item_and_nothing_is_stored(cast):
    client = api_as(cast.therapist)
    url = f"/api/v1/episodes/{cast.episode.pk}/responses/"
    response = client.post(
        url, {"instrument": "phq9", "answers": [9, 1, 1, 1, 1, 1, 1, 1, 1]}, format="json"
    )
    assert response.status_code == 400
    assert any("1" in message for message in response.json()["answers"])
    unknown = client.post(url, {"instrument": "nope", "answers": [1]}, format="json")
    assert unknown.status_code == 400
    assert not Administration.objects.filter(episode=cast.episode).exists()


def test_answers_dated_in_the_future_or_before_the_episode_are_refused_and_not_stored(cast):
    client = api_as(cast.therapist)
    url = f"/api/v1/episodes/{cast.episode.pk}/responses/"
    before_start = (cast.episode.started_on - timedelta(days=2)).isoformat() + "T12:00:00Z"
    for administered_at in ("2099-01-01T09:00:00Z", before_start):
        response = client.post(
            url,
            {"instrument": "phq9", "answers": PHQ9_CALM, "administered_at": administered_at},
            format="json",
        )
        assert response.status_code == 400, administered_at
        assert list(response.json()) == ["administered_at"]
    assert not Administration.objects.filter(episode=cast.episode).exists()


def test_alerts_filter_by_state_and_rule(cast):
    administration_record(
        episode=cast.episode, instrument_code="phq9", answers=PHQ9_WITH_RISK, source="in_session"
    )
    client = api_as(cast.therapist)
    open_risk = client.get("/api/v1/alerts/", {"state": "open", "rule": "risk_item"}).json()
    assert [a["episode"] for a in open_risk["results"]] == [cast.episode.pk]
    assert client.get("/api/v1/alerts/", {"state": "resolved"}).json()["results"] == []
    assert client.get("/api/v1/alerts/", {"state": "bogus"}).status_code == 400
    assert api_as(cast.other_therapist).get("/api/v1/alerts/").json()["results"] == []


def test_the_trajectory_has_scores_weeks_statuses_and_the_expected_course(cast):
    start = timezone.now() - timedelta(weeks=4)
    for week, answers in enumerate(([3] * 9, [3, 3, 3, 3, 3, 3, 3, 2, 0], [2] * 8 + [0])):
        administration_record(
            episode=cast.episode,
            instrument_code="phq9",
            answers=answers,
            source="paper",
            administered_at=start + timedelta(weeks=week),
        )
    body = api_as(cast.therapist).get(f"/api/v1/episodes/{cast.episode.pk}/trajectory/").json()
    (phq9,) = body["instruments"]
    assert [point["week"] for point in phq9["scores"]] == [1, 2, 3]
    assert [point["total"] for point in phq9["scores"]] == [27, 23, 16]
    assert all(point["status"] in {"white", "green", "yellow", "red"} for point in phq9["scores"])
    assert phq9["curve_source"] == "default"
    assert phq9["expected"][0]["week"] == 1
    assert len(phq9["expected"]) >= len(phq9["scores"])
    assert AuditEvent.objects.filter(
        action="client.view", client=cast.client, details__view="api.trajectory"
    ).exists()


def test_instruments_show_items_and_options(cast):
    body = api_as(cast.therapist).get("/api/v1/instruments/phq9/").json()
    assert body["code"] == "phq9"
    assert len([item for item in body["items"] if item["scored"]]) == 9
    assert [option["value"] for option in body["items"][0]["options"]] == [0, 1, 2, 3]
    assert api_as(cast.therapist).get("/api/v1/instruments/nope/").status_code == 404


def test_reports_are_for_supervisors_and_admins_only(cast):
    assert api_as(cast.therapist).get("/api/v1/reports/outcomes/").status_code == 404
    response = api_as(cast.admin).get("/api/v1/reports/outcomes/")
    assert response.status_code == 200, response.content
    assert response.json()["total"]["caseload"] == 2
    assert response.json()["total"]["recovery"]["suppressed"] is True


# --- Schema and docs ----------------------------------------------------------------------------


def test_the_schema_and_docs_are_behind_login(cast, client):
    assert APIClient().get("/api/v1/schema/").status_code == 401
    docs = client.get("/api/v1/docs/")
    assert docs.status_code == 302 and "/login/" in docs["Location"]
    login_verified(client, cast.therapist)
    assert client.get("/api/v1/docs/").status_code == 200
    schema = client.get("/api/v1/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert schema.status_code == 200
    assert "/api/v1/episodes/{episode_id}/responses/" in schema.json()["paths"]


def test_reading_client_data_is_audited(cast):
    api_as(cast.admin).get("/api/v1/clients/")
    viewed = set(
        AuditEvent.objects.filter(action="client.view", actor=cast.admin).values_list(
            "client_id", flat=True
        )
    )
    assert viewed == {cast.client.pk, cast.other_client.pk}


def test_an_alert_is_acknowledged_then_resolved_once(cast):
    recorded = administration_record(
        episode=cast.episode, instrument_code="phq9", answers=PHQ9_WITH_RISK, source="in_session"
    )
    alert = recorded.risk_alert
    client = api_as(cast.therapist)
    acknowledged = client.post(f"/api/v1/alerts/{alert.pk}/acknowledge/")
    assert acknowledged.status_code == 200, acknowledged.json()
    assert acknowledged.json()["state"] == "acknowledged"
    assert acknowledged.json()["acknowledged_by"] == "therapist"
    assert client.post(f"/api/v1/alerts/{alert.pk}/acknowledge/").status_code == 400

    url = f"/api/v1/alerts/{alert.pk}/resolve/"
    assert client.post(url, {"action": "phoned"}).status_code == 400
    resolved = client.post(url, {"action": "contacted_client", "note": "Safe; seen tomorrow."})
    assert resolved.status_code == 200, resolved.json()
    assert resolved.json()["state"] == "resolved"
    assert client.post(url, {"action": "contacted_client"}).status_code == 400
    assert api_as(cast.other_therapist).post(url, {"action": "no_action"}).status_code == 404
    actions = AuditEvent.objects.filter(object_id=str(alert.pk)).values_list("action", flat=True)
    assert {"alert.acknowledge", "alert.resolve"} <= set(actions)


def test_staff_create_their_own_key_on_their_page_and_see_it_once(cast, client):
    login_verified(client, cast.therapist)
    response = client.post("/accounts/tokens/", {"name": "kiosk"})
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    token = ApiToken.objects.get(user=cast.therapist, name="kiosk")
    (key,) = re.findall(r"otk_[A-Za-z0-9_-]{40,}", response.content.decode())
    assert hashlib.sha256(key.encode()).hexdigest() == token.key_hash
    # Never through the messages cookie (signed, not encrypted), never again on the page.
    assert key not in response.cookies.output()
    listing = client.get("/accounts/tokens/").content.decode()
    assert key not in listing and token.key_prefix in listing

    bearer = APIClient()
    bearer.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    assert bearer.get("/api/v1/episodes/").status_code == 200
    client.post(f"/accounts/tokens/{token.pk}/revoke/")
    assert bearer.get("/api/v1/episodes/").status_code == 401


def test_no_key_without_a_session_that_passed_the_second_factor(cast, client):
    client.force_login(cast.therapist)  # a therapist with no authenticator: password only
    response = client.post("/accounts/tokens/", {"name": "kiosk"})
    assert response.status_code == 200
    assert not ApiToken.objects.filter(user=cast.therapist).exists()
    assert "Set up two-step verification" in response.content.decode()


def test_one_cannot_revoke_anothers_key(cast, client):
    theirs = api_token_create(user=cast.other_therapist, name="EHR").token
    login_verified(client, cast.therapist)
    assert client.post(f"/accounts/tokens/{theirs.pk}/revoke/").status_code == 404
    theirs.refresh_from_db()
    assert theirs.revoked_at is None


def test_keys_of_users_who_must_use_a_second_factor_expire(cast, settings):
    settings.API_TOKEN_MFA_MAX_AGE_DAYS, settings.MFA_REQUIRED = 90, True
    supervisors = api_token_create(user=cast.supervisor, name="reports")
    therapists = api_token_create(user=cast.therapist, name="EHR")
    assert therapists.token.expires_at is None
    assert supervisors.token.expires_at is not None
    later = supervisors.token.expires_at + timedelta(minutes=1)
    assert api_token_use(key=supervisors.key, now=later - timedelta(days=1)) is not None
    assert api_token_use(key=supervisors.key, now=later) is None


def test_the_admin_makes_no_keys(cast, client):
    from django.contrib.auth import get_user_model

    site_admin = get_user_model().objects.create_superuser("root", password="pw-Root-12345")
    login_verified(client, site_admin)
    response = client.post("/admin/api/apitoken/add/", {"user": cast.therapist.pk, "name": "k"})
    assert response.status_code == 403
    assert not ApiToken.objects.exists()


def test_a_former_care_team_neither_reads_nor_redirects_a_moved_clients_contact(cast):
    """The client moved from the therapist (team A, episode ended "transfer") to a therapist
    of team B: the new team's links go to the client's address, which the old team must not
    read or change; the old team keeps the history of its own episode."""
    client = cast.client
    client.email = "client@example.org"
    client.save()
    cast.episode.ended_on = timezone.now().date() - timedelta(days=1)
    cast.episode.end_reason = "transfer"
    cast.episode.save()
    make_episode(client, cast.other_therapist, weeks_ago=0)
    url = f"/api/v1/clients/{client.pk}/"

    for former in (cast.therapist, cast.supervisor):
        seen = api_as(former).get(url)
        assert seen.status_code == 200
        assert seen.json()["email"] is None and seen.json()["name"] is None
        assert [e["id"] for e in seen.json()["episodes"]] == [cast.episode.pk]
        listed = api_as(former).get("/api/v1/clients/", {"label": client.label}).json()
        assert listed["results"][0]["email"] is None
        changed = api_as(former).patch(url, {"email": "attacker@example.org"}, format="json")
        assert changed.status_code == 404
    client.refresh_from_db()
    assert client.email == "client@example.org"

    for current in (cast.other_therapist, cast.admin):
        assert api_as(current).get(url).json()["email"] == "client@example.org"
    moved = api_as(cast.other_therapist).patch(url, {"email": "new@example.org"}, format="json")
    assert moved.status_code == 200 and moved.json()["email"] == "new@example.org"


def test_an_empty_form_value_is_refused_not_read_as_left_out(cast):
    """A multipart ``ended_on=""`` closed the episode as of today; ``?status=`` listed all."""
    therapist = api_as(cast.therapist)
    closed = therapist.post(
        f"/api/v1/episodes/{cast.episode.pk}/close/",
        {"end_reason": "planned", "ended_on": ""},
        format="multipart",
    )
    assert closed.status_code == 400 and "ended_on" in closed.json()
    cast.episode.refresh_from_db()
    assert cast.episode.ended_on is None
    listed = therapist.get("/api/v1/episodes/", {"status": ""})
    assert listed.status_code == 400 and "status" in listed.json()
    assert therapist.get("/api/v1/episodes/", {"active": ""}).status_code == 400


def test_a_session_rating_with_one_decimal_is_accepted_and_stored_to_one_decimal(cast):
    client = api_as(cast.therapist)
    url = f"/api/v1/episodes/{cast.episode.pk}/responses/"
    response = client.post(
        url, {"instrument": "session_rating", "answers": [8.6, 8.6, 8.6, 9.6]}, format="json"
    )
    assert response.status_code == 201, response.json()
    assert response.json()["administration"]["total"] == 35.4  # < 36: an alliance concern
    administration = Administration.objects.get(episode=cast.episode)
    assert administration.answers == [8.6, 8.6, 8.6, 9.6] and administration.total == 35.4
    listed = client.get(url).json()["results"][0]
    assert listed["answers"] == [8.6, 8.6, 8.6, 9.6] and listed["total"] == 35.4
    described = client.get("/api/v1/instruments/session_rating/").json()["items"][0]
    assert (described["kind"], described["min"], described["max"], described["step"]) == (
        "continuous",
        0,
        10,
        0.1,
    )
    # Whole numbers stay whole for choice items; hundredths are refused per item.
    assert (
        client.post(url, {"instrument": "phq9", "answers": [1] * 9}, format="json").json()[
            "administration"
        ]["total"]
        == 9
    )
    assert Administration.objects.filter(instrument="phq9").get().answers == [1] * 9
    listed = client.get(url, {"instrument": "phq9"}).json()["results"][0]
    assert listed["answers"] == [1] * 9  # whole numbers stay whole in the JSON
    refused = client.post(url, {"instrument": "ors", "answers": [4.25, 5, 5, 5]}, format="json")
    assert refused.status_code == 400
    assert refused.json()["answers"][0].startswith("item 1 (ors-1): 4.25 is not one of")
