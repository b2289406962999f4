"""Figures for the staff pages: plain data in, plotly figure dicts (or SVG text) out.

Pure: no ORM, no requests. The views pass frames and small records, the templates embed the
result with ``json_script`` and ``static/js/charts.js`` draws it, so the pages work under a strict
Content-Security-Policy (no inline script). Every figure is a dict with ``data``, ``layout`` and
``config`` that plotly.js takes as is.

What the lines mean is in CLINICAL.md: severity bands and caseness per instrument (§1), the
reliable-change value from intake (§2), the expected recovery curve and its tolerance limits (§4).
The default curves are provisional (derived, not published) and every chart that shows one says so.

Why one long module (~650 lines): every figure shares the bands, the curve band and the event
markers, and a change to one must show on all charts alike.
"""

from __future__ import annotations

import html
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta

import numpy as np
import pandas as pd

from measures import trajectories
from measures.instruments import Instrument
from measures.rules import DEFAULT_FIRST_LIMIT_WEEK, DEFAULT_NOT_IMPROVING_SHARE, DEFAULT_Z_YELLOW

# Calm palette, readable on white; every status also has a shape and a word elsewhere.
INK = "#1b1f24"
MUTED = "#4a5361"
GRID = "#e3e6ea"
SCORE = "#0b5cad"
EXPECTED = "#5b6b7d"
YELLOW_LIMIT = "#8a6100"
RED_LIMIT = "#b3261e"
GREEN = "#1d6b32"
EVENT = "#6b4fa0"
# Band shading from healthiest to most severe: a single hue growing stronger, so the order reads
# without relying on red/green.
BAND_SHADES = ("#fafbfd", "#f3f6fa", "#ebf0f6", "#e3e9f2", "#dbe3ee", "#d3dcea")
FORECAST_WEEKS = 3
SESSION_RATING_CONCERN = 36  # CLINICAL.md §1: a session rating below 36 is an alliance concern.

PLOTLY_CONFIG = {
    "displaylogo": False,
    "responsive": True,
    "modeBarButtonsToRemove": ["select2d", "lasso2d", "autoScale2d", "toggleSpikelines"],
    "toImageButtonOptions": {"format": "png", "scale": 2},
}
FONT = {"family": 'system-ui, -apple-system, "Segoe UI", Roboto, sans-serif', "color": INK}


@dataclass(frozen=True)
class AlertMark:
    """An alert to mark on the chart at its administration (date and total)."""

    at: datetime
    total: float
    label: str
    severity: str


@dataclass(frozen=True)
class EventMark:
    """A timeline event (medication change, life event...) drawn as a labelled vertical line."""

    on: date
    label: str


# --- Sparklines (server-rendered SVG, no script) ------------------------------------------------


def sparkline_svg(
    values: Sequence[float],
    *,
    low: float,
    high: float,
    label: str,
    width: int = 96,
    height: int = 28,
) -> str:
    """A tiny line of ``values`` (oldest first) as inline SVG text, drawn on the fixed scale
    ``low``..``high`` so that two clients' lines compare; higher on the page is a higher score.

    The SVG has role="img" and a <title> listing the scores, so a screen reader gets the numbers.
    """
    values = [float(value) for value in values if value is not None and not math.isnan(value)]
    title = html.escape(f"{label}: " + (", ".join(_score_text(v) for v in values) or "no scores"))
    if not values:
        return ""
    pad = 3
    span = (high - low) or 1.0
    step = (width - 2 * pad) / max(len(values) - 1, 1)

    # One comprehension, no helper call per point: a 500-row caseload draws 1,000 of these.
    inner = height - 2 * pad
    xs = (
        [round(pad + index * step, 1) for index in range(len(values))]
        if len(values) > 1
        else [round(width / 2, 1)]
    )
    ys = [round(pad + (1 - (min(max(v, low), high) - low) / span) * inner, 1) for v in values]
    points = list(zip(xs, ys, strict=True))
    last_x, last_y = points[-1]
    polyline = " ".join([f"{x},{y}" for x, y in points])
    line = (
        f'<polyline points="{polyline}" fill="none" stroke="{SCORE}" stroke-width="1.6" '
        'stroke-linejoin="round" stroke-linecap="round"/>'
        if len(points) > 1
        else ""
    )
    return (
        f'<svg class="sparkline" width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
        f'role="img" aria-label="{title}"><title>{title}</title>'
        f'<line x1="0" y1="{height - 0.5}" x2="{width}" y2="{height - 0.5}" stroke="{GRID}"/>'
        f'{line}<circle cx="{last_x}" cy="{last_y}" r="2.6" fill="{SCORE}"/></svg>'
    )


