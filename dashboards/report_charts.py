"""Charts of a report: plotly figures (for the page, drawn by static/js/report_charts.js) and the
same charts as plain SVG (for the PDF: WeasyPrint runs no JavaScript, and plotly's static image
export needs a headless Chrome that a server should not need)."""

from __future__ import annotations

import json
import textwrap
from xml.sax.saxutils import escape

import plotly.graph_objects as go

from dashboards.reports import Report

RATES = (
    ("recovery", "Recovery", "#1f6feb"),
    ("reliable_improvement", "Reliable improvement", "#2da44e"),
)


def _shown_clinicians(report: Report, rate: str):
    return [row for row in report.clinicians if getattr(row, rate).value is not None]


def rates_empty_reason(report: Report) -> str | None:
    """Why the chart of rates by clinician would have no bar, or None when it has one. An empty
    plot with bare axes reads as "every clinician at 0 %"."""
    if not report.clinicians:
        return "No clinician had an episode in this period, so there is no rate to draw."
    if any(_shown_clinicians(report, rate) for rate, _title, _colour in RATES):
        return None
    return (
        "No rate to draw: no clinician has 10 or more finished episodes with paired scores in "
        "this period (a rate on fewer is mostly noise). The tables give each clinician's counts."
    )


def rates_figure(report: Report) -> dict:
    """Recovery and reliable improvement by clinician, with 95 % Wilson intervals; clinicians
    whose rates rest on fewer than 10 episodes are left out (suppressed)."""
    figure = go.Figure()
    for rate, title, colour in RATES:
        rows = _shown_clinicians(report, rate)
        values = [getattr(row, rate).value for row in rows]
        intervals = [getattr(row, rate).interval for row in rows]
        figure.add_trace(
            go.Bar(
                name=title,
                x=[row.label for row in rows],
                y=[value * 100 for value in values],
                marker_color=colour,
                error_y={
                    "type": "data",
                    "symmetric": False,
                    "array": [
                        (high - value) * 100
                        for value, (_, high) in zip(values, intervals, strict=True)
                    ],
                    "arrayminus": [
                        (value - low) * 100
                        for value, (low, _) in zip(values, intervals, strict=True)
                    ],
                },
            )
        )
    figure.add_hline(
        y=report.national_recovery_rate * 100,
        line_dash="dash",
        annotation_text="National recovery ~50 %",
    )
    figure.update_layout(
        barmode="group",
        yaxis={"title": "% of finished episodes", "range": [0, 100]},
        margin={"l": 50, "r": 20, "t": 30, "b": 80},
        height=380,
        legend={"orientation": "h"},
    )
    return json.loads(figure.to_json())


def funnel_figure(report: Report) -> dict:
    """Referrals ended to recovered. A stage whose base is below 10 carries no count, no
    percentage and no bar (its label says "n < 10"): plotly's own ``percent initial`` text and
    hover would show what the table suppresses."""
    stages = report.funnel_stages
    figure = go.Figure(
        go.Funnel(
            y=[_stage_label(stage) for stage in stages],
            x=[stage.shown_count for stage in stages],
            text=[_stage_text(stage) for stage in stages],
            textinfo="text",
            hovertemplate="%{y}: %{text}<extra></extra>",
        )
    )
    figure.update_layout(margin={"l": 200, "r": 20, "t": 20, "b": 20}, height=320)
    return json.loads(figure.to_json())


def _stage_label(stage) -> str:
    return f"{stage.label} (n < 10)" if stage.suppressed else stage.label


def _stage_text(stage) -> str:
    if stage.suppressed:
        return "n < 10"
    percent = stage.percent_of_base
    if percent is None:
        return f"{stage.count}"
    return f"{stage.count} ({percent:.0f} % of {stage.base})"


# --- static SVG (PDF) -----------------------------------------------------------------------------


def rates_svg(report: Report) -> str:
    """Horizontal bars per clinician with interval whiskers, and the national reference line."""
    rows = [
        (row.label, getattr(row, rate), colour)
        for row in report.clinicians
        for rate, _title, colour in RATES
        if getattr(row, rate).value is not None
    ]
    label_width, bar_width, row_height = 190, 360, 16
    height = 40 + (len(rows) * (row_height + 4) if rows else 40)  # room for the reason
    width = label_width + bar_width + 60
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="10">',
        '<text x="0" y="12" font-weight="bold">Recovery (blue) and reliable improvement '
        "(green) by clinician, 95 % Wilson intervals</text>",
    ]
    y = 24
    previous_label = None
    for label, rate, colour in rows:
        low, high = rate.interval
        if label != previous_label:
            parts.append(f'<text x="0" y="{y + 12}">{escape(label[:32])}</text>')
            previous_label = label
        parts.append(
            f'<rect x="{label_width}" y="{y}" width="{rate.value * bar_width:.1f}" '
            f'height="{row_height}" fill="{colour}"/>'
        )
        middle = y + row_height / 2
        parts.append(
            f'<line x1="{label_width + low * bar_width:.1f}" y1="{middle}" '
            f'x2="{label_width + high * bar_width:.1f}" y2="{middle}" stroke="#222"/>'
        )
        parts.append(
            f'<text x="{label_width + bar_width + 6}" y="{y + 12}">{rate.value * 100:.0f} %</text>'
        )
        y += row_height + 4
    reference = label_width + report.national_recovery_rate * bar_width
    parts.append(
        f'<line x1="{reference}" y1="20" x2="{reference}" y2="{height}" stroke="#555" '
        f'stroke-dasharray="4 3"/>'
    )
    if not rows:
        for line_number, line in enumerate(textwrap.wrap(rates_empty_reason(report), 100)):
            parts.append(f'<text x="0" y="{36 + 14 * line_number}">{escape(line)}</text>')
    parts.append("</svg>")
    return "".join(parts)


def funnel_svg(report: Report) -> str:
    """The funnel for the PDF: suppressed stages are named, with "n < 10" and no bar."""
    label_width, bar_width, row_height = 200, 360, 20
    stages = report.funnel_stages
    top = max([stage.shown_count or 0 for stage in stages] + [1])
    height = 10 + len(stages) * (row_height + 6)
    width = label_width + bar_width + 80
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="10">'
    ]
    y = 4
    for stage in stages:
        parts.append(f'<text x="0" y="{y + 14}">{escape(stage.label)}</text>')
        if not stage.suppressed:
            length = stage.count / top * bar_width
            offset = label_width + (bar_width - length) / 2
            parts.append(
                f'<rect x="{offset:.1f}" y="{y}" width="{length:.1f}" height="{row_height}" '
                f'fill="#1f6feb"/>'
            )
        parts.append(
            f'<text x="{label_width + bar_width + 6}" y="{y + 14}">'
            f"{escape(_stage_text(stage))}</text>"
        )
        y += row_height + 6
    parts.append("</svg>")
    return "".join(parts)
