"""One-off check-ins through the API: the plan's forms by default, e-mailed through the outbox
after commit (or by the sweep once due), scoped, audited, and refused with a reason."""

from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone
from rest_framework.test import APIClient

from api.services import api_token_create
from audit.models import AuditEvent
from clients.checkins import checkin_by_key, checkins_sweep, plan_set
from clients.models import CheckIn, CheckInKind, CheckInStatus
from messaging.models import OutboundEmail
from tests.checkin_support import key_from

URL = "/api/v1/checkins/"


def api_as(user) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {api_token_create(user=user, name='t').key}")
    return client


@pytest.fixture
def sent_tasks(monkeypatch):
    """Every send of the outbox task: its arguments, and whether a countdown or ETA was set."""
    from messaging.tasks import send_outbound_email

    sent = []
    monkeypatch.setattr(
        send_outbound_email,
        "apply_async",
        lambda args=(), kwargs=None, **options: sent.append((args, options)),
    )
    return sent


def test_a_one_off_checkin_sends_the_plans_forms_now_through_the_outbox_after_commit(
    cast, sent_tasks, django_capture_on_commit_callbacks
):
    plan_set(episode=cast.episode, instruments=["phq9", "gad7"])
    with django_capture_on_commit_callbacks(execute=True):
        response = api_as(cast.therapist).post(URL, {"episode": cast.episode.pk}, format="json")
        assert sent_tasks == []  # nothing leaves before the check-in and its mail are stored

    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["kind"] == "one_off" and body["instruments"] == ["phq9", "gad7"]
    assert body["status"] == "pending" and body["sent_at"] is not None
    checkin = CheckIn.objects.get(pk=body["id"])
    mail = OutboundEmail.objects.to_address(cast.client.email).get(purpose="checkin")
    assert checkin_by_key(key=key_from(mail)) == checkin
    assert sent_tasks == [((mail.pk,), {})]  # queued once, with no countdown and no ETA
    assert checkin.expires_at == checkin.due_at + timedelta(days=cast.clinic.expire_after_days)


def test_named_forms_are_sent_and_the_creation_is_audited(cast):
    response = api_as(cast.supervisor).post(
        URL, {"episode": cast.episode.pk, "instruments": ["gad7"]}, format="json"
    )
    assert response.status_code == 201, response.json()
    event = AuditEvent.objects.get(action="checkin.create", object_id=str(response.json()["id"]))
    assert (event.actor, event.client, event.clinic) == (cast.supervisor, cast.client, cast.clinic)
    assert event.details == {"kind": "one_off", "instruments": ["gad7"]}


def test_a_form_without_licensed_text_is_refused_with_the_reason(cast):
    response = api_as(cast.therapist).post(
        URL, {"episode": cast.episode.pk, "instruments": ["phq9", "core10"]}, format="json"
    )
    assert response.status_code == 400
    (message,) = response.json()["instruments"]
    assert "licensed" in message and "text pack" in message
    assert not CheckIn.objects.exists() and not OutboundEmail.objects.exists()


@pytest.mark.parametrize("who", ["other_therapist", "outsider"])
def test_an_episode_outside_ones_scope_answers_404_and_nothing_is_sent(cast, who):
    response = api_as(getattr(cast, who)).post(
        URL, {"episode": cast.episode.pk, "instruments": ["phq9"]}, format="json"
    )
    assert response.status_code == 404
    assert not CheckIn.objects.exists() and not OutboundEmail.objects.exists()


def test_without_credentials_the_answer_is_401(cast):
    assert APIClient().post(URL, {"episode": cast.episode.pk}).status_code == 401


def test_a_later_checkin_waits_for_its_time_and_the_sweep_sends_it(cast):
    due = timezone.now() + timedelta(days=2)
    response = api_as(cast.therapist).post(
        URL,
        {"episode": cast.episode.pk, "instruments": ["phq9"], "due_at": due.isoformat()},
        format="json",
    )
    assert response.status_code == 201, response.json()
    assert response.json()["sent_at"] is None
    checkins_sweep()
    assert not OutboundEmail.objects.exists()  # not before its time

    with time_machine.travel(due + timedelta(minutes=1), tick=False):
        checkins_sweep()
        checkins_sweep()  # twice: still one mail
    assert OutboundEmail.objects.filter(purpose="checkin").count() == 1
    assert CheckIn.objects.get(pk=response.json()["id"]).sent_at is not None


@pytest.mark.parametrize(
    "change, field",
    [
        ("closed", "episode"),
        ("opted_out", "episode"),
        ("no_email", "episode"),
        ("no_plan", "instruments"),
        ("past", "due_at"),
        ("too_far", "due_at"),
    ],
)
def test_what_cannot_be_sent_is_refused_with_the_reason(cast, change, field):
    payload = {"episode": cast.episode.pk}
    if change != "no_plan":
        # Before the episode closes: a closed episode takes no plan (plan_set refuses it).
        plan_set(episode=cast.episode, instruments=["phq9"])
    if change == "closed":
        cast.episode.ended_on = timezone.localdate()
        cast.episode.save()
    elif change == "opted_out":
        cast.client.opted_out_at = timezone.now()
        cast.client.save()
    elif change == "no_email":
        cast.client.email = ""
        cast.client.save()
    if change == "past":
        payload["due_at"] = (timezone.now() - timedelta(hours=1)).isoformat()
    elif change == "too_far":
        payload["due_at"] = (timezone.now() + timedelta(days=400)).isoformat()

    response = api_as(cast.therapist).post(URL, payload, format="json")

    assert response.status_code == 400
    assert list(response.json()) == [field]
    assert not CheckIn.objects.filter(kind=CheckInKind.ONE_OFF).exists()


def test_the_same_due_time_twice_is_refused_not_duplicated(cast):
    payload = {
        "episode": cast.episode.pk,
        "instruments": ["phq9"],
        "due_at": (timezone.now() + timedelta(days=1)).isoformat(),
    }
    client = api_as(cast.therapist)
    assert client.post(URL, payload, format="json").status_code == 201
    again = client.post(URL, payload, format="json")
    assert again.status_code == 400 and "already due" in again.json()["due_at"][0]
    assert CheckIn.objects.filter(status=CheckInStatus.PENDING).count() == 1
