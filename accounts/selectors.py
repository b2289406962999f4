"""Reads for sign-in security: who the caller is (their address) and who must use a second
factor."""

import functools
import ipaddress

from django.conf import settings
from django_otp import user_has_device

from clients.models import Role
from clients.selectors import memberships_of

# Roles that see many clients' data at once: a stolen password alone must not be enough.
MFA_REQUIRED_ROLES = (Role.SUPERVISOR, Role.ADMIN)


def client_ip(request) -> str | None:
    """The caller's address. X-Forwarded-For is believed only when the request came from one of
    ``TRUSTED_PROXIES`` (addresses or networks): walking it from the right, the first address
    that is not itself a trusted proxy is the caller. Anyone can send the header, so trusting
    it by *count* (as before) let a caller who reached the app directly forge any address: dodge
    the lockout and the link rate limit, or lock a colleague out."""
    remote = request.META.get("REMOTE_ADDR") or None
    if remote is None or not _is_trusted_proxy(remote):
        return remote
    forwarded = [part.strip() for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")]
    for hop in reversed([part for part in forwarded if part]):
        try:
            ipaddress.ip_address(hop)
        except ValueError:
            return remote  # a garbled chain: believe only what the proxy itself is
        if not _is_trusted_proxy(hop):
            return hop
    return remote


def _is_trusted_proxy(address: str) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in _trusted_networks(tuple(settings.TRUSTED_PROXIES)))


@functools.lru_cache(maxsize=4)
def _trusted_networks(entries: tuple[str, ...]) -> tuple:
    return tuple(ipaddress.ip_network(entry.strip(), strict=False) for entry in entries if entry)


def normalised_username(username: str) -> str:
    return (username or "").strip().lower()[:150]


def mfa_required_for(user) -> bool:
    """Supervisors, clinic admins and Django admin-site users must use a second factor."""
    if not settings.MFA_REQUIRED or not user.is_authenticated:
        return False
    if user.is_staff or user.is_superuser:
        return True
    return memberships_of(user).filter(role__in=MFA_REQUIRED_ROLES).exists()


def user_has_mfa(user) -> bool:
    return user.is_authenticated and user_has_device(user, confirmed=True)


def user_audit_clinic(user):
    """The clinic a staff member's own sign-in events are filed under (their first membership)."""
    membership = memberships_of(user).order_by("pk").first()
    return membership.clinic if membership else None
