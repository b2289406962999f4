"""``GET /healthz``: is the database reachable, is the broker reachable, and is the background
work keeping up. No login, no data: each check is "ok" or not, never a count or a name.

The database and the broker decide the status code (503 takes this web server out of rotation).
The background checks cannot: a stopped worker or beat says nothing about this web server, yet it
is what a clinic most needs to hear of, since submissions are then saved but their alerts are not
computed, mailed or escalated. So they make the status "degraded" with a 200, for monitoring to
alert on.
"""

import time
from datetime import timedelta

from django.db import connection
from django.db.models import Q
from django.http import JsonResponse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from config.celery_app import app as celery_app


def database_ok() -> bool:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            return cursor.fetchone() == (1,)
    except Exception:
        return False


def broker_ok() -> bool:
    try:
        with celery_app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, timeout=2)
        return True
    except Exception:
        return False


# Work this far past the time it should have been done means no worker or no beat is running: the
# beat tasks that catch up on it run every 1 to 5 minutes (config/settings.py).
OVERDUE = timedelta(minutes=15)


def alert_evaluation_behind(now) -> bool:
    """A form saved but never evaluated for alerts (the sweep catches these every 5 minutes): an
    episode whose mark says so since the first such form was stored."""
    from clients.models import Episode

    return Episode.objects.filter(rules_pending_since__lt=now - OVERDUE).exists()


def alert_emails_behind(now) -> bool:
    """An alert e-mail not sent 15 minutes after the notice (not handed to the outbox, or SMTP
    down: the outbox retries alert mails until they go out), or failed while its alert is open.
    One EXISTS query."""
    from outcomes.notifications import alert_mails_undelivered

    return alert_mails_undelivered(now=now).exists()


def escalation_behind(now) -> bool:
    """An unacknowledged urgent alert past its clinic's escalation window and not escalated."""
    from outcomes.notifications import alerts_due_for_escalation

    return alerts_due_for_escalation(now=now, grace=OVERDUE).exists()


def outbox_behind(now) -> bool:
    """A mail due to be sent, or claimed by a sender, that long ago (swept every minute). Retries
    after an SMTP error wait their backoff and are not counted: they are not due yet."""
    from messaging.models import OutboundEmail

    Status = OutboundEmail.Status
    return OutboundEmail.objects.filter(
        Q(status=Status.QUEUED, next_attempt_at__lt=now - OVERDUE)
        | Q(status=Status.SENDING, claimed_at__lt=now - OVERDUE)
    ).exists()


BACKGROUND_CHECKS = {
    "alert_evaluation": alert_evaluation_behind,
    "alert_emails": alert_emails_behind,
    "escalation": escalation_behind,
    "outbox": outbox_behind,
}


@never_cache
@require_GET
def healthz(request):
    started = time.monotonic()
    checks = {"database": database_ok(), "broker": broker_ok()}
    healthy = all(checks.values())
    body = {
        "status": "ok" if healthy else "unavailable",
        "checks": {name: "ok" if ok else "down" for name, ok in checks.items()},
    }
    if checks["database"]:
        now = timezone.now()
        behind = {name: check(now) for name, check in BACKGROUND_CHECKS.items()}
        body["background"] = {name: "behind" if late else "ok" for name, late in behind.items()}
        if healthy and any(behind.values()):
            body["status"] = "degraded"
    body["duration_ms"] = round((time.monotonic() - started) * 1000, 1)
    return JsonResponse(body, status=200 if healthy else 503)
