"""Writes for sign-in security: failed attempts, TOTP enrolment and recovery codes."""

import enum
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from accounts import signals
from accounts.models import (
    AuthenticatorDevice,
    LoginFailure,
    RecoveryCode,
    RecoveryCodes,
    recovery_code_digest,
    recovery_code_new,
)
from accounts.selectors import normalised_username, user_audit_clinic
from audit.services import audit_record

RECOVERY_CODE_COUNT = 10
TOTP_DEVICE_NAME = "Authenticator app"
RECOVERY_DEVICE_NAME = "Recovery codes"


class LoginRefusal(enum.Enum):
    LOCKED_OUT = "locked_out"  # too many failures for this username from this address
    SLOW_DOWN = "slow_down"  # the account is being guessed at from browsers it has never used


@dataclass(frozen=True)
class LoginAttempt:
    """A claimed sign-in attempt. Its row counts as a failure from the moment it is claimed
    until the password (or code) proves right, so parallel attempts count each other."""

    failure_id: int | None
    refusal: LoginRefusal | None = None


def login_attempt_claim(*, username: str, ip: str | None, known_browser: bool) -> LoginAttempt:
    """Claim an attempt before the password is tested, or refuse it.

    Check-then-record let 40 parallel wrong passwords from one address all be tested (threshold
    5): each counted before any had recorded its failure. Here each attempt writes its row
    first (autocommit: the others see it at once) and then counts, so the k-th attempt to commit
    sees at least k rows and at most LOGIN_LOCKOUT_THRESHOLD are ever tested in a window.

    Per (username, address): the lockout. Per account, from browsers that never signed in as
    this user: after LOGIN_ACCOUNT_STRANGER_FAILURES failures in the window, one attempt per
    LOGIN_ACCOUNT_SLOWDOWN_SECONDS (OWASP's "device cookie" defence): a guesser spread over
    many addresses is slowed, and the user's own browser is not.
    """
    name = normalised_username(username)
    now = timezone.now()
    row = LoginFailure.objects.create(
        username=name, ip_address=ip, known_browser=known_browser, at=now
    )
    window = LoginFailure.objects.filter(
        username=name, at__gte=now - timedelta(seconds=settings.LOGIN_LOCKOUT_WINDOW_SECONDS)
    )
    refusal = None
    if window.filter(ip_address=ip).count() > settings.LOGIN_LOCKOUT_THRESHOLD:
        refusal = LoginRefusal.LOCKED_OUT
    elif not known_browser:
        strangers = window.filter(known_browser=False)
        if strangers.count() > settings.LOGIN_ACCOUNT_STRANGER_FAILURES:
            since = now - timedelta(seconds=settings.LOGIN_ACCOUNT_SLOWDOWN_SECONDS)
            if strangers.exclude(pk=row.pk).filter(at__gte=since).exists():
                refusal = LoginRefusal.SLOW_DOWN
    if refusal is not None:
        # Refused without testing the password: not a failure, and it must not extend the wait.
        row.delete()
        return LoginAttempt(failure_id=None, refusal=refusal)
    # Old rows say nothing about the current window; drop them as we go instead of in a job.
    keep_for = timedelta(seconds=max(settings.LOGIN_LOCKOUT_WINDOW_SECONDS, 86400))
    LoginFailure.objects.filter(at__lt=now - keep_for).delete()
    return LoginAttempt(failure_id=row.pk)


def login_attempt_succeeded(*, attempt: LoginAttempt, username: str, ip: str | None) -> None:
    """The password or code was right: this attempt was no failure, and the pair starts afresh."""
    LoginFailure.objects.filter(pk=attempt.failure_id).delete()
    login_failures_clear(username=username, ip=ip)


def login_failures_clear(*, username: str, ip: str | None) -> None:
    LoginFailure.objects.filter(username=normalised_username(username), ip_address=ip).delete()


def password_changed(*, user, actor, request=None) -> int:
    """After a new password was set for ``user`` (by themselves, or by an administrator in the
    admin): record it, and revoke every API token of theirs. A password is changed when an
    account may be compromised; a token issued under the old one must not outlive it (Django
    ends the other sessions for the same reason). The API owns the tokens and sits above
    accounts, so it revokes them on the ``password_changed`` signal. Returns the number of
    tokens revoked."""
    with transaction.atomic():
        audit_record(
            actor=actor,
            action="auth.password_changed",
            obj=user,
            clinic=user_audit_clinic(user),
            request=request,
        )
        responses = signals.password_changed.send(sender=type(user), user=user, actor=actor)
        return sum(revoked for _receiver, revoked in responses if isinstance(revoked, int))


def totp_device_start(*, user) -> AuthenticatorDevice:
    """An unconfirmed TOTP device to show as a QR code; the same one until it is confirmed, so
    reloading the page does not invalidate a code the user has already scanned."""
    device = AuthenticatorDevice.objects.filter(user=user, confirmed=False).order_by("pk").first()
    if device is None:
        device = AuthenticatorDevice.objects.create(
            user=user, name=TOTP_DEVICE_NAME, confirmed=False
        )
    return device


def totp_device_confirm(
    *, device: AuthenticatorDevice, token: str, request=None
) -> list[str] | None:
    """Confirm ``device`` with a code from the app. Returns fresh recovery codes (shown once), or
    None when the code is wrong. Earlier TOTP devices of the user are replaced."""
    if not device.verify_token(token):
        return None
    with transaction.atomic():
        AuthenticatorDevice.objects.filter(user=device.user).exclude(pk=device.pk).delete()
        AuthenticatorDevice.objects.filter(pk=device.pk).update(confirmed=True)
        device.confirmed = True
        codes = _recovery_codes_replace(user=device.user)
        audit_record(
            actor=device.user,
            action="auth.mfa_enrolled",
            obj=device.user,
            clinic=user_audit_clinic(device.user),
            request=request,
        )
    return codes


def recovery_codes_regenerate(*, user, request=None) -> list[str]:
    with transaction.atomic():
        codes = _recovery_codes_replace(user=user)
        audit_record(
            actor=user,
            action="auth.recovery_codes_regenerated",
            obj=user,
            clinic=user_audit_clinic(user),
            request=request,
        )
    return codes


def _recovery_codes_replace(*, user) -> list[str]:
    """New codes for ``user``, voiding the old ones; the codes are returned to be shown once and
    only their digests are kept."""
    RecoveryCodes.objects.filter(user=user).delete()
    device = RecoveryCodes.objects.create(user=user, name=RECOVERY_DEVICE_NAME, confirmed=True)
    codes = [recovery_code_new() for _ in range(RECOVERY_CODE_COUNT)]
    RecoveryCode.objects.bulk_create(
        RecoveryCode(device=device, digest=recovery_code_digest(code)) for code in codes
    )
    return codes