def _score_text(value: float) -> str:
    return f"{value:g}" if value == int(value) else f"{value:.1f}"


# --- The trajectory chart (client page) --------------------------------------------------------


def expected_course(
    instrument: Instrument,
    *,
    intake: float,
    baseline_at: datetime,
    last_week: int,
    curves: Iterable[trajectories.BandCurve] = (),
    z_yellow: float = DEFAULT_Z_YELLOW,
    z_red: float = trajectories.Z_RED,
    first_limit_week: int = DEFAULT_FIRST_LIMIT_WEEK,
    sigma_floor: str = trajectories.SIGMA_FLOOR,
    not_improving_share: float = DEFAULT_NOT_IMPROVING_SHARE,
) -> pd.DataFrame | None:
    """Expected score and tolerance limits, week by week from intake, or None when no curve
    applies (an instrument without curves, or an intake below caseness: CLINICAL.md §4).

    Columns: week, at (the date of that week), expected, yellow_limit, red_limit, source
    ("fitted" or "default"). Pass the clinic's ``Clinic.curve_limits()`` so the limits drawn are
    the ones the alerts judge by.
    """
    # A few weeks beyond the last score show what to expect next without flattening the chart.
    weeks = np.arange(1, max(last_week + FORECAST_WEEKS, 1 + FORECAST_WEEKS) + 1)
    frame = pd.DataFrame({"instrument": instrument.code, "intake": float(intake), "week": weeks})
    expected = trajectories.expected_scores(
        frame, curves=curves, first_limit_week=first_limit_week, sigma_floor=sigma_floor
    )
    if expected["expected"].isna().all():
        return None
    yellow, red = trajectories.tolerance_limits(
        expected["expected"].to_numpy(dtype=float),
        expected["sigma"].to_numpy(dtype=float),
        direction=instrument.direction,
        z_yellow=z_yellow,
        z_red=z_red,
    )
    yellow, _ = trajectories.not_improving_limits(
        yellow,
        expected=expected["expected"].to_numpy(dtype=float),
        intake=float(intake),
        week=weeks,
        direction=instrument.direction,
        reliable_change=instrument.reliable_change,
        share=not_improving_share,
    )
    return pd.DataFrame(
        {
            "week": weeks,
            "at": [baseline_at + timedelta(days=7 * (int(week) - 1)) for week in weeks],
            "expected": expected["expected"].to_numpy(dtype=float),
            "yellow_limit": yellow,
            "red_limit": red,
            "source": expected["curve_source"].to_numpy(dtype=object),
        }
    )


def curve_source_words(source: str | None) -> str:
    if source == "fitted":
        return "fitted on this clinic's completed episodes"
    return "provisional default: derived from published figures, not yet fitted on this clinic"


def _band_shapes(instrument: Instrument, *, y_low: float, y_high: float) -> tuple[list, list]:
    """Shaded severity bands (healthiest lightest) and their labels on the right edge."""
    bands = sorted(instrument.bands, key=lambda band: band.low)
    if not bands:
        return [], []
    if instrument.higher_is_better:
        shades = list(reversed(BAND_SHADES[: len(bands)]))
    else:
        shades = list(BAND_SHADES[: len(bands)])
    shapes, annotations = [], []
    for index, band in enumerate(bands):
        lower = y_low if index == 0 else band.low - 0.5
        upper = y_high if index == len(bands) - 1 else bands[index + 1].low - 0.5
        shapes.append(
            {
                "type": "rect",
                "xref": "paper",
                "yref": "y",
                "x0": 0,
                "x1": 1,
                "y0": lower,
                "y1": upper,
                "fillcolor": shades[index],
                "line": {"width": 0},
                "layer": "below",
            }
        )
        annotations.append(
            {
                "xref": "paper",
                "yref": "y",
                "x": 1.01,
                "y": (lower + upper) / 2,
                "xanchor": "left",
                "text": band.label,
                "showarrow": False,
                "font": {"size": 11, "color": MUTED},
            }
        )
    return shapes, annotations


