"""Writes for API tokens: create (the key is returned once), revoke, and use.

Keys follow the check-in links (zulip's confirmation keys are the model): 256 random bits from the
OS's CSPRNG, only the SHA-256 stored, looked up by that hash and re-compared in constant time.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from accounts.selectors import mfa_required_for
from api.models import ApiToken
from audit.services import audit_record
from clients.selectors import clinics_of

KEY_PREFIX = "otk_"  # "outcome tracker key": recognisable in a leaked config file or a log scan
KEY_BYTES = 32
PREFIX_LENGTH = 12
KEY_PATTERN = re.compile(r"^otk_[A-Za-z0-9_-]{40,64}$")
# last_used_at is a convenience for spotting unused tokens, not an audit trail: writing it at most
# once a minute keeps a busy integration from turning every read into a write.
LAST_USED_RESOLUTION = timedelta(minutes=1)


@dataclass(frozen=True)
class IssuedToken:
    """A new token and its key; the key exists only here and must be shown to the user once."""

    token: ApiToken
    key: str


def api_key_hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def api_token_create(*, user, name: str, actor=None) -> IssuedToken:
    key = KEY_PREFIX + secrets.token_urlsafe(KEY_BYTES)
    expires_at = None
    if mfa_required_for(user):
        expires_at = timezone.now() + timedelta(days=settings.API_TOKEN_MFA_MAX_AGE_DAYS)
    with transaction.atomic():
        token = ApiToken.objects.create(
            user=user,
            name=name,
            key_prefix=key[:PREFIX_LENGTH],
            key_hash=api_key_hash(key),
            expires_at=expires_at,
        )
        _token_audit(token=token, actor=actor, action="api_token.create")
    return IssuedToken(token=token, key=key)


def api_token_revoke(*, token: ApiToken, actor=None, reason: str = "") -> bool:
    """Revoke at once; False if it was already revoked."""
    with transaction.atomic():
        revoked = ApiToken.objects.filter(pk=token.pk, revoked_at__isnull=True).update(
            revoked_at=timezone.now()
        )
        if revoked:
            _token_audit(token=token, actor=actor, action="api_token.revoke", reason=reason)
    token.refresh_from_db(fields=["revoked_at"])
    return bool(revoked)


def api_tokens_revoke_for_user(*, user, actor=None, reason: str) -> int:
    """Revoke every active token of ``user`` (e.g. their password changed); returns how many."""
    active = ApiToken.objects.filter(user=user, revoked_at__isnull=True).order_by("pk")
    return sum(api_token_revoke(token=token, actor=actor, reason=reason) for token in active)


def _token_audit(*, token: ApiToken, actor, action: str, reason: str = "") -> None:
    """One entry per clinic of the token's user: the token opens that user's scope in each, so
    each clinic's admin must see it on their audit page (an account in no clinic: one entry
    without a clinic, for the site administrators)."""
    details = {"user_id": token.user_id, "key_prefix": token.key_prefix}
    if reason:
        details["reason"] = reason
    for clinic in list(clinics_of(token.user).order_by("pk")) or [None]:
        audit_record(actor=actor, action=action, obj=token, clinic=clinic, details=details)


def api_token_use(*, key: str, now: datetime | None = None) -> ApiToken | None:
    """The active token whose key this is (with its active user), or None; notes its use."""
    if not KEY_PATTERN.match(key or ""):
        return None
    digest = api_key_hash(key)
    now = now or timezone.now()
    token = (
        ApiToken.objects.select_related("user")
        .filter(key_hash=digest, revoked_at__isnull=True, user__is_active=True)
        .filter(Q(expires_at__isnull=True) | Q(expires_at__gt=now))
        .first()
    )
    # The lookup is by hash, so its timing says nothing about the key; re-check all the same.
    if token is None or not hmac.compare_digest(token.key_hash, digest):
        return None
    if token.last_used_at is None or token.last_used_at < now - LAST_USED_RESOLUTION:
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
        token.last_used_at = now
    return token
