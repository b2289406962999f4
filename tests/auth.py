"""Sign a test client in as a staff member who has passed the second factor."""

import django_otp
from django.contrib.auth import SESSION_KEY

from accounts.models import AuthenticatorDevice


def totp_device_for(user) -> AuthenticatorDevice:
    device = AuthenticatorDevice.objects.filter(user=user, confirmed=True).first()
    return device or AuthenticatorDevice.objects.create(user=user, name="test", confirmed=True)


def login_verified(client, user) -> None:
    """``force_login`` plus a verified TOTP device in the session, as after ``mfa_verify``."""
    client.force_login(user)
    session = client.session
    assert session[SESSION_KEY] == str(user.pk)
    session[django_otp.DEVICE_ID_SESSION_KEY] = totp_device_for(user).persistent_id
    session.save()
