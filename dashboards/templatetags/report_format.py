from django import template

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
