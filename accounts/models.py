"""Sign-in security: failed attempts, kept in the database so that every web worker sees the same
count, and the staff's second factors, whose secrets are never stored readable.

The second factors are django-otp devices (its middleware, ``devices_for_user`` and
``django_otp.login`` work with them as with its own), in place of its TOTP and static plugins,
which store the authenticator secret and the recovery codes in plain text: whoever read a dump or
a backup would hold every staff member's second factor.
"""

import base64
import hashlib
import secrets
import time
from binascii import unhexlify
from urllib.parse import quote, urlencode

from django.conf import settings
from django.db import models
from django.utils import timezone
from django_otp.models import Device, ThrottlingMixin, TimestampMixin
from django_otp.oath import TOTP
from django_otp.util import hex_validator, random_hex

from lib.encrypted_fields import EncryptedTextField


class LoginFailure(models.Model):
    """One failed password or second-factor attempt for a (username, address) pair.

    Keyed on both: locking by address alone would lock out a whole clinic behind one NAT address
    after one colleague's typos; locking by username alone would let anyone lock a therapist out.
    """

    username = models.CharField(max_length=150)
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    at = models.DateTimeField(default=timezone.now)
    # From a browser this user has signed in with before (its signed cookie): a guessing attack
    # on the account slows down strangers' attempts, never the user's own browser.
    known_browser = models.BooleanField(default=False)

    class Meta:
        indexes = [models.Index(fields=["username", "ip_address", "at"], name="login_failure_key")]

    def __str__(self):
        return f"{self.username} from {self.ip_address} at {self.at:%Y-%m-%d %H:%M}"


def totp_key_new() -> str:
    """A new TOTP secret: 20 random bytes (160 bits, RFC 4226's recommended length), as hex."""
    return random_hex(20)


def totp_key_validator(value):
    return hex_validator()(value)


class _AttemptRecording:
    """How both devices record an attempt: only the throttling and last-used columns, in place.

    django-otp's own mixins save the whole row, from this copy; a copy loaded before another
    sign-in claimed a code would write the old ``last_t`` back and make that code good again.
    """

    def _attempt_failed(self) -> None:
        now = timezone.now()
        type(self).objects.filter(pk=self.pk).update(
            throttling_failure_timestamp=now,
            throttling_failure_count=models.F("throttling_failure_count") + 1,
        )
        self.refresh_from_db(fields=["throttling_failure_timestamp", "throttling_failure_count"])

    def _attempt_succeeded(self) -> None:
        self.throttle_reset(commit=False)
        self.set_last_used_timestamp(commit=False)
        self.save(
            update_fields=[
                "throttling_failure_timestamp",
                "throttling_failure_count",
                "last_used_at",
            ]
        )