def _hline(y: float, *, color: str, dash: str, width: float = 1.5) -> dict:
    return {
        "type": "line",
        "xref": "paper",
        "yref": "y",
        "x0": 0,
        "x1": 1,
        "y0": y,
        "y1": y,
        "line": {"color": color, "dash": dash, "width": width},
    }


def _iso(value) -> str:
    return value.isoformat() if hasattr(value, "isoformat") else str(value)


def trajectory_figure(
    instrument: Instrument,
    scores: pd.DataFrame,
    *,
    curves: Iterable[trajectories.BandCurve] = (),
    z_yellow: float = DEFAULT_Z_YELLOW,
    z_red: float = trajectories.Z_RED,
    first_limit_week: int = DEFAULT_FIRST_LIMIT_WEEK,
    sigma_floor: str = trajectories.SIGMA_FLOOR,
    not_improving_share: float = DEFAULT_NOT_IMPROVING_SHARE,
    alerts: Sequence[AlertMark] = (),
    events: Sequence[EventMark] = (),
) -> dict:
    """Scores over time against the expected recovery curve (Finch, Lambert & Schaalje 2001).

    ``scores``: the episode's valid administrations of ``instrument`` with administered_at and
    total. Draws the severity bands shaded, the caseness line, the expected curve with its
    tolerance band (expected to the yellow limit) and the red limit, the reliable-change lines from
    intake (intake ± the instrument's reliable-change value, CLINICAL.md §2), alert markers and
    timeline events. ``layout.meta`` says which curve was used, or why there is none, so the page
    can print it next to the chart.
    """
    scores = scores.sort_values("administered_at", kind="stable")
    data: list[dict] = []
    shapes: list[dict] = []
    annotations: list[dict] = []
    meta: dict = {"instrument": instrument.code, "n_scores": len(scores), "curve": None}
    y_low, y_high = float(instrument.min_total), float(instrument.max_total)

    band_shapes, band_labels = _band_shapes(instrument, y_low=y_low, y_high=y_high)
    shapes += band_shapes
    annotations += band_labels

    if instrument.caseness_cutoff is not None:
        shapes.append(_hline(instrument.caseness_cutoff, color=MUTED, dash="dash", width=1.2))
        data.append(
            _legend_only(f"Caseness cutoff ({_score_text(instrument.caseness_cutoff)})", MUTED)
        )

    if len(scores):
        baseline = scores.iloc[0]
        intake = float(baseline["total"])
        weeks = trajectories.add_treatment_weeks(
            scores.assign(episode_id=0)[["episode_id", "administered_at", "total"]]
        )
        last_week = int(weeks["week"].max())
        course = expected_course(
            instrument,
            intake=intake,
            baseline_at=baseline["administered_at"],
            last_week=last_week,
            curves=curves,
            z_yellow=z_yellow,
            z_red=z_red,
            first_limit_week=first_limit_week,
            sigma_floor=sigma_floor,
            not_improving_share=not_improving_share,
        )
        if course is None:
            meta["no_curve_reason"] = _no_curve_reason(instrument, intake)
        else:
            source = course["source"].dropna().iloc[0]
            meta["curve"] = source
            meta["curve_words"] = curve_source_words(source)
            data += _course_traces(course, source)

        if instrument.reliable_change:
            worse = 1 if instrument.direction == trajectories.LOWER_IS_BETTER else -1
            rc = float(instrument.reliable_change)
            for y, words, color in (
                (intake + worse * rc, "Reliable worsening from intake", RED_LIMIT),
                (intake - worse * rc, "Reliable improvement from intake", GREEN),
            ):
                if y_low <= y <= y_high:
                    shapes.append(_hline(y, color=color, dash="dot", width=1.2))
                    data.append(_legend_only(f"{words} ({_score_text(y)})", color, dash="dot"))
            meta["reliable_change"] = rc

        data.append(
            {
                "type": "scatter",
                "mode": "lines+markers",
                "name": f"{short_name(instrument)} score",
                "x": [_iso(value) for value in scores["administered_at"]],
                "y": [float(value) for value in scores["total"]],
                "text": [band or "" for band in scores.get("band", [""] * len(scores))],
                "hovertemplate": "%{x|%d %b %Y}<br>Score %{y}<br>%{text}<extra></extra>",
                "line": {"color": SCORE, "width": 2.5},
                "marker": {"size": 8, "color": SCORE, "line": {"color": "#fff", "width": 1.5}},
            }
        )
    else:
        meta["no_curve_reason"] = "No scores yet."

    if alerts:
        data.append(
            {
                "type": "scatter",
                "mode": "markers",
                "name": "Alert",
                "x": [_iso(alert.at) for alert in alerts],
                "y": [alert.total for alert in alerts],
                "text": [alert.label for alert in alerts],
                "hovertemplate": "%{x|%d %b %Y}<br>Alert: %{text}<extra></extra>",
                "marker": {
                    "symbol": "triangle-up",
                    "size": 15,
                    "color": RED_LIMIT,
                    "line": {"color": "#fff", "width": 1.5},
                },
            }
        )

    for event in events:
        shapes.append(
            {
                "type": "line",
                "xref": "x",
                "yref": "paper",
                "x0": _iso(event.on),
                "x1": _iso(event.on),
                "y0": 0,
                "y1": 1,
                "line": {"color": EVENT, "dash": "dashdot", "width": 1.2},
            }
        )
        annotations.append(
            {
                "xref": "x",
                "yref": "paper",
                "x": _iso(event.on),
                "y": 1,
                "yanchor": "bottom",
                "text": html.escape(event.label),
                "showarrow": False,
                "font": {"size": 11, "color": EVENT},
                "textangle": 0,
            }
        )

    layout = _base_layout(
        title=None,
        y_title=f"{short_name(instrument)} score "
        + ("(higher is better)" if instrument.higher_is_better else "(lower is better)"),
        y_range=[y_low, y_high],
    )
    layout.update({"shapes": shapes, "annotations": annotations, "meta": meta})
    return {"data": data, "layout": layout, "config": PLOTLY_CONFIG}


