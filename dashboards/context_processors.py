"""Template context for every staff page: the navigation by role and the alert badge in it."""

from django.conf import settings
from django.utils.functional import SimpleLazyObject

from dashboards.navigation import current_link, staff_navigation
from dashboards.selectors import open_alert_badge_count


def alert_badge(request):
    """``alert_badge``: alerts waiting to be acknowledged, counted only if a template reads it
    (pages without the staff navigation, such as the client's check-in form, cost nothing)."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {"alert_badge": 0}
    return {"alert_badge": SimpleLazyObject(lambda: open_alert_badge_count(user=user))}


def navigation(request):
    """``nav_links``: the staff navigation for this user (empty before the second factor), and
    ``nav_current``: the key of the page being shown. Lazy, like the badge."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {"nav_links": [], "nav_current": None}
    links = SimpleLazyObject(
        lambda: staff_navigation(user=user, show_outbox=settings.SHOW_LOCAL_OUTBOX)
    )
    return {
        "nav_links": links,
        "nav_current": SimpleLazyObject(lambda: current_link(links, request.path) or ""),
    }
