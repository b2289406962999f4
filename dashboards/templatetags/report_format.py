from django import template

from dashboards import exporters

register = template.Library()


@register.filter
def percent(value) -> str:
    """0.523 → "52 %"; None → "–"."""
    if value is None:
        return "–"
    return f"{value * 100:.0f} %"


@register.filter
def as_list(value) -> list:
    return [value]


@register.filter
def export_title(identifier: str) -> str:
    """ "outcome_report" → "Outcome report (one row per episode)"."""
    return exporters.export_title(identifier)


@register.filter
def export_format(file_format: str) -> str:
    """ "xlsx" → "Excel"."""
    return exporters.format_label(file_format)