def _course_traces(course: pd.DataFrame, source: str) -> list[dict]:
    x = [_iso(value) for value in course["at"]]
    provisional = " (provisional default)" if source != "fitted" else " (fitted)"
    return [
        {
            "type": "scatter",
            "mode": "lines",
            "x": x,
            "y": _rounded(course["expected"]),
            "name": "Expected recovery" + provisional,
            "line": {"color": EXPECTED, "width": 2, "dash": "dash"},
            "hovertemplate": "Expected %{y:.1f}<extra></extra>",
        },
        {
            "type": "scatter",
            "mode": "lines",
            "x": x,
            "y": _rounded(course["yellow_limit"]),
            "name": "Tolerance band (not on track beyond)",
            "fill": "tonexty",
            "fillcolor": "rgba(91,107,125,0.16)",
            "line": {"color": YELLOW_LIMIT, "width": 1},
            "hovertemplate": "Not-on-track limit %{y:.1f}<extra></extra>",
        },
        {
            "type": "scatter",
            "mode": "lines",
            "x": x,
            "y": _rounded(course["red_limit"]),
            "name": "Off-track limit",
            "line": {"color": RED_LIMIT, "width": 1.4},
            "hovertemplate": "Off-track limit %{y:.1f}<extra></extra>",
        },
    ]


def _no_curve_reason(instrument: Instrument, intake: float) -> str:
    if instrument.code not in trajectories.DEFAULT_CURVES:
        return (
            f"No expected recovery curve exists for {short_name(instrument)}; the chart shows the "
            "scores, bands and reliable change from intake."
        )
    return (
        f"The intake score ({_score_text(intake)}) was below caseness, so there is no recovery "
        "curve to compare with; only a reliable worsening from intake is watched."
    )


def _legend_only(name: str, color: str, *, dash: str = "dash") -> dict:
    """A legend entry for a line drawn as a layout shape (shapes have no legend of their own)."""
    return {
        "type": "scatter",
        "mode": "lines",
        "x": [None],
        "y": [None],
        "name": name,
        "line": {"color": color, "dash": dash, "width": 1.5},
        "hoverinfo": "skip",
    }


def _rounded(values) -> list[float | None]:
    return [None if pd.isna(value) else round(float(value), 2) for value in values]


def short_name(instrument: Instrument) -> str:
    """The name staff know a measure by: "PHQ-9" from "Patient Health Questionnaire-9 (PHQ-9)",
    "WHO-5" from "WHO-5 Well-Being Index"."""
    name = instrument.name
    if name.endswith(")") and "(" in name:
        return name[name.rindex("(") + 1 : -1]
    first = name.split(" ")[0]
    if any(character.isdigit() for character in first):
        return first
    return name


