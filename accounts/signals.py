"""What sign-in security tells the apps above it, without importing them.

``password_changed`` fires inside the transaction that records a new password. The API (above
accounts) revokes the user's tokens on it; each receiver returns how many credentials it ended,
which the password page reports. Sent with ``send``, not ``send_robust``: a password change whose
token revocation failed must roll back rather than leave the old tokens working.
"""

from django.dispatch import Signal

# Sent with ``user`` (whose password changed) and ``actor`` (who changed it).
password_changed = Signal()
