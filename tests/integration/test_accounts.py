"""Staff sign-in: second factor, lockout, idle timeout, session renewal and password change."""

import base64
import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
import time_machine
from django.contrib.auth import SESSION_KEY
from django.contrib.sessions.backends.db import SessionStore
from django.test import Client
from django.utils import timezone
from django_otp.oath import totp

from accounts.models import (
    AuthenticatorDevice,
    LoginFailure,
    RecoveryCode,
    RecoveryCodes,
    recovery_code_digest,
)
from audit.models import AuditEvent
from tests.auth import totp_device_for

PASSWORD = "pw-Test-12345"  # tests.factories.make_staff's default


@pytest.fixture(autouse=True)
def _no_device_throttling(settings):
    # django-otp also delays the next try after a wrong code (1 s, 2 s, 4 s...); these tests
    # enter a wrong code and then the right one at once. The lockout is tested on its own.
    settings.OTP_TOTP_THROTTLE_FACTOR = 0
    settings.OTP_STATIC_THROTTLE_FACTOR = 0


def code_for(device: AuthenticatorDevice) -> str:
    device.refresh_from_db()
    return f"{totp(device.bin_key, step=device.step, t0=device.t0, digits=device.digits):06d}"


def log_in(client, username, password=PASSWORD, ip="10.0.0.1"):
    return client.post("/login/", {"username": username, "password": password}, REMOTE_ADDR=ip)


@pytest.mark.mfa
def test_a_supervisor_without_a_second_factor_is_sent_to_enrol_before_anything_else(cast, client):
    client.force_login(cast.supervisor)
    for path in ("/", "/admin/", "/accounts/security/"):
        response = client.get(path)
        assert response.status_code == 302, path
        assert response["Location"].startswith("/accounts/mfa/enrol/?next="), path


@pytest.mark.mfa
def test_a_clinic_admin_calling_the_api_unverified_gets_403_not_a_redirect(cast, client):
    client.force_login(cast.admin)
    response = client.get("/api/v1/clients/")
    assert response.status_code == 403
    assert "Two-factor" in response.json()["detail"]


@pytest.mark.mfa
def test_a_therapist_may_work_without_a_second_factor(cast, client):
    client.force_login(cast.therapist)
    assert client.get("/").status_code == 200


