"""Crisis and clinic contacts as links a phone can act on.

A clinic types its crisis contacts as free text, one a line ("Samaritans (24 hours, free):
116 123", "text SHOUT to 85258"). Someone in crisis on a phone should not have to copy a
number: each phone number becomes a ``tel:`` link and "text WORD to NUMBER" an ``sms:`` link
with the word filled in. The text itself is shown as typed.
"""

import re

from django import template
from django.utils.html import escape, format_html
from django.utils.safestring import mark_safe

register = template.Library()

# Three or more digits, single spaces or hyphens between them, optionally after a "+": "999",
# "116 123", "0100 000 0000", "+44 20 7946 0000". Two digits ("24 hours") are not a number.
PHONE = r"(?<![\w+])\+?\d(?:[ -]?\d){2,}(?!\w)"
TEXT_TO = rf"\btext\s+(?P<word>[A-Za-z0-9]+)\s+to\s+(?P<number>{PHONE})"
CONTACT = re.compile(rf"{TEXT_TO}|(?P<phone>{PHONE})", re.IGNORECASE)


def dial_string(number: str) -> str:
    """The number as a tel:/sms: URI wants it: digits, and a leading "+" if there was one."""
    digits = re.sub(r"\D", "", number)
    return f"+{digits}" if number.strip().startswith("+") else digits


def _line_linked(line: str) -> str:
    parts, position = [], 0
    for match in CONTACT.finditer(line):
        parts.append(escape(line[position : match.start()]))
        if match.group("phone"):
            href = f"tel:{dial_string(match.group('phone'))}"
        else:
            href = f"sms:{dial_string(match.group('number'))}?body={match.group('word')}"
        parts.append(format_html('<a href="{}" class="contact-link">{}</a>', href, match[0]))
        position = match.end()
    parts.append(escape(line[position:]))
    return "".join(parts)


@register.filter
def contacts_linked(text: str) -> str:
    """Contacts one a line, with tap-to-call and tap-to-text links, lines joined by <br>."""
    lines = (text or "").strip().splitlines()
    # Safe: every piece of the clinic's text went through escape() or format_html() above.
    return mark_safe("<br>".join(_line_linked(line) for line in lines))


@register.filter
def tel_href(number: str) -> str:
    return f"tel:{dial_string(number or '')}"
