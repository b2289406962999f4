"""Small formatting filters for the staff pages (numbers as clinicians read them)."""

from django import template

from dashboards import display
from dashboards.alert_words import alert_reason_short
from dashboards.caseload_html import caseload_rows_html
from dashboards.display import CATEGORY_WORDS, RELIABLE_WORDS
from dashboards.selectors import instrument_short_name

register = template.Library()


@register.filter
def score(value):
    """14 for whole numbers, 14.5 otherwise, an en dash when missing."""
    return display.score_text(value)


@register.filter
def signed(value):
    """+3 / −2 / 0, with a true minus sign."""
    return display.signed_text(value)


@register.filter
def percent(value):
    return display.percent_text(value)


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
    return display.days_since_text(moment)


@register.simple_tag
def caseload_rows(rows, *, team: bool):
    """The caseload table's rows (``dashboards.caseload_html``: built in Python, 500 rows)."""
    return caseload_rows_html(rows, team=team)


@register.filter
def instrument_name(code):
    """ "PHQ-9" for "phq9"; the code itself for an instrument this installation does not know."""
    from dashboards.selectors import instrument_short_name

    return instrument_short_name(code)
