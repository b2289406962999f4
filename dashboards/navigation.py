"""The staff navigation: which pages a user is shown links to, by role.

A link appears only where the page would answer (every page checks again and answers 404 out of
scope: the navigation is a convenience, never the permission). Before the second factor is
verified the navigation shows nothing, not even the alert count: a password alone must not
reveal that a clinic has clients at risk.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings
from django.urls import reverse

from accounts.selectors import MFA_REQUIRED_ROLES, user_has_mfa
from clients.models import Role
from clients.selectors import memberships_of


@dataclass(frozen=True)
class NavLink:
    key: str
    label: str
    url: str


def second_factor_pending(user, *, roles: set[str]) -> bool:
    """True while a signed-in user still owes the second factor that the MFA middleware asks
    for (``roles``: theirs in any clinic, read once by the caller). A verified user costs no
    query; the device lookup is made last, for the unverified only."""
    if not user.is_authenticated or user.is_verified():
        return False
    required = settings.MFA_REQUIRED and (
        user.is_staff or user.is_superuser or bool(roles & set(MFA_REQUIRED_ROLES))
    )
    return required or user_has_mfa(user)


def staff_navigation(*, user, show_outbox: bool) -> list[NavLink]:
    """The links for ``user``: everyone their caseload and notifications; supervisors and clinic
    admins the reports; clinic admins the alert calibration and the audit log; superusers the
    admin and (demo) the outbox; everyone their account."""
    if not user.is_authenticated:
        return []
    roles = set(memberships_of(user).values_list("role", flat=True))
    if second_factor_pending(user, roles=roles):
        return []
    links = [
        NavLink("caseload", "Caseload", reverse("dashboards:caseload")),
        NavLink("alerts", "Notifications", reverse("dashboards:alerts")),
    ]
    if roles & {Role.SUPERVISOR, Role.ADMIN}:
        links.append(NavLink("reports", "Reports", reverse("reports:report")))
    if Role.ADMIN in roles:
        # The clinic's alert operating point: what each costs in false alarms (issue 16).
        links.append(NavLink("calibration", "Alert calibration", reverse("dashboards:calibration")))
        links.append(NavLink("audit", "Audit log", reverse("audit:log")))
    if user.is_superuser:
        links.append(NavLink("admin", "Admin", reverse("admin:index")))
        if show_outbox:
            links.append(NavLink("outbox", "Outbox (demo)", reverse("dashboards:local_outbox")))
    # Everyone's own account: two-step verification, password, API keys.
    links.append(NavLink("account", "Account", reverse("accounts:security")))
    return links


def current_link(links: list[NavLink], path: str) -> str | None:
    """The key of the link whose page ``path`` is (the longest matching prefix), or None."""
    # "/" (the caseload) is a prefix of every path: the longest match is the page's own link. A
    # link also stands for the pages of its own section (Account, at /accounts/security/, for
    # /accounts/tokens/ too).
    section = path.split("/")[1:2]
    matching = [
        link
        for link in links
        if path.startswith(link.url) or (section != [""] and link.url.split("/")[1:2] == section)
    ]
    if not matching:
        return None
    return max(matching, key=lambda link: len(link.url)).key