@pytest.mark.mfa
def test_enrolment_shows_an_inline_qr_code_and_recovery_codes_once(cast, client):
    client.force_login(cast.supervisor)
    page = client.get("/accounts/mfa/enrol/?next=/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "<svg" in html and "<img" not in html  # drawn here, no third-party QR service
    assert "no-store" in page["Cache-Control"]
    device = AuthenticatorDevice.objects.get(user=cast.supervisor, confirmed=False)
    assert client.post("/accounts/mfa/enrol/", {"token": "000000"}).status_code == 200
    assert not AuthenticatorDevice.objects.filter(user=cast.supervisor, confirmed=True).exists()

    shown = client.post("/accounts/mfa/enrol/", {"token": code_for(device), "next": "/"})

    codes = shown.context["codes"]
    assert len(codes) == 10 and all(code in shown.content.decode() for code in codes)
    assert AuthenticatorDevice.objects.get(pk=device.pk).confirmed
    assert client.get("/").status_code == 200  # verified in this session
    security = client.get("/accounts/security/").content.decode()
    assert "10 recovery codes left" in security
    assert not any(code in security for code in codes)
    assert AuditEvent.objects.filter(action="auth.mfa_enrolled", actor=cast.supervisor).exists()


@pytest.mark.mfa
def test_after_the_password_a_user_with_a_device_must_enter_a_code(cast, client):
    device = totp_device_for(cast.therapist)
    log_in(client, "therapist")
    before_code = client.cookies["sessionid"].value
    response = client.get("/")
    assert response.status_code == 302
    assert response["Location"] == "/accounts/mfa/verify/?next=%2F"

    wrong = client.post("/accounts/mfa/verify/", {"token": "123456", "next": "/"})
    assert wrong.status_code == 200 and "not right" in wrong.content.decode()
    right = client.post("/accounts/mfa/verify/", {"token": code_for(device), "next": "/"})

    assert right.status_code == 302 and right["Location"] == "/"
    assert client.get("/").status_code == 200
    # Verification is a privilege change: the session id is replaced.
    assert client.cookies["sessionid"].value != before_code


@pytest.mark.mfa
def test_a_recovery_code_works_once(cast, client):
    totp_device_for(cast.supervisor)
    client.force_login(cast.supervisor)
    from accounts.services import recovery_codes_regenerate

    code = recovery_codes_regenerate(user=cast.supervisor)[0]
    assert client.post("/accounts/mfa/verify/", {"token": code.upper()}).status_code == 302
    assert not RecoveryCode.objects.filter(digest=recovery_code_digest(code)).exists()
    client.logout()
    client.force_login(cast.supervisor)
    assert client.post("/accounts/mfa/verify/", {"token": code}).status_code == 200


@pytest.mark.mfa
def test_an_unverified_user_cannot_replace_their_device(cast, client):
    totp_device_for(cast.therapist)
    client.force_login(cast.therapist)
    response = client.get("/accounts/mfa/enrol/")
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/mfa/verify/")


def stored_key(device) -> str:
    """The key column as the database holds it, past the field's decryption."""
    from django.db import connection

    with connection.cursor() as cursor:
        table = AuthenticatorDevice._meta.db_table
        cursor.execute(f"SELECT key FROM {table} WHERE id = %s", [device.pk])
        return cursor.fetchone()[0]


@pytest.mark.mfa
def test_the_authenticator_secret_is_encrypted_at_rest_and_its_codes_still_verify(cast, client):
    device = totp_device_for(cast.therapist)
    stored = stored_key(device)
    assert stored.startswith("gAAAAA") and device.key not in stored
    assert len(bytes.fromhex(device.key)) == 20  # the plaintext is the usual 160-bit secret
    log_in(client, "therapist")
    right = client.post("/accounts/mfa/verify/", {"token": code_for(device), "next": "/"})
    assert right.status_code == 302 and right["Location"] == "/"
    # A code is good once: the same one again is refused (the last accepted step is stored).
    device.refresh_from_db()
    assert not device.verify_token(code_for(device))


def test_two_sign_ins_racing_with_one_code_do_not_both_pass(cast):
    device = totp_device_for(cast.therapist)
    code = code_for(device)
    first, second = (AuthenticatorDevice.objects.get(pk=device.pk) for _ in range(2))
    assert first.verify_token(code)
    assert not second.verify_token(code)  # loaded before the first claimed the step


def test_a_wrong_code_on_a_stale_copy_does_not_make_a_spent_code_good_again(cast):
    device = totp_device_for(cast.therapist)
    stale = AuthenticatorDevice.objects.get(pk=device.pk)
    code = code_for(device)
    assert device.verify_token(code)
    assert not stale.verify_token("not a code")  # recorded in place, not by saving the copy
    fresh = AuthenticatorDevice.objects.get(pk=device.pk)
    assert fresh.throttling_failure_count == 1
    assert not fresh.verify_token(code)


def test_the_enrolment_address_carries_the_secret_issuer_and_user(cast, settings):
    from urllib.parse import parse_qs, urlsplit

    settings.OTP_TOTP_ISSUER = "Riverside: Therapies"
    device = totp_device_for(cast.therapist)
    url = urlsplit(device.config_url)
    query = parse_qs(url.query)
    assert (url.scheme, url.netloc) == ("otpauth", "totp")
    assert url.path == "/Riverside%20Therapies%3Atherapist"
    assert base64.b32decode(query["secret"][0]) == device.bin_key
    assert query["issuer"] == ["Riverside Therapies"]
    assert (query["digits"], query["period"], query["algorithm"]) == (["6"], ["30"], ["SHA1"])
    assert "issuer=Riverside%20Therapies" in url.query
    settings.OTP_TOTP_ISSUER = ""
    assert urlsplit(device.config_url).path == "/therapist"
    assert "issuer" not in device.config_url


def test_recovery_codes_are_random_typeable_and_kept_only_as_digests(cast):
    import re

    from accounts.services import recovery_codes_regenerate

    codes = recovery_codes_regenerate(user=cast.therapist)
    assert len(set(codes)) == 10
    assert all(re.fullmatch(r"[a-z2-7]{4}-[a-z2-7]{4}-[a-z2-7]{4}", code) for code in codes)
    stored = set(RecoveryCode.objects.values_list("digest", flat=True))
    assert stored == {recovery_code_digest(code) for code in codes}
    assert recovery_code_digest(codes[0].upper().replace("-", " ")) in stored


def test_a_key_rotation_re_encrypts_the_authenticator_secrets(cast, settings):
    from io import StringIO

    from django.core.management import call_command

    device = totp_device_for(cast.therapist)
    before = stored_key(device)
    settings.FIELD_ENCRYPTION_KEY = f"a-new-key-for-2027,{settings.FIELD_ENCRYPTION_KEY}"
    out = StringIO()
    call_command("reencrypt_fields", stdout=out)
    assert "accounts.AuthenticatorDevice: 1 row(s) re-encrypted" in out.getvalue()
    settings.FIELD_ENCRYPTION_KEY = "a-new-key-for-2027"  # the old key dropped
    assert stored_key(device) != before
    assert AuthenticatorDevice.objects.get(pk=device.pk).key == device.key


def test_the_admin_lists_second_factors_but_never_their_secrets(cast, client):
    from django.contrib.auth import get_user_model

    from accounts.services import recovery_codes_regenerate
    from tests.auth import login_verified

    device = totp_device_for(cast.therapist)
    codes = recovery_codes_regenerate(user=cast.therapist)
    digests = list(RecoveryCode.objects.values_list("digest", flat=True))
    root = get_user_model().objects.create_superuser("root", password="pw-Root-12345")
    login_verified(client, root)
    pages = []
    for base, pk in (
        ("/admin/accounts/authenticatordevice/", device.pk),
        ("/admin/accounts/recoverycodes/", RecoveryCodes.objects.get(user=cast.therapist).pk),
    ):
        listing = client.get(base).content.decode()
        assert "therapist" in listing
        pages += [listing, client.get(f"{base}{pk}/change/").content.decode()]
        assert client.get(f"{base}add/").status_code == 403  # people enrol their own
    secrets = [device.key, stored_key(device), *codes, *digests]
    assert not [secret for secret in secrets for page in pages if secret in page]
    assert '<td class="field-codes_left">10</td>' in pages[2]
    # The plugins' admins, which showed secrets, are gone with the plugins.
    assert client.get("/admin/otp_totp/totpdevice/").status_code == 404


def test_removing_a_second_factor_in_the_admin_is_audited(cast, client):
    from django.contrib.auth import get_user_model

    from tests.auth import login_verified

    device = totp_device_for(cast.therapist)
    root = get_user_model().objects.create_superuser("root", password="pw-Root-12345")
    login_verified(client, root)
    page = f"/admin/accounts/authenticatordevice/{device.pk}/delete/"
    assert client.post(page, {"post": "yes"}).status_code == 302
    assert not AuthenticatorDevice.objects.filter(pk=device.pk).exists()
    event = AuditEvent.objects.get(action="auth.mfa_removed")
    assert (event.actor, event.object_id) == (root, str(cast.therapist.pk))
    assert event.details == {"device": "authenticator app"}


PLUGIN_TABLES = {
    # The columns of django-otp's TOTP and static plugins that accounts' migration 0002 reads.
    "otp_totp_totpdevice": "id integer PRIMARY KEY, user_id integer, name varchar(64), "
    "confirmed boolean, key varchar(80), step integer, t0 bigint, digits integer, "
    "tolerance integer, drift integer, last_t bigint, created_at timestamp, "
    "last_used_at timestamp",
    "otp_static_staticdevice": "id integer PRIMARY KEY, user_id integer, name varchar(64), "
    "confirmed boolean, created_at timestamp, last_used_at timestamp",
    "otp_static_statictoken": "id integer PRIMARY KEY, device_id integer, token varchar(16)",
}


@pytest.fixture
def plugin_tables(transactional_db):
    """An installation upgraded from the plugins: their tables exist beside the new ones."""
    from django.db import connection

    with connection.cursor() as cursor:
        for table, columns in PLUGIN_TABLES.items():
            cursor.execute(f"CREATE TABLE {table} ({columns})")
    yield connection
    with connection.cursor() as cursor:
        for table in PLUGIN_TABLES:
            cursor.execute(f"DROP TABLE {table}")


def plugin_rows(connection, table) -> int:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT COUNT(*) FROM {table}")
        return cursor.fetchone()[0]


def test_the_migration_moves_the_plugins_second_factors_unreadable_and_still_working(
    cast, plugin_tables
):
    from django.db.migrations.executor import MigrationExecutor

    connection = plugin_tables
    executor = MigrationExecutor(connection)
    executor.migrate([("accounts", "0001_login_failures")])
    enrolled = timezone.now().replace(microsecond=0) - timedelta(days=40)
    user = cast.therapist.pk
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO otp_totp_totpdevice VALUES (1, %s, 'Phone', %s, %s, 30, 0, 6, 1, 0, 7,"
            " %s, NULL)",
            [user, True, "ab" * 20, enrolled],
        )
        cursor.execute(
            "INSERT INTO otp_static_staticdevice VALUES (5, %s, 'Backup', %s, %s, NULL)",
            [user, True, enrolled],
        )
        cursor.execute("INSERT INTO otp_static_statictoken VALUES (1, 5, 'abcd2345')")
        cursor.execute("INSERT INTO otp_static_statictoken VALUES (2, 5, 'efgh6789')")

    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())

    for table in PLUGIN_TABLES:  # no readable secret left behind
        assert plugin_rows(connection, table) == 0, table
    moved = AuthenticatorDevice.objects.get(user=cast.therapist)
    assert (moved.name, moved.confirmed, moved.key, moved.last_t) == ("Phone", True, "ab" * 20, 7)
    assert moved.created_at == enrolled
    assert stored_key(moved).startswith("gAAAAA")
    assert moved.verify_token(code_for(moved))  # the app set up before still works
    codes = RecoveryCodes.objects.get(user=cast.therapist)
    assert codes.codes.count() == 2
    assert not RecoveryCode.objects.filter(digest__in=["abcd2345", "efgh6789"]).exists()
    assert codes.verify_token("ABCD 2345") and not codes.verify_token("abcd2345")
    assert codes.codes.count() == 1


