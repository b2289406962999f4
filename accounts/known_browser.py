"""A signed cookie that marks a browser in which a user has signed in before.

OWASP's "device cookie" defence against online guessing: when an account is being guessed at
from many addresses, attempts from browsers that have never signed in as that user are slowed
down, while the user's own browser (which carries this cookie) signs in as usual. The cookie
holds only the normalised username, signed; it opens nothing by itself.
"""

from django.conf import settings
from django.core import signing

from accounts.selectors import normalised_username

COOKIE_NAME = "known_browser"
SALT = "accounts.known-browser"


def known_browser_for(request, username: str) -> bool:
    value = request.COOKIES.get(COOKIE_NAME)
    if not value:
        return False
    try:
        names = signing.loads(value, salt=SALT, max_age=settings.LOGIN_KNOWN_BROWSER_DAYS * 86400)
    except signing.BadSignature:
        return False
    return isinstance(names, list) and normalised_username(username) in names


def known_browser_remember(request, response, username: str) -> None:
    """Add ``username`` to the browser's cookie (a shared clinic computer may know several)."""
    names = []
    value = request.COOKIES.get(COOKIE_NAME)
    if value:
        try:
            names = signing.loads(value, salt=SALT)
        except signing.BadSignature:
            names = []
    name = normalised_username(username)
    names = [n for n in names if isinstance(n, str) and n != name][-9:] + [name]
    response.set_cookie(
        COOKIE_NAME,
        signing.dumps(names, salt=SALT),
        max_age=settings.LOGIN_KNOWN_BROWSER_DAYS * 86400,
        secure=settings.SESSION_COOKIE_SECURE,
        httponly=True,
        samesite="Lax",
    )
