"""Privacy: contact details encrypted at rest, addresses kept out of logs, a client's data
exported (JSON, PDF) and erased on request, and closed episodes erased after retention."""

import json
import logging
from datetime import timedelta

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.core.management import CommandError, call_command
from django.db import connection
from django.utils import timezone

from audit.models import AuditEvent
from clients.models import Client, Episode
from config.log_redaction import RedactEmailAddresses
from lib.encrypted_fields import _fernet_for
from messaging.models import OutboundEmail
from outcomes.models import Administration
from privacy.services import retention_erase_expired
from tests.factories import make_client, make_episode


def raw_contact_details(client) -> tuple[str, str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT email, name FROM clients_client WHERE id = %s", [client.pk])
        return cursor.fetchone()


def add_response(episode, total=14):
    return Administration.objects.create(
        episode=episode,
        instrument="phq9",
        answers=[2, 2, 2, 2, 2, 1, 1, 1, 1],
        total=total,
        band="moderate",
        source="link",
    )


# --- Encryption at rest -----------------------------------------------------------------------


def test_contact_details_are_stored_encrypted_and_read_as_plaintext(cast):
    client = make_client(cast.clinic, email="ann.lee@example.org", name="Ann Lee")
    email, name = raw_contact_details(client)
    # Fernet tokens are URL-safe base64: "." "@" and " " cannot occur in one, so a plaintext
    # fragment holding them is a deterministic check (a bare "ann" appears by chance).
    assert email.startswith("gAAAAA") and "ann.lee" not in email and "@" not in email
    assert name.startswith("gAAAAA") and "Ann Lee" not in name and " " not in name
    fresh = Client.objects.get(pk=client.pk)
    assert (fresh.email, fresh.name) == ("ann.lee@example.org", "Ann Lee")


def test_rows_written_before_encryption_are_read_as_they_are(cast):
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE clients_client SET email = %s WHERE id = %s",
            ["old@example.org", cast.client.pk],
        )
    assert Client.objects.get(pk=cast.client.pk).email == "old@example.org"


def test_an_empty_address_can_be_filtered_but_a_value_cannot(cast):
    make_client(cast.clinic, email="")
    assert Client.objects.filter(email="").count() == 1
    assert Client.objects.exclude(email="").count() == 2
    with pytest.raises(ValueError, match="filter by label"):
        list(Client.objects.filter(email=cast.client.email))


def test_keys_rotate_the_first_encrypts_and_the_old_one_still_decrypts(cast, settings):
    written_before = Client.objects.get(pk=cast.client.pk).email
    settings.FIELD_ENCRYPTION_KEY = f"a-new-key-2026,{settings.FIELD_ENCRYPTION_KEY}"
    assert Client.objects.get(pk=cast.client.pk).email == written_before
    newer = make_client(cast.clinic, email="new@example.org")
    settings.FIELD_ENCRYPTION_KEY = "a-new-key-2026"
    assert Client.objects.get(pk=newer.pk).email == "new@example.org"
    _fernet_for.cache_clear()


def test_a_wrong_key_fails_loudly_instead_of_mailing_ciphertext(cast, settings):
    settings.FIELD_ENCRYPTION_KEY = "not-the-key"
    with pytest.raises(ImproperlyConfigured):
        Client.objects.get(pk=cast.client.pk)


# --- Logs -------------------------------------------------------------------------------------


def test_log_records_never_carry_an_email_address(caplog):
    logger = logging.getLogger("tests.privacy")
    logger.addFilter(RedactEmailAddresses())
    with caplog.at_level(logging.INFO, logger="tests.privacy"):
        logger.info("550 mailbox %s unavailable", "ann.lee+x@mail.example.co.uk")
        try:
            raise OSError("refused for bob@example.org")
        except OSError:
            logger.exception("sending failed")
    text = caplog.text
    assert "ann.lee" not in text and "bob@" not in text
    assert "550 mailbox [e-mail redacted] unavailable" in text
    assert "OSError: refused for [e-mail redacted]" in text


def test_a_link_key_in_a_logged_path_is_redacted(client, cast):
    """Django logs the path of every 4xx/5xx response: a check-in link's path is its secret."""
    import io

    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(RedactEmailAddresses())
    django_request = logging.getLogger("django.request")
    django_request.addHandler(handler)
    key = "Zq3" + "x" * 29 + "_-k9"
    try:
        assert client.get(f"/c/{key}/done/").status_code >= 400
        assert client.get(f"/c/opt-out/{key}:1tXyZ:abcdefgh/").status_code >= 400
        logging.getLogger("tests.privacy").addHandler(handler)
        logging.getLogger("tests.privacy").warning("used otk_%s", key)
    finally:
        django_request.removeHandler(handler)
        logging.getLogger("tests.privacy").removeHandler(handler)
    logged = stream.getvalue()
    assert "/c/[key redacted]/done/" in logged and "/c/opt-out/[key redacted]" in logged
    assert key not in logged


def test_the_project_log_handlers_carry_the_redaction_filter(settings):
    for handler in settings.LOGGING["handlers"].values():
        assert "redact_emails" in handler["filters"]


# --- Export and erasure -----------------------------------------------------------------------


