"""Reads for sign-in security: who must use a second factor, and which clinic a user's audit rows
belong to. (The caller's address is ``lib.request_address.client_ip``.)"""

from django.conf import settings
from django_otp import user_has_device

from clients.models import Role
from clients.selectors import memberships_of

# Roles that see many clients' data at once: a stolen password alone must not be enough.
MFA_REQUIRED_ROLES = (Role.SUPERVISOR, Role.ADMIN)


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
