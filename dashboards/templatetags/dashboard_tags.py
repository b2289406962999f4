"""Small formatting filters for the staff pages (numbers as clinicians read them)."""

from django import template
from django.utils import timezone

from dashboards.alert_words import alert_reason_short
from dashboards.selectors import instrument_short_name

register = template.Library()

RELIABLE_WORDS = {
    "improved": "reliable improvement",
    "unchanged": "no reliable change",
    "deteriorated": "reliable worsening",
}

# Jacobson & Truax's categories in a clinician's words. "Harmed" is the method's term for a
# client who started outside the clinical range and is now reliably worse and inside it; on a
# client's page it reads as an accusation, and it says less than the plain description.
CATEGORY_WORDS = {
    "recovered": "recovered",
    "improved": "improved",
    "unchanged": "no reliable change",
    "deteriorated": "deteriorated",
    "harmed": "worse, now in the clinical range",
}


@register.filter
def score(value):
    """14 for whole numbers, 14.5 otherwise, an en dash when missing."""
    if value is None or value == "":
        return "–"
    value = float(value)
    return f"{value:g}" if value == int(value) else f"{value:.1f}"


@register.filter
def signed(value):
    """+3 / −2 / 0, with a true minus sign."""
    if value is None:
        return "–"
    text = score(abs(value))
    return f"+{text}" if value > 0 else (f"\u2212{text}" if value < 0 else "0")


@register.filter
def percent(value):
    return "–" if value is None else f"{round(float(value) * 100)} %"


@register.filter
def reliable_words(value):
    return RELIABLE_WORDS.get(value, "")


@register.filter
def category_words(value):
    return CATEGORY_WORDS.get(value, value or "")


@register.filter
def alert_reason(alert):
    """The alert's reason in the caseload's words ("Worse than expected on PHQ-9"), so the alert
    card, the caseload row and the status ("Off track", "Not on track") never disagree."""
    code = alert.instrument or ""
    return alert_reason_short(
        rule=alert.rule,
        instrument=code,
        instrument_name=instrument_short_name(code) if code else "",
    )


@register.filter
def days_since(moment):
    """ "today", "yesterday", "5 days ago" for a date or datetime."""
    if moment is None:
        return ""
    day = timezone.localdate(moment) if hasattr(moment, "hour") else moment
    days = (timezone.localdate() - day).days
    if days <= 0:
        return "today"
    if days == 1:
        return "yesterday"
    if days < 14:
        return f"{days} days ago"
    return f"{days // 7} weeks ago"


@register.filter
def instrument_name(code):
    """ "PHQ-9" for "phq9"; the code itself for an instrument this installation does not know."""
    from dashboards.selectors import instrument_short_name

    return instrument_short_name(code)