def _base_layout(*, title: str | None, y_title: str, y_range: list[float]) -> dict:
    return {
        "title": {"text": title} if title else None,
        "font": FONT,
        "paper_bgcolor": "#fff",
        "plot_bgcolor": "#fff",
        "margin": {"l": 56, "r": 130, "t": 36, "b": 48},
        "hovermode": "closest",
        "xaxis": {"type": "date", "gridcolor": GRID, "tickformat": "%d %b", "zeroline": False},
        "yaxis": {
            "title": {"text": y_title},
            "range": [y_range[0] - 0.5, y_range[1] + 0.5],
            "gridcolor": GRID,
            "zeroline": False,
        },
        "legend": {"orientation": "h", "y": -0.18, "x": 0, "font": {"size": 12}},
    }


# --- Session ratings (alliance) ---------------------------------------------------------------


def session_rating_figure(ratings: pd.DataFrame, *, items: Sequence[str] = ()) -> dict:
    """Session rating totals (0–40, higher is better) with the alliance-concern line at 36
    (CLINICAL.md §1; the SRS cutoff, Duncan et al. 2003). ``ratings``: administered_at, total and
    optionally answers (four item values shown on hover)."""
    ratings = ratings.sort_values("administered_at", kind="stable")
    hover = []
    for answers in ratings.get("answers", [None] * len(ratings)):
        if answers and items:
            hover.append(
                "<br>".join(
                    f"{html.escape(name)}: {value}"
                    for name, value in zip(items, answers, strict=False)
                )
            )
        else:
            hover.append("")
    below = [float(total) < SESSION_RATING_CONCERN for total in ratings["total"]]
    data = [
        {
            "type": "scatter",
            "mode": "lines+markers",
            "name": "Session rating",
            "x": [_iso(value) for value in ratings["administered_at"]],
            "y": [float(value) for value in ratings["total"]],
            "text": hover,
            "hovertemplate": "%{x|%d %b %Y}<br>Total %{y}<br>%{text}<extra></extra>",
            "line": {"color": SCORE, "width": 2},
            # A concern is a hollow diamond as well as red: shape, not only colour.
            "marker": {
                "size": [11 if flag else 8 for flag in below],
                "symbol": ["diamond-open" if flag else "circle" for flag in below],
                "color": [RED_LIMIT if flag else SCORE for flag in below],
                "line": {"width": 2},
            },
        },
        _legend_only("Alliance concern below 36", RED_LIMIT),
    ]
    # Ratings cluster high (most are 30-40); start the axis low enough to show every rating.
    lowest = min((float(total) for total in ratings["total"]), default=40.0)
    y_floor = max(0.0, min(20.0, math.floor(lowest / 5) * 5 - 5))
    layout = _base_layout(
        title=None, y_title="Session rating (higher is better)", y_range=[y_floor, 40]
    )
    layout["margin"]["r"] = 24
    layout["shapes"] = [_hline(SESSION_RATING_CONCERN, color=RED_LIMIT, dash="dash")]
    layout["height"] = 300
    return {"data": data, "layout": layout, "config": PLOTLY_CONFIG}


# --- Item-level heatmap -------------------------------------------------------------------------


def item_heatmap_figure(instrument: Instrument, administrations: pd.DataFrame) -> dict:
    """Which items drive the score: one column per administration, one row per scored item, the
    cell the answer (0 = not at all … 3 = nearly every day for PHQ-9). ``administrations``:
    administered_at and answers (option values in item order, None where missing)."""
    administrations = administrations.sort_values("administered_at", kind="stable")
    items = instrument.scored_items
    positions = [instrument.items.index(item) for item in items]
    z = []
    for item, position in zip(items, positions, strict=True):
        row = []
        for answers in administrations["answers"]:
            value = answers[position] if answers and position < len(answers) else None
            row.append(None if value is None else item.keyed(value))
        z.append(row)
    labels = [_item_short_label(item) for item in items]
    full = [[html.escape(item.label)] * len(administrations) for item in items]
    high = max(item.max_value for item in items) if items else 1
    low = min(item.min_value for item in items) if items else 0
    data = [
        {
            "type": "heatmap",
            "x": [_iso(value) for value in administrations["administered_at"]],
            "y": labels,
            "z": z,
            "customdata": full,
            "zmin": low,
            "zmax": high,
            "colorscale": [[0, "#f4f7fb"], [0.5, "#7fa6d6"], [1, "#0b3d78"]],
            "xgap": 2,
            "ygap": 2,
            "colorbar": {"title": {"text": "Answer"}, "tickvals": list(range(low, high + 1))},
            "hovertemplate": "%{x|%d %b %Y}<br>%{customdata}<br>Answer %{z}<extra></extra>",
        }
    ]
    layout = _base_layout(title=None, y_title="", y_range=[0, 1])
    layout["yaxis"] = {"autorange": "reversed", "automargin": True, "tickfont": {"size": 12}}
    layout["xaxis"] = {"type": "date", "tickformat": "%d %b", "showgrid": False}
    layout["margin"] = {"l": 16, "r": 24, "t": 16, "b": 48}
    layout["height"] = 90 + 30 * len(items)
    return {"data": data, "layout": layout, "config": PLOTLY_CONFIG}


