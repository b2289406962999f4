"""Template context for every staff page: the alert badge in the navigation."""

from django.utils.functional import SimpleLazyObject

from dashboards.selectors import open_alert_badge_count


def alert_badge(request):
    """``alert_badge``: alerts waiting to be acknowledged, counted only if a template reads it
    (pages without the staff navigation, such as the client's check-in form, cost nothing)."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {"alert_badge": 0}
    return {"alert_badge": SimpleLazyObject(lambda: open_alert_badge_count(user=user))}
