"""The Django admin as a repair tool with a trail: client records change only with an audit entry
(field names, never values), clients and episodes are never deleted there (erasure is the GDPR
service), answers, alerts and check-ins are view only; setup stays usable."""

from html.parser import HTMLParser

import pytest
from django.contrib.auth import get_user_model

from audit.models import AuditEvent
from clients.models import CheckIn, CheckInKind, Client, Clinic, Episode, TreatmentSession
from messaging.services import mail_queue
from outcomes.models import Administration, Alert, AlertRule, AlertSeverity
from outcomes.services import administration_record, alert_raise
from tests.auth import login_verified

PHQ9 = [1, 1, 1, 1, 1, 1, 1, 1, 0]


class _FormFields(HTMLParser):
    """The name → value pairs a browser would submit from the page's main form."""

    def __init__(self):
        super().__init__()
        self.data: dict[str, list[str]] = {}
        self._select = None
        self._textarea = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        name = attrs.get("name")
        if tag == "input" and name and attrs.get("type") not in ("submit", "button", "file"):
            checkable = attrs.get("type") in ("checkbox", "radio")
            if checkable and "checked" not in attrs:
                return
            self.data.setdefault(name, []).append(attrs.get("value", "on" if checkable else ""))
        elif tag == "select" and name:
            self._select = name
            self.data.setdefault(name, [])
        elif tag == "option" and self._select and "selected" in attrs:
            self.data[self._select].append(attrs.get("value", ""))
        elif tag == "textarea" and name:
            self._textarea = name
            self.data[name] = [""]

    def handle_endtag(self, tag):
        if tag == "select":
            self._select = None
        elif tag == "textarea":
            self._textarea = None

    def handle_data(self, data):
        if self._textarea:
            self.data[self._textarea][0] += (
                data.lstrip("\n") if not self.data[self._textarea][0] else data
            )


def form_data(response) -> dict:
    parser = _FormFields()
    parser.feed(response.content.decode())
    return {name: values if len(values) > 1 else (values[0] if values else "")
            for name, values in parser.data.items()}  # fmt: skip


@pytest.fixture
def root(db, client):
    user = get_user_model().objects.create_superuser("root", password="pw-Root-12345")
    login_verified(client, user)
    return user


def change_url(obj) -> str:
    return f"/admin/{obj._meta.app_label}/{obj._meta.model_name}/{obj.pk}/change/"


def admin_events(root, action):
    return AuditEvent.objects.filter(actor=root, action=action)


# --- Client and episode: every save audited, by field name -------------------------------------


def test_changing_a_client_in_the_admin_records_the_fields_never_the_contact_details(
    cast, client, root
):
    data = form_data(client.get(change_url(cast.client)))
    data.update({"email": "new.address@example.org", "name": "Jane Q. Client"})

    response = client.post(change_url(cast.client), data)

    assert response.status_code == 302, response.content.decode()[:2000]
    assert Client.objects.get(pk=cast.client.pk).email == "new.address@example.org"
    (event,) = admin_events(root, "client.update")
    assert event.client == cast.client and event.clinic == cast.clinic
    assert event.details == {"via": "admin", "fields": ["email", "name"]}
    assert "new.address" not in str(event.details) and "Jane" not in str(event.details)


def test_an_unchanged_save_writes_nothing_and_an_episode_change_is_recorded(cast, client, root):
    client.post(change_url(cast.client), form_data(client.get(change_url(cast.client))))
    assert not AuditEvent.objects.filter(actor=root).exclude(action="auth.login").exists()

    data = form_data(client.get(change_url(cast.episode)))
    data["end_reason"] = "planned"
    data["ended_on"] = data["started_on"]
    assert client.post(change_url(cast.episode), data).status_code == 302
    (event,) = admin_events(root, "episode.update")
    assert event.details["fields"] == ["end_reason", "ended_on"]
    assert event.client == cast.client


def test_sessions_added_and_removed_on_the_episode_page_are_recorded(cast, client, root):
    data = form_data(client.get(change_url(cast.episode)))
    prefix = next(k for k in data if k.endswith("-TOTAL_FORMS") and "session" in k)[
        : -len("-TOTAL_FORMS")
    ]
    blank = f"{prefix}-__prefix__-"
    data.update({k.replace("__prefix__", "0"): v for k, v in data.items() if blank in k})
    data.update({f"{prefix}-TOTAL_FORMS": "1", f"{prefix}-0-starts_at_0": "12/01/2026"})
    data[f"{prefix}-0-starts_at_1"] = "10:00:00"
    assert client.post(change_url(cast.episode), data).status_code == 302
    session = TreatmentSession.objects.get(episode=cast.episode)
    assert admin_events(root, "session.create").get().object_id == str(session.pk)

    data = form_data(client.get(change_url(cast.episode)))
    data[f"{prefix}-0-DELETE"] = "on"
    assert client.post(change_url(cast.episode), data).status_code == 302
    assert not TreatmentSession.objects.filter(pk=session.pk).exists()
    assert admin_events(root, "session.delete").get().object_id == str(session.pk)