class AuthenticatorDevice(_AttemptRecording, TimestampMixin, ThrottlingMixin, Device):
    """A staff member's authenticator app (TOTP, RFC 6238), with the secret encrypted at rest.

    The fields are those of django-otp's ``TOTPDevice`` (codes from an app set up before the move
    still verify). The key is a Fernet ciphertext under ``FIELD_ENCRYPTION_KEY``
    (``lib.encrypted_fields``), like the clients' contact details, rewritten by
    ``reencrypt_fields`` after a key rotation.
    """

    key = EncryptedTextField(
        default=totp_key_new,
        validators=[totp_key_validator],
        help_text="A hex-encoded secret key of up to 40 bytes (stored encrypted).",
    )
    step = models.PositiveSmallIntegerField(default=30)
    t0 = models.BigIntegerField(default=0)
    digits = models.PositiveSmallIntegerField(choices=[(6, 6), (8, 8)], default=6)
    # Codes one step either side of now are accepted: phones' clocks drift.
    tolerance = models.PositiveSmallIntegerField(default=1)
    drift = models.SmallIntegerField(default=0)
    # The time step of the last code accepted: a later code must be of a later step (no replay).
    last_t = models.BigIntegerField(default=-1)

    class Meta(Device.Meta):
        verbose_name = "authenticator app"

    @property
    def bin_key(self) -> bytes:
        return unhexlify(self.key.encode())

    @property
    def secret_base32(self) -> str:
        """The secret as authenticator apps take it: typed in by hand, or in the QR code."""
        return base64.b32encode(self.bin_key).decode().rstrip("=")

    def get_throttle_factor(self):
        # django-otp's setting for its TOTP devices: the delay after a wrong code doubles from it.
        return getattr(settings, "OTP_TOTP_THROTTLE_FACTOR", 1)

    def verify_token(self, token) -> bool:
        allowed, _ = self.verify_is_allowed()
        if not allowed:
            return False
        try:
            code = int(token)
        except (TypeError, ValueError):
            code = None
        totp = TOTP(self.bin_key, self.step, self.t0, self.digits, self.drift)
        totp.time = time.time()
        if code is None or not totp.verify(code, self.tolerance, self.last_t + 1):
            self._attempt_failed()
            return False
        # Claimed with a conditional UPDATE, so two sign-ins racing with one code cannot both pass.
        claimed = AuthenticatorDevice.objects.filter(pk=self.pk, last_t__lt=totp.t()).update(
            last_t=totp.t(), drift=totp.drift
        )
        if not claimed:
            return False
        self.last_t, self.drift = totp.t(), totp.drift
        self._attempt_succeeded()
        return True

    @property
    def config_url(self) -> str:
        """The ``otpauth://`` address the enrolment QR code carries (Google's Key Uri Format)."""
        # The app lists the entry as "issuer:username"; a colon inside the issuer would split it.
        issuer = (getattr(settings, "OTP_TOTP_ISSUER", "") or "").replace(":", "").strip()
        username = self.user.get_username()
        params = {
            "secret": self.secret_base32,
            "algorithm": "SHA1",
            "digits": self.digits,
            "period": self.step,
        }
        if issuer:
            params["issuer"] = issuer
        label = f"{issuer}:{username}" if issuer else username
        # RFC 3986 encoding (%20, not "+"), as the Key Uri Format asks.
        return f"otpauth://totp/{quote(label)}?{urlencode(params, quote_via=quote)}"


# A recovery code holds 60 random bits (twelve base32 characters, shown in groups of four): too
# many to try every code against a stolen digest, few enough to type from paper.
RECOVERY_CODE_LENGTH = 12


def recovery_code_new() -> str:
    """A fresh recovery code as shown to the person, e.g. "k3jd-7wqa-mz2p"."""
    raw = base64.b32encode(secrets.token_bytes(8)).decode().lower()[:RECOVERY_CODE_LENGTH]
    return "-".join(raw[i : i + 4] for i in range(0, RECOVERY_CODE_LENGTH, 4))


def recovery_code_digest(code: str) -> str:
    """What is stored for a code: SHA-256 of it without spaces, dashes or capitals, so it is taken
    however it is typed. Unkeyed on purpose: rotating ``FIELD_ENCRYPTION_KEY`` must not void codes
    printed and put in a drawer; the code's 60 random bits keep the digest from being reversed."""
    normalised = "".join(str(code).split()).replace("-", "").lower()
    return hashlib.sha256(normalised.encode()).hexdigest()


class RecoveryCodes(_AttemptRecording, TimestampMixin, ThrottlingMixin, Device):
    """A staff member's one-time recovery codes, for a lost phone, each kept only as its digest.

    A code is checked by its digest and spent by deleting that row: one DELETE, so two sign-ins
    racing with one code cannot both succeed.
    """

    class Meta(Device.Meta):
        verbose_name = "recovery codes"
        verbose_name_plural = "recovery codes"

    def get_throttle_factor(self):
        # django-otp's setting for its static (recovery) devices.
        return getattr(settings, "OTP_STATIC_THROTTLE_FACTOR", 1)

    def verify_token(self, token) -> bool:
        allowed, _ = self.verify_is_allowed()
        if not allowed:
            return False
        spent, _ = self.codes.filter(digest=recovery_code_digest(token)).delete()
        if not spent:
            self._attempt_failed()
            return False
        self._attempt_succeeded()
        return True


class RecoveryCode(models.Model):
    device = models.ForeignKey(RecoveryCodes, on_delete=models.CASCADE, related_name="codes")
    digest = models.CharField(max_length=64, db_index=True)

    def __str__(self):
        return f"Recovery code of {self.device.user}"
