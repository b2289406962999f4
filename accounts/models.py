"""Failed sign-in attempts, kept in the database so that every web worker sees the same count."""

from django.db import models
from django.utils import timezone


class LoginFailure(models.Model):
    """One failed password or second-factor attempt for a (username, address) pair.

    Keyed on both: locking by address alone would lock out a whole clinic behind one NAT address
    after one colleague's typos; locking by username alone would let anyone lock a therapist out.
    """

    username = models.CharField(max_length=150)
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [models.Index(fields=["username", "ip_address", "at"], name="login_failure_key")]

    def __str__(self):
        return f"{self.username} from {self.ip_address} at {self.at:%Y-%m-%d %H:%M}"
