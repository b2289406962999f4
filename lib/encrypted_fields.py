"""Model fields encrypted at rest (Fernet: AES-128-CBC with an HMAC-SHA256, from ``cryptography``).

Used for clients' contact details, so a database dump, a backup or a read-only SQL console does
not reveal who the clients are. Keys come from ``FIELD_ENCRYPTION_KEY`` (comma-separated: the
first encrypts, all decrypt, which allows rotation); without it a key is derived from
``SECRET_KEY``. Encrypted values cannot be searched or compared in SQL: look clients up by label.

Rows written before encryption was turned on hold plaintext; they are read as they are and
encrypted the next time they are saved.
"""

import base64
import hashlib
import hmac
from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.validators import validate_email
from django.db import models

# Every Fernet token starts with the version byte 0x80, i.e. "gAAAAA" in URL-safe base64.
TOKEN_PREFIX = "gAAAAA"


def _fernet_key(secret: str) -> bytes:
    """A valid Fernet key from any secret: one already in Fernet form is used as it is."""
    try:
        if len(base64.urlsafe_b64decode(secret.encode())) == 32:
            return secret.encode()
    except ValueError:
        pass
    digest = hashlib.sha256(b"outcome-tracker field encryption\x00" + secret.encode()).digest()
    return base64.urlsafe_b64encode(digest)


@lru_cache(maxsize=4)
def _fernet_for(keys: str) -> MultiFernet:
    secrets = [key.strip() for key in keys.split(",") if key.strip()]
    if not secrets:
        raise ImproperlyConfigured("FIELD_ENCRYPTION_KEY is empty.")
    return MultiFernet([Fernet(_fernet_key(secret)) for secret in secrets])


def field_fernet() -> MultiFernet:
    return _fernet_for(settings.FIELD_ENCRYPTION_KEY)


def encrypt_text(value: str) -> str:
    return field_fernet().encrypt(value.encode()).decode()


def decrypt_text(stored: str) -> str:
    if not stored.startswith(TOKEN_PREFIX):
        return stored  # written before encryption: plaintext
    try:
        return field_fernet().decrypt(stored.encode()).decode()
    except InvalidToken as error:
        # Not returning the ciphertext as if it were an address: that would e-mail garbage.
        raise ImproperlyConfigured(
            "An encrypted field cannot be decrypted: FIELD_ENCRYPTION_KEY does not hold the key "
            "it was written with."
        ) from error


def lookup_digests(value: str) -> list[str]:
    """Keyed digests of ``value`` (case-folded) under every configured key, the current key's
    first: what a model stores beside an encrypted value it must find again by equality (an
    address to forget), since the ciphertext itself cannot be compared. HMAC-SHA256, so the
    digest reveals nothing without the key; one per key so that rows written before a key
    rotation are still found."""
    keys = [key.strip() for key in settings.FIELD_ENCRYPTION_KEY.split(",") if key.strip()]
    message = value.strip().casefold().encode()
    return [
        hmac.new(_fernet_key(key) + b"lookup", message, hashlib.sha256).hexdigest() for key in keys
    ]


class _ExactEmptyOnly(models.lookups.Exact):
    def get_prep_lookup(self):
        if self.rhs not in ("", None):
            # Ciphertexts are randomised: an equality filter in SQL would silently never match.
            raise ValueError("Encrypted fields cannot be filtered by value; filter by label.")
        return super().get_prep_lookup()


class EncryptedTextField(models.TextField):
    """A single-line text field stored encrypted; forms and Python code see plaintext."""

    def from_db_value(self, value, expression, connection):
        return decrypt_text(value) if value else value

    def get_prep_value(self, value):
        value = super().get_prep_value(value)
        return encrypt_text(value) if value else value

    def get_lookup(self, lookup_name):
        if lookup_name == "exact":
            return _ExactEmptyOnly
        return super().get_lookup(lookup_name) if lookup_name == "isnull" else None

    def formfield(self, **kwargs):
        from django import forms

        return super().formfield(**{"widget": forms.TextInput, **kwargs})


class EncryptedEmailField(EncryptedTextField):
    default_validators = [validate_email]

    def formfield(self, **kwargs):
        from django import forms

        return super().formfield(
            **{"form_class": forms.EmailField, "widget": forms.EmailInput, **kwargs}
        )
