"""A logging filter that blanks e-mail addresses and link secrets in every record, whatever
logged it.

Our own code logs ids only, but Django, Celery, smtplib and third-party libraries format
messages and exception text that can carry a recipient's address ("550 no such user
client@example.org"), and Django logs the path of every response of 400 or more ("Not Found:
/c/<key>/", "Service Unavailable: /c/<key>/" during a database restart), which for a check-in
link or an opt-out link is the secret that opens it. API keys (``otk_…``) likewise. Attached to
every handler, so nothing reaches a log file unredacted.
"""

import logging
import re

EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+")
REDACTED = "[e-mail redacted]"
# /c/<key>/, /c/<key>/done/, /c/opt-out/<token>/ (checkins/urls.py), and API keys.
LINK_SECRET = re.compile(r"(/c/(?:opt-out/)?)[A-Za-z0-9_:.=-]{8,}")
API_KEY = re.compile(r"otk_[A-Za-z0-9_-]{8,}")


class RedactEmailAddresses(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if record.exc_info and record.exc_info[1] is not None:
            # The traceback is formatted after the filters run: fold it in now, to redact it.
            message = f"{message}\n{logging.Formatter().formatException(record.exc_info)}"
            record.exc_info = None
            record.exc_text = None
        if "@" in message:
            message = EMAIL.sub(REDACTED, message)
        if "/c/" in message:
            message = LINK_SECRET.sub(r"\1[key redacted]", message)
        if "otk_" in message:
            message = API_KEY.sub("otk_[key redacted]", message)
        record.msg, record.args = message, None
        return True
