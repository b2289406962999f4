"""Reactions of the API to what lower apps announce (connected in ``ApiConfig.ready``).

Accounts sits below the API and must not import it, so it sends ``password_changed`` and the API
revokes the tokens issued under the old password.
"""

from django.dispatch import receiver

from accounts.signals import password_changed
from api.services import api_tokens_revoke_for_user


@receiver(password_changed, dispatch_uid="api.revoke_tokens_on_password_change")
def revoke_tokens_on_password_change(sender, *, user, actor, **kwargs) -> int:
    """A token issued under the old password must not outlive it; returns how many were revoked."""
    return api_tokens_revoke_for_user(user=user, actor=actor, reason="password_changed")
