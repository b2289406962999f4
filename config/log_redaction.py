"""A logging filter that blanks e-mail addresses in every record, whatever logged it.

Our own code logs ids only, but Django, Celery, smtplib and third-party libraries format
messages and exception text that can carry a recipient's address ("550 no such user
client@example.org"). Attached to every handler, so nothing reaches a log file unredacted.
"""

import logging
import re

EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+")
REDACTED = "[e-mail redacted]"


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
        record.msg, record.args = message, None
        return True
