"""Numbers and dates as clinicians read them, as plain functions.

The template filters in ``templatetags/dashboard_tags.py`` call these, and the caseload selector
calls them once per shown row, so a 500-row page renders ready-made strings instead of running
a dozen filters per row (issue 18: the filters were a third of the page's render time).
"""

from __future__ import annotations

from django.utils import timezone

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


def score_text(value) -> str:
    """14 for whole numbers, 14.5 otherwise, an en dash when missing."""
    if value is None or value == "":
        return "–"
    value = float(value)
    return f"{value:g}" if value == int(value) else f"{value:.1f}"


def signed_text(value) -> str:
    """+3 / −2 / 0, with a true minus sign."""
    if value is None:
        return "–"
    text = score_text(abs(value))
    return f"+{text}" if value > 0 else (f"\u2212{text}" if value < 0 else "0")


def percent_text(value) -> str:
    return "–" if value is None else f"{round(float(value) * 100)} %"


def days_since_text(moment, *, today=None) -> str:
    """ "today", "yesterday", "5 days ago" for a date or datetime. ``today``: the local date,
    when the caller formats many moments at once."""
    if moment is None:
        return ""
    day = timezone.localdate(moment) if hasattr(moment, "hour") else moment
    days = ((today or timezone.localdate()) - day).days
    if days <= 0:
        return "today"
    if days == 1:
        return "yesterday"
    if days < 14:
        return f"{days} days ago"
    return f"{days // 7} weeks ago"


def change_since_intake_text(
    *, n_scores: int, change: float, reliable: str | None, category: str | None
) -> str:
    """ "−9 since intake · reliable improvement (recovered)", or "intake only" for one score.
    The category is added only when it says more than the reliable-change words."""
    if n_scores <= 1:
        return "intake only"
    text = f"{signed_text(change)} since intake"
    if reliable:
        text += f" · {RELIABLE_WORDS.get(reliable, '')}"
    if category and category != reliable and category != "unchanged":
        text += f" ({CATEGORY_WORDS.get(category, category)})"
    return text