def test_the_admin_signs_in_through_the_staff_login_page(client):
    response = client.get("/admin/login/?next=/admin/")
    assert response.status_code == 302 and response["Location"] == "/login/?next=/admin/"


def test_repeated_failures_lock_out_that_username_from_that_address_only(cast, settings):
    settings.LOGIN_LOCKOUT_THRESHOLD = 3
    browser = Client()
    for _ in range(3):
        assert "Please enter a correct" in log_in(browser, "therapist", "wrong").content.decode()

    locked = log_in(browser, "therapist")  # the right password no longer helps

    assert locked.status_code == 200 and "Too many failed attempts" in locked.content.decode()
    assert SESSION_KEY not in browser.session
    # A colleague behind the same address, and the same user elsewhere, are not locked out.
    assert log_in(Client(), "other_therapist").status_code == 302
    assert log_in(Client(), "therapist", ip="10.0.0.2").status_code == 302


def test_the_lockout_ends_when_the_window_has_passed(cast, settings):
    settings.LOGIN_LOCKOUT_THRESHOLD = 2
    with time_machine.travel(timezone.now(), tick=False) as traveller:
        for _ in range(2):
            log_in(Client(), "therapist", "wrong")
        assert log_in(Client(), "therapist").status_code == 200
        traveller.shift(timedelta(seconds=settings.LOGIN_LOCKOUT_WINDOW_SECONDS + 1))
        assert log_in(Client(), "therapist").status_code == 302