def _item_short_label(item) -> str:
    text = item.label
    first = text.split(",")[0].split(" — ")[0].split("?")[0]
    if len(first) > 34:
        first = first[:32].rstrip() + "…"
    return f"{item.number}. {first}"


# --- "Review together": the client-facing chart ---------------------------------------------

#: How the client-facing chart names a default (provisional) curve: plain words for the client.
REVIEW_FIRST_ESTIMATE = "a first estimate"


def review_figure(
    instrument: Instrument,
    scores: pd.DataFrame,
    *,
    curves: Iterable[trajectories.BandCurve] = (),
) -> dict:
    """A large, plain chart to look at with the client: their scores, the severity bands named in
    everyday words, and where people who start at the same level usually are by now. No alert
    markers, no limits, nothing about anyone else.

    ``layout.meta.curve`` says whether the dashed line is there and where it comes from
    ("fitted", "default", or None without one), so the page words its footnote to match. A
    default curve is provisional (CLINICAL.md §4 step 5) and says so in plain words: "a first
    estimate"."""
    scores = scores.sort_values("administered_at", kind="stable")
    y_low, y_high = float(instrument.min_total), float(instrument.max_total)
    shapes, annotations = _band_shapes(instrument, y_low=y_low, y_high=y_high)
    for annotation in annotations:
        annotation["text"] = annotation["text"].capitalize()
        annotation["font"] = {"size": 15, "color": MUTED}
    data = []
    curve = None
    if len(scores):
        intake = float(scores.iloc[0]["total"])
        weeks = trajectories.add_treatment_weeks(
            scores.assign(episode_id=0)[["episode_id", "administered_at", "total"]]
        )
        course = expected_course(
            instrument,
            intake=intake,
            baseline_at=scores.iloc[0]["administered_at"],
            last_week=int(weeks["week"].max()),
            curves=curves,
        )
        if course is not None:
            curve = course["source"].dropna().iloc[0]
            name = "Where people starting where you did often are"
            data.append(
                {
                    "type": "scatter",
                    "mode": "lines",
                    "name": name if curve == "fitted" else f"{name} ({REVIEW_FIRST_ESTIMATE})",
                    "x": [_iso(value) for value in course["at"]],
                    "y": _rounded(course["expected"]),
                    "line": {"color": EXPECTED, "width": 3, "dash": "dash"},
                    "hoverinfo": "skip",
                }
            )
        data.append(
            {
                "type": "scatter",
                "mode": "lines+markers",
                "name": "Your answers",
                "x": [_iso(value) for value in scores["administered_at"]],
                "y": [float(value) for value in scores["total"]],
                "hovertemplate": "%{x|%d %B}: %{y}<extra></extra>",
                "line": {"color": SCORE, "width": 4},
                "marker": {"size": 13, "color": SCORE, "line": {"color": "#fff", "width": 2}},
            }
        )
    direction = "Lower means feeling better" if not instrument.higher_is_better else (
        "Higher means feeling better"
    )  # fmt: skip
    layout = _base_layout(title=None, y_title=direction, y_range=[y_low, y_high])
    layout.update(
        {"shapes": shapes, "annotations": annotations, "height": 560, "meta": {"curve": curve}}
    )
    layout["font"] = {**FONT, "size": 17}
    layout["margin"] = {"l": 72, "r": 190, "t": 24, "b": 64}
    layout["xaxis"]["tickformat"] = "%d %b"
    layout["legend"] = {"orientation": "h", "y": -0.14, "x": 0, "font": {"size": 16}}
    config = {**PLOTLY_CONFIG, "displayModeBar": False}
    return {"data": data, "layout": layout, "config": config}