def test_a_clinic_admin_exports_a_clients_data_as_json_and_pdf(cast, client):
    add_response(cast.episode)
    client.force_login(cast.admin)
    assert client.get(f"/privacy/clients/{cast.client.pk}/").status_code == 200

    exported = client.get(f"/privacy/clients/{cast.client.pk}/export.json")
    data = json.loads(exported.content)
    assert data["client"]["email"] == cast.client.email
    assert data["episodes"][0]["responses"][0]["total"] == 14
    assert "key_hash" not in exported.content.decode()
    pdf = client.get(f"/privacy/clients/{cast.client.pk}/export.pdf")
    assert pdf["Content-Type"] == "application/pdf" and pdf.content.startswith(b"%PDF")
    formats = AuditEvent.objects.filter(action="client.export", client=cast.client)
    assert sorted(formats.values_list("details__format", flat=True)) == ["json", "pdf"]


def test_a_label_cannot_rewrite_the_exports_file_name(cast, client):
    cast.client.label = "\"; filename*=UTF-8''x.html; a=\""
    cast.client.save()
    client.force_login(cast.admin)
    response = client.get(f"/privacy/clients/{cast.client.pk}/export.json")
    disposition = response["Content-Disposition"]
    assert disposition == 'attachment; filename="client-filename_UTF-8_x_html_a.json"'


@pytest.mark.parametrize("who", ["therapist", "supervisor", "outsider"])
def test_only_the_clinics_admins_export_or_erase(cast, client, who):
    client.force_login(getattr(cast, who))
    base = f"/privacy/clients/{cast.client.pk}/"
    assert client.get(base + "export.json").status_code == 404
    assert client.post(base + "erase/", {"confirm_label": cast.client.label}).status_code == 404
    assert Client.objects.filter(pk=cast.client.pk).exists()


def test_erasure_deletes_the_client_and_everything_about_them_and_is_audited(cast, client):
    add_response(cast.episode)
    OutboundEmail.objects.create(
        to=cast.client.email, subject="Your check-in", body_text="link", purpose="checkin"
    )
    OutboundEmail.objects.create(
        to="staff@example.org", subject="x", body_text="y", purpose="alert"
    )
    viewed = AuditEvent.objects.create(action="client.view", client=cast.client, clinic=cast.clinic)
    client.force_login(cast.admin)
    url = f"/privacy/clients/{cast.client.pk}/erase/"

    assert client.post(url, {"confirm_label": "wrong"}).status_code == 302
    assert Client.objects.filter(pk=cast.client.pk).exists()
    client.post(url, {"confirm_label": cast.client.label})

    assert not Client.objects.filter(pk=cast.client.pk).exists()
    assert not Episode.objects.filter(pk=cast.episode.pk).exists()
    assert not Administration.objects.filter(episode_id=cast.episode.pk).exists()
    assert list(OutboundEmail.objects.values_list("to", flat=True)) == ["staff@example.org"]
    erasure = AuditEvent.objects.get(action="client.erase")
    assert erasure.actor == cast.admin and erasure.object_id == str(cast.client.pk)
    assert erasure.details == {"reason": "request", "episodes": 1, "responses": 1, "mails": 1}
    assert AuditEvent.objects.get(pk=viewed.pk).client is None  # the trail stays, unlinked
    assert Client.objects.filter(pk=cast.other_client.pk).exists()


def test_the_commands_export_and_erase_a_client(cast, tmp_path):
    out = tmp_path / "export.json"
    args = ["--clinic", cast.clinic.slug, "--label", cast.client.label]
    call_command("client_export", *args, "--output", str(out))
    assert json.loads(out.read_text())["client"]["label"] == cast.client.label
    with pytest.raises(CommandError, match="--yes"):
        call_command("client_erase", *args)
    call_command("client_erase", *args, "--yes")
    assert not Client.objects.filter(pk=cast.client.pk).exists()
    assert AuditEvent.objects.filter(action="client.erase", actor=None).exists()


# --- Retention --------------------------------------------------------------------------------


def test_retention_erases_closed_episodes_older_than_the_clinics_setting(cast):
    cast.clinic.retention_days = 365
    cast.clinic.save()
    today = timezone.localdate()
    long_closed = make_episode(cast.client, cast.therapist, weeks_ago=80)
    Episode.objects.filter(pk=long_closed.pk).update(ended_on=today - timedelta(days=366))
    recently_closed = make_episode(cast.client, cast.therapist, weeks_ago=30)
    Episode.objects.filter(pk=recently_closed.pk).update(ended_on=today - timedelta(days=364))
    gone_client = make_client(cast.clinic)
    only_episode = make_episode(gone_client, cast.therapist, weeks_ago=100)
    Episode.objects.filter(pk=only_episode.pk).update(ended_on=today - timedelta(days=400))
    add_response(only_episode)

    assert retention_erase_expired(today=today) == 2
    assert retention_erase_expired(today=today) == 0  # a second run finds nothing more

    assert set(Episode.objects.values_list("pk", flat=True)) == {
        cast.episode.pk,
        recently_closed.pk,
        cast.other_episode.pk,
    }
    assert not Client.objects.filter(pk=gone_client.pk).exists()
    assert Client.objects.filter(pk=cast.client.pk).exists()  # still has episodes
    reasons = AuditEvent.objects.filter(action__in=["episode.erase", "client.erase"])
    assert {e.details["reason"] for e in reasons} == {"retention"} and reasons.count() == 3


def test_the_retention_job_is_on_the_beat_schedule(settings):
    entry = settings.CELERY_BEAT_SCHEDULE["privacy.erase_expired_episodes"]
    assert entry["task"] == "privacy.tasks.erase_expired_episodes"
