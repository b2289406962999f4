"""The caseload table's rows as HTML, built in Python.

Why not the template: a therapist's caseload shows up to 500 rows, and Django's template engine
spent most of the page's render time walking ~60 nodes per row (issue 18: 130–250 ms for 500
rows on the bench). The row's words are made once in the selector (``CaseloadRow``'s ``*_text``
and ``*_when`` fields); this module only places them, escaping every value. The markup is the
one ``caseload.html`` had, class for class, so the stylesheet and the browser tests read it
unchanged.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

from dashboards.selectors import CaseloadRow, InstrumentSummary

# The shape beside the word, for readers who do not see the colour; hidden from screen readers,
# which read "below 36" instead.
CONCERN_MARK = '<span aria-hidden="true">◆ </span>'


def caseload_rows_html(rows: Iterable[CaseloadRow], *, team: bool) -> SafeString:
    return mark_safe("".join([_row_html(row, team=team) for row in rows]))  # noqa: S308


def _scores_html(summaries: list[InstrumentSummary]) -> str:
    if not summaries:
        return '<span class="muted">No scores yet</span>'
    return " ".join(
        [
            '<div class="score-line"> '
            f'<span class="score-name">{escape(s.name)}</span> '
            f'<span class="score-value">{escape(s.latest_text)}</span> '
            f'<span class="score-band small">{escape(s.band)}</span> '
            # Built by charts.sparkline_svg, which escapes its own text.
            f"{s.sparkline} "
            f'<span class="score-change small change-{escape(s.reliable or "none")}"> '
            f"{escape(s.change_text)} </span>"
            " </div>"
            for s in summaries
        ]
    )


def _alliance_html(row: CaseloadRow) -> str:
    if row.alliance is None:
        return '<span class="muted">–</span>'
    concern = row.alliance_concern
    return (
        f'<span class="{"flag-concern" if concern else ""}">'
        f"{CONCERN_MARK if concern else ''}"
        f'{escape(row.alliance_text)}<span class="muted">/40</span></span> '
        f'<span class="muted small">{"below 36 · " if concern else ""}'
        f"{escape(row.alliance_when)}</span>"
    )


def _checkins_html(row: CaseloadRow) -> str:
    if row.last_checkin_at is None:
        return '<span class="muted">None yet</span>'
    last = (
        '<span class="flag-missed"><span aria-hidden="true">○ </span>Missed</span>'
        if row.last_checkin_missed
        else "<span>Completed</span>"
    )
    return (
        f'{last} <span class="muted small">{escape(row.last_checkin_when)}</span> '
        f'<span class="small">{escape(row.completion_text)}</span>'
    )


def _alerts_html(row: CaseloadRow) -> str:
    parts = []
    if row.top_alert_reason:
        urgent = " text-urgent" if row.urgent_alerts else ""
        parts.append(
            f'<span class="alert-reason{urgent}">{escape(row.top_alert_reason)}</span> '
            f'<span class="muted small">· {escape(row.top_alert_when)}</span>'
        )
    if row.urgent_alerts:
        parts.append(
            f'<span class="pill pill-urgent"><span aria-hidden="true">▲ </span>'
            f"{row.urgent_alerts} urgent</span>"
        )
    if row.open_alerts:
        parts.append(
            f'<a href="{escape(row.url)}#alerts" class="alerts-count">{row.open_alerts} open</a>'
        )
    else:
        parts.append('<span class="muted">None</span>')
    return " ".join(parts)


def _row_html(row: CaseloadRow, *, team: bool) -> str:
    label, status = escape(row.label), escape(row.status)
    therapist = f" · {escape(row.therapist)}" if team else ""
    reason = (
        f' <span class="reason small" title="{escape(row.status_reason)}">'
        f"{escape(row.status_reason)}</span>"
        if row.status_reason
        else ""
    )
    # Spaces where the template had line breaks: the same text runs, so the same layout.
    return (
        f'<tr class="caseload-row{" is-urgent" if row.urgent_alerts else ""}" '
        f'data-label="{label}" data-status="{status}">\n'
        '<th scope="row" class="cell-client" data-title="Client"> '
        f'<a class="client-link" href="{escape(row.url)}">{label}</a> '
        f'<span class="muted small">week {row.week_of_care} of care{therapist}</span> </th>\n'
        '<td class="cell-status" data-title="Status"> '
        f'<span class="status status-{status}">{escape(row.status_label)}</span>{reason} </td>\n'
        f'<td class="cell-scores" data-title="Scores"> {_scores_html(row.instruments)} </td>\n'
        f'<td class="cell-alliance" data-title="Alliance"> {_alliance_html(row)} </td>\n'
        f'<td class="cell-checkins" data-title="Check-ins"> {_checkins_html(row)} </td>\n'
        f'<td class="cell-alerts" data-title="Alerts"> {_alerts_html(row)} </td>\n'
        "</tr>\n"
    )