def test_a_client_is_onboarded_in_the_admin_with_their_first_episode(cast, client, root):
    """Add client with an inline episode: the episode takes its clinic from the client (the
    inline has no clinic field), and both rows are audited."""
    add_url = "/admin/clients/client/add/"
    data = form_data(client.get(add_url))
    prefix = next(k for k in data if k.endswith("-TOTAL_FORMS") and "episode" in k)[
        : -len("-TOTAL_FORMS")
    ]
    data.update(
        {
            "clinic": str(cast.clinic.pk),
            "label": "C-7001",
            "email": "new.client@example.org",
            f"{prefix}-TOTAL_FORMS": "1",
            f"{prefix}-0-therapist": str(cast.therapist.pk),
            f"{prefix}-0-started_on": "2026-12-01",
        }
    )

    response = client.post(add_url, data)

    assert response.status_code == 302, response.content.decode()[:2000]
    onboarded = Client.objects.get(label="C-7001")
    episode = Episode.objects.get(client=onboarded)
    assert episode.clinic == cast.clinic == onboarded.clinic
    assert episode.therapist == cast.therapist and episode.ended_on is None
    created = admin_events(root, "client.create").get()
    assert created.client == onboarded and created.clinic == cast.clinic
    assert "new.client" not in str(created.details)
    episode_created = admin_events(root, "episode.create").get()
    assert episode_created.object_id == str(episode.pk) and episode_created.client == onboarded
    assert episode_created.details == {"via": "admin", "fields": ["started_on", "therapist"]}


@pytest.mark.parametrize("which", ["client", "episode"])
def test_clients_and_episodes_cannot_be_deleted_in_the_admin(cast, client, root, which):
    obj = getattr(cast, which)
    base = f"/admin/clients/{which}/"
    page = client.get(change_url(obj)).content.decode()
    assert f"{obj.pk}/delete/" not in page
    assert client.post(f"{base}{obj.pk}/delete/", {"post": "yes"}).status_code == 403
    listing = client.get(base).content.decode()
    assert 'value="delete_selected"' not in listing
    client.post(base, {"action": "delete_selected", "_selected_action": [obj.pk], "post": "yes"})
    assert type(obj).objects.filter(pk=obj.pk).exists()


# --- Erasure through the GDPR service ----------------------------------------------------------


def test_the_admin_erases_a_client_through_the_gdpr_service_after_typing_the_label(
    cast, client, root
):
    mail_queue(to=cast.client.email, subject="Your check-in", body_text="...", purpose="checkin")
    action = {"action": "erase_client", "_selected_action": [cast.client.pk]}

    confirm = client.post("/admin/clients/client/", action)
    assert confirm.status_code == 200 and "cannot be undone" in confirm.content.decode()
    client.post("/admin/clients/client/", {**action, "confirm_label": "wrong"})
    assert Client.objects.filter(pk=cast.client.pk).exists()

    client.post("/admin/clients/client/", {**action, "confirm_label": cast.client.label})

    assert not Client.objects.filter(pk=cast.client.pk).exists()
    assert not Episode.objects.filter(pk=cast.episode.pk).exists()
    from messaging.models import OutboundEmail

    assert not OutboundEmail.objects.to_address(cast.client.email).exists()
    erased = admin_events(root, "client.erase").get()
    assert erased.object_id == str(cast.client.pk) and erased.clinic == cast.clinic


# --- View only: answers, alerts, check-ins -----------------------------------------------------


def test_answers_alerts_and_checkins_are_view_only_in_the_admin(cast, client, root):
    administration = administration_record(
        episode=cast.episode, instrument_code="phq9", answers=PHQ9, source="paper"
    ).administration
    alert, _ = alert_raise(
        episode=cast.episode,
        rule=AlertRule.CONTACT_REQUEST,
        trigger="t",
        severity=AlertSeverity.HIGH,
        message="Asked to be contacted.",
    )
    checkin = CheckIn.objects.create(
        episode=cast.episode, kind=CheckInKind.ONE_OFF, due_at=alert.created_at, instruments=[]
    )
    for obj in (administration, alert, checkin):
        base = f"/admin/{obj._meta.app_label}/{obj._meta.model_name}/"
        assert client.get(change_url(obj)).status_code == 200  # shown
        assert client.post(change_url(obj), {"state": "resolved"}).status_code == 403
        assert client.post(f"{base}{obj.pk}/delete/", {"post": "yes"}).status_code == 403
        assert client.get(f"{base}add/").status_code == 403
        client.post(
            base, {"action": "delete_selected", "_selected_action": [obj.pk], "post": "yes"}
        )
        assert type(obj).objects.filter(pk=obj.pk).exists()
    assert Alert.objects.get(pk=alert.pk).state == "open"
    assert Administration.objects.get(pk=administration.pk).answers == PHQ9


# --- Setup stays usable ------------------------------------------------------------------------


def test_clinics_and_teams_are_still_set_up_in_the_admin(db, client, root):
    data = form_data(client.get("/admin/clients/clinic/add/"))
    data.update({"name": "Lakeside", "slug": "lakeside", "teams-0-name": "Team North"})
    data["teams-TOTAL_FORMS"] = "1"
    response = client.post("/admin/clients/clinic/add/", data)
    assert response.status_code == 302, response.content.decode()[:2000]
    assert Clinic.objects.get(slug="lakeside").teams.get().name == "Team North"


@pytest.mark.parametrize(
    ("field", "value", "error"),
    [
        ("first_limit_week", "1", "greater than or equal to 2"),
        ("z_yellow", "2.0", "at most the red z"),
        ("sigma_floor", "half", "Select a valid choice"),
        ("not_on_track_rearm_scores", "0", "greater than or equal to 1"),
    ],
)
def test_the_clinic_admin_refuses_curve_settings_out_of_range(
    db, client, root, field, value, error
):
    data = form_data(client.get("/admin/clients/clinic/add/"))
    data.update({"name": "Lakeside", "slug": "lakeside", field: value})
    response = client.post("/admin/clients/clinic/add/", data)
    assert response.status_code == 200
    assert error in response.content.decode()
    assert not Clinic.objects.filter(slug="lakeside").exists()