def test_behind_a_trusted_proxy_the_lockout_and_the_audit_log_see_the_callers_address(
    cast, settings
):
    settings.LOGIN_LOCKOUT_THRESHOLD = 2
    settings.TRUSTED_PROXIES = ["10.9.0.0/16"]
    proxy = "10.9.9.9"  # every request arrives from the proxy

    def through_proxy(username, password, caller):
        return Client().post(
            "/login/",
            {"username": username, "password": password},
            REMOTE_ADDR=proxy,
            HTTP_X_FORWARDED_FOR=f"6.6.6.6, {caller}",  # the left entry is the caller's to forge
        )

    for _ in range(2):
        through_proxy("therapist", "wrong", "203.0.113.7")
    assert through_proxy("therapist", PASSWORD, "203.0.113.7").status_code == 200  # locked
    assert through_proxy("therapist", PASSWORD, "198.51.100.4").status_code == 302
    signed_in = AuditEvent.objects.filter(actor=cast.therapist).latest("pk")
    assert signed_in.ip_address == "198.51.100.4"


def test_a_forged_forwarded_for_from_a_caller_who_is_not_a_proxy_changes_nothing(cast, settings):
    """With gunicorn reached directly, a caller could send any X-Forwarded-For: to dodge the
    lockout, or to lock a colleague out by failing in their name from their address."""
    settings.LOGIN_LOCKOUT_THRESHOLD = 2
    settings.TRUSTED_PROXIES = ["10.9.0.0/16"]

    def direct(password, forged):
        return Client().post(
            "/login/",
            {"username": "therapist", "password": password},
            REMOTE_ADDR="203.0.113.7",
            HTTP_X_FORWARDED_FOR=forged,
        )

    for n in range(2):
        direct("wrong", f"198.51.100.{n}")  # a new "address" each time
    assert direct(PASSWORD, "198.51.100.99").status_code == 200  # still locked: one caller
    # The colleague at 198.51.100.5 was not locked out by failures forged in their name.
    assert log_in(Client(), "therapist", ip="198.51.100.5").status_code == 302


