"""Per-user API tokens for integrations (EHRs, kiosks, clinic scripts).

Only the SHA-256 of a token's key is stored, with a short prefix so staff can tell tokens apart;
the key itself is shown once, when the token is created, and can never be read back. A token acts
with exactly its user's scope (the same selectors as the pages), and revoking it is immediate.
"""

from django.conf import settings
from django.db import models
from django.utils import timezone


class ApiToken(models.Model):
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens"
    )
    name = models.CharField(max_length=100, help_text="What uses it, e.g. 'EHR sync'.")
    key_prefix = models.CharField(max_length=16, help_text="The key's first characters.")
    key_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(default=timezone.now)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    # A key skips the second factor, so for users who must use one it lives only so long
    # (API_TOKEN_MFA_MAX_AGE_DAYS); others' tokens last until revoked.
    expires_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = "API token"

    def __str__(self):
        return f"{self.name} ({self.key_prefix}…)"

    @property
    def is_active(self) -> bool:
        if self.revoked_at is not None:
            return False
        return self.expires_at is None or self.expires_at > timezone.now()