def test_the_production_settings_trust_a_proxy_on_the_same_host_unless_told_otherwise():
    root = Path(__file__).resolve().parents[2]
    env = {k: v for k, v in os.environ.items() if k != "TRUSTED_PROXIES"}
    env["DJANGO_SETTINGS_MODULE"] = "config.settings_production"
    script = "import django; django.setup(); from django.conf import settings; "
    script += "print(','.join(settings.TRUSTED_PROXIES))"

    def proxies(**extra):
        result = subprocess.run(
            [sys.executable, "-c", script],
            cwd=root,
            env={**env, **extra},
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode == 0, result.stderr
        return result.stdout.strip()

    assert proxies() == "127.0.0.1,::1"
    assert proxies(TRUSTED_PROXIES="10.0.0.0/8") == "10.0.0.0/8"


def test_a_successful_login_clears_the_failure_count(cast, settings):
    settings.LOGIN_LOCKOUT_THRESHOLD = 3
    log_in(Client(), "therapist", "wrong")
    log_in(Client(), "therapist", "wrong")
    assert log_in(Client(), "therapist").status_code == 302
    assert not LoginFailure.objects.filter(username="therapist").exists()


@pytest.mark.mfa
def test_wrong_codes_count_towards_the_lockout(cast, client, settings):
    settings.LOGIN_LOCKOUT_THRESHOLD = 2
    device = totp_device_for(cast.therapist)
    log_in(client, "therapist")
    for _ in range(2):
        client.post("/accounts/mfa/verify/", {"token": "000000"}, REMOTE_ADDR="10.0.0.1")
    locked = client.post(
        "/accounts/mfa/verify/", {"token": code_for(device)}, REMOTE_ADDR="10.0.0.1"
    )
    assert locked.status_code == 200 and "Too many failed attempts" in locked.content.decode()


def test_login_starts_a_new_session(cast, client):
    planted = SessionStore()
    planted["planted"] = True
    planted.create()
    client.cookies["sessionid"] = planted.session_key

    assert log_in(client, "therapist").status_code == 302

    assert client.cookies["sessionid"].value != planted.session_key
    assert not SessionStore().exists(planted.session_key)  # a fixated id is worth nothing


def test_an_idle_session_ends_after_thirty_minutes_but_activity_keeps_it(cast, client, settings):
    assert settings.SESSION_COOKIE_AGE == 30 * 60 and settings.SESSION_SAVE_EVERY_REQUEST
    with time_machine.travel(timezone.now(), tick=False) as traveller:
        client.force_login(cast.therapist)
        for _ in range(3):  # an hour and a half of use, never idle for 30 minutes
            traveller.shift(timedelta(minutes=29))
            assert client.get("/").status_code == 200
        traveller.shift(timedelta(minutes=31))
        response = client.get("/")
    assert response.status_code == 302 and response["Location"].startswith("/login/")


def test_a_password_change_ends_the_other_sessions_and_keeps_this_one(cast):
    here, elsewhere = Client(), Client()
    log_in(here, "therapist")
    log_in(elsewhere, "therapist", ip="10.0.0.9")
    assert here.get("/accounts/password/").status_code == 200

    changed = here.post(
        "/accounts/password/",
        {
            "old_password": PASSWORD,
            "new_password1": "a-Fresh-passphrase-2026",
            "new_password2": "a-Fresh-passphrase-2026",
        },
    )

    assert changed.status_code == 302 and changed["Location"] == "/accounts/password/done/"
    assert here.get("/").status_code == 200
    assert elsewhere.get("/").status_code == 302
    assert AuditEvent.objects.filter(action="auth.password_changed").count() == 1


@pytest.mark.argon2
def test_staff_passwords_are_hashed_with_argon2(cast):
    from tests.factories import make_staff

    user = make_staff(cast.clinic, username="newcomer")
    assert user.password.startswith("argon2$")


# --- API tokens and the password ------------------------------------------------------------


def _bearer_status(key) -> int:
    from rest_framework.test import APIClient

    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    return api.get("/api/v1/episodes/").status_code


def test_changing_ones_password_revokes_ones_api_tokens_and_no_one_elses(cast):
    from api.services import api_token_create

    mine = [api_token_create(user=cast.therapist, name=name) for name in ("EHR", "kiosk")]
    colleagues = api_token_create(user=cast.other_therapist, name="EHR")
    browser = Client()
    log_in(browser, "therapist")
    new_password = "a-Fresh-passphrase-2026"

    changed = browser.post(
        "/accounts/password/",
        {"old_password": PASSWORD, "new_password1": new_password, "new_password2": new_password},
        follow=True,
    )

    assert "2 API token(s) were revoked" in changed.content.decode()
    assert [_bearer_status(issued.key) for issued in mine] == [401, 401]
    assert _bearer_status(colleagues.key) == 200
    revocations = AuditEvent.objects.filter(action="api_token.revoke", actor=cast.therapist)
    assert revocations.count() == 2
    assert {e.details["reason"] for e in revocations} == {"password_changed"}


def test_a_password_set_in_the_admin_revokes_that_users_api_tokens(cast, client):
    from django.contrib.auth import get_user_model

    from api.services import api_token_create
    from tests.auth import login_verified

    issued = api_token_create(user=cast.therapist, name="EHR")
    root = get_user_model().objects.create_superuser("root", password="pw-Root-12345")
    login_verified(client, root)
    new_password = "a-Fresh-passphrase-2026"

    response = client.post(
        f"/admin/auth/user/{cast.therapist.pk}/password/",
        {"password1": new_password, "password2": new_password, "usable_password": "true"},
    )

    assert response.status_code == 302, response.content.decode()[:500]
    assert _bearer_status(issued.key) == 401
    assert AuditEvent.objects.filter(
        action="api_token.revoke", actor=root, details__reason="password_changed"
    ).exists()
    assert AuditEvent.objects.filter(action="auth.password_changed", actor=root).exists()
    # A form that is sent back (the passwords differ) changes nothing and revokes nothing.
    other = api_token_create(user=cast.therapist, name="kiosk")
    client.post(
        f"/admin/auth/user/{cast.therapist.pk}/password/",
        {"password1": new_password, "password2": "something-else-2026"},
    )
    assert _bearer_status(other.key) == 200
