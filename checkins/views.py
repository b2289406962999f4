"""The client's check-in pages (no login: the link's key is the credential) and the staff page
for entering a form filled in session or on paper.

Link pages never change anything on GET, are never cached or indexed, and send no Referer (the
key is in the URL). Links that open nothing are rate limited per IP; a valid open link never is.
Each failure (unknown, expired, closed, already used, opted out) has its own page that says what
to do next and shows nothing about the client.
"""

from __future__ import annotations

import hashlib
import time
from datetime import datetime, timedelta
from datetime import time as clock_time
from functools import wraps

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.cache import cache
from django.http import HttpResponseRedirect
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from audit.services import audit_record
from checkins.forms import CheckInForm, ResponseEntryForm
from checkins.services import (
    checkin_contact_requested,
    checkin_risk_endorsed,
    checkin_submit,
    checkin_unfinished_alerts,
    client_opt_out,
    response_enter,
)
from clients import checkins
from clients.checkins import LinkState
from clients.models import CheckInStatus
from clients.selectors import episodes_visible_to
from lib.request_address import client_ip
from outcomes.selectors import instruments_available, instruments_for
from outcomes.services import AnswersInvalid

# The thank-you page names the risk answer, so it is shown only to the browser that sent the
# answers (a signed cookie set with the redirect), and only for a short while: anyone else holding
# the URL (a shared phone, browser history) sees the neutral "already received".
THANK_YOU_WINDOW = timedelta(hours=2)
THANK_YOU_COOKIE = "checkin_sent"
# The salt keeps the name of the module it was first in: a new one would void cookies in flight.
THANK_YOU_SALT = "clients.views.thank-you"

STATE_PAGES = {
    LinkState.UNKNOWN: ("clients/link_unknown.html", 404),
    LinkState.EXPIRED: ("clients/link_expired.html", 410),
    LinkState.CLOSED: ("clients/link_closed.html", 410),
    LinkState.COMPLETED: ("clients/link_used.html", 200),
    LinkState.OPTED_OUT: ("clients/link_opted_out.html", 200),
}


def _failed_lookups_exceeded(request) -> bool:
    """Count one link that did not open a form (unknown, expired, used, closed key; bad opt-out
    token) for the caller's IP, and say whether the IP is past the limit.

    Only failures count: a clinic's Wi-Fi or a mobile carrier's NAT puts many clients behind one
    address, and a client with a valid open link must never be turned away (a risk answer would
    be lost). So the key is always looked up (one indexed query by its hash) before the limit is
    asked; guessing a 192-bit key is hopeless anyway, and this only stops a scanner learning
    anything more. Floods belong to the reverse proxy. A fixed window in Django's cache (shared
    between processes when ``CACHE_URL`` points at Redis).
    """
    window = settings.CHECKIN_RATE_LIMIT_WINDOW
    ip_digest = hashlib.sha256((client_ip(request) or "").encode()).hexdigest()[:32]
    key = f"checkin-rate:{ip_digest}:{int(time.time() // window)}"
    cache.add(key, 0, timeout=window)
    try:
        count = cache.incr(key)
    except ValueError:  # evicted between add and incr
        cache.set(key, 1, timeout=window)
        count = 1
    return count > settings.CHECKIN_RATE_LIMIT_REQUESTS


def _client_page(request, template: str, context: dict, status: int = 200):
    # Every client page ends with crisis contacts: the clinic's, or where the link names no
    # clinic, the installation's emergency line.
    context = {"emergency_contacts": settings.EMERGENCY_CONTACTS, "clinic": None, **context}
    return render(request, template, context, status=status)


def _failed_link_page(request, page: tuple[str, int], clinic=None):
    """A link that opens no form: its own page, or after too many from one IP, "please wait"
    (still with crisis contacts: whoever is refused may be the one who needs them)."""
    if _failed_lookups_exceeded(request):
        response = _client_page(
            request, "clients/link_rate_limited.html", {"clinic": clinic}, status=429
        )
        response["Retry-After"] = str(settings.CHECKIN_RATE_LIMIT_WINDOW)
        return response
    template, status = page
    return _client_page(request, template, {"clinic": clinic}, status=status)


def link_page(view):
    """Headers for every page reached by an e-mailed link.

    These views are CSRF-exempt on purpose. The key (or opt-out token) in the URL is the
    credential, and a forged cross-site request would need it, so it already does what a CSRF
    token does. And Django's check cannot work here: with ``Referrer-Policy: no-referrer``
    browsers send ``Origin: null`` on the form's POST, which the check rejects.
    """

    @csrf_exempt
    @wraps(view)
    def wrapped(request, *args, **kwargs):
        response = view(request, *args, **kwargs)
        response["Cache-Control"] = "no-store, no-cache, must-revalidate, max-age=0, private"
        response["Referrer-Policy"] = "no-referrer"
        response["X-Robots-Tag"] = "noindex, nofollow, noarchive"
        return response

    return wrapped


def _state_page(request, state: LinkState, checkin=None):
    clinic = checkin.episode.clinic if checkin is not None else None
    return _failed_link_page(request, STATE_PAGES[state], clinic)


def _thank_you_redirect(key: str, checkin) -> HttpResponseRedirect:
    response = HttpResponseRedirect(reverse("checkin:done", kwargs={"key": key}))
    response.set_signed_cookie(
        THANK_YOU_COOKIE,
        str(checkin.pk),
        salt=THANK_YOU_SALT,
        max_age=int(THANK_YOU_WINDOW.total_seconds()),
        path=reverse("checkin:done", kwargs={"key": key}),
        secure=settings.SESSION_COOKIE_SECURE,
        httponly=True,
        samesite="Strict",
    )
    return response


def _sent_from_this_browser(request, checkin) -> bool:
    sent = request.get_signed_cookie(
        THANK_YOU_COOKIE,
        default=None,
        salt=THANK_YOU_SALT,
        max_age=THANK_YOU_WINDOW.total_seconds(),
    )
    return sent == str(checkin.pk)


@link_page
@require_http_methods(["GET", "POST"])
def checkin_form(request, key):
    checkin = checkins.checkin_by_key(key=key)
    if checkin is None:
        return _state_page(request, LinkState.UNKNOWN)
    state = checkins.checkin_link_state(checkin)
    if state != LinkState.OPEN:
        return _state_page(request, state, checkin)

    # Every form's definition in one read, and the same instruments for the answers' scoring.
    by_code = instruments_for(checkin.episode.clinic, checkin.instruments)
    instruments = list(by_code.values())
    instructions = checkins.checkin_instructions(checkin, instruments)
    risk_endorsed = False
    if request.method == "POST":
        form = CheckInForm(request.POST, instruments=instruments, instructions=instructions)
        if form.is_valid():
            try:
                outcome = checkin_submit(
                    checkin_id=checkin.pk,
                    answers=form.answers(),
                    contact_request=form.cleaned_data["contact_request"],
                    checkin=checkin,
                    instruments=by_code,
                )
            except AnswersInvalid as error:
                form.add_scoring_errors(error.errors)
            else:
                if outcome.stored:
                    return _thank_you_redirect(key, checkin)
                return _state_page(request, outcome.state, checkin)
        # Sent back to finish it: a risk answer or a request for contact cannot wait for that.
        risk_endorsed = checkin_unfinished_alerts(
            checkin_id=checkin.pk,
            answers=form.answers(),
            contact_request=bool(form.cleaned_data.get("contact_request")),
        )
    else:
        form = CheckInForm(instruments=instruments, instructions=instructions)
    return _client_page(
        request,
        "clients/checkin_form.html",
        {
            "form": form,
            "sections": form.sections(),
            "clinic": checkin.episode.clinic,
            "risk_endorsed": risk_endorsed,
        },
    )


@link_page
@require_http_methods(["GET"])
def checkin_done(request, key):
    checkin = checkins.checkin_by_key(key=key)
    if checkin is None:
        return _state_page(request, LinkState.UNKNOWN)
    if checkin.status != CheckInStatus.COMPLETED:
        return redirect("checkin:form", key=key)
    clinic = checkin.episode.clinic
    if (
        not _sent_from_this_browser(request, checkin)
        or timezone.now() - checkin.completed_at > THANK_YOU_WINDOW
    ):
        # A real key whose answers are in: not guessing, so it does not count against the IP.
        return _client_page(request, "clients/link_used.html", {"clinic": clinic})
    return _client_page(
        request,
        "clients/checkin_done.html",
        {
            "clinic": clinic,
            "risk_endorsed": checkin_risk_endorsed(checkin),
            "contact_requested": checkin_contact_requested(checkin),
        },
    )


@link_page
@require_http_methods(["GET", "POST"])
def opt_out(request, token):
    """GET asks (mail scanners open links); POST opts out at once, whatever its body. That POST
    is also RFC 8058's one-click unsubscribe: the mail provider sends
    ``List-Unsubscribe=One-Click`` to the List-Unsubscribe URL, without cookies, and expects no
    confirmation step."""
    client = checkins.client_for_opt_out_token(token)
    if client is None:
        return _failed_link_page(request, ("clients/opt_out_invalid.html", 404))
    context = {"clinic": client.clinic, "token": token}
    if request.method == "POST":
        client_opt_out(client=client, request=request)
        return _client_page(request, "clients/opt_out_done.html", context)
    if client.is_opted_out:
        return _client_page(request, "clients/opt_out_done.html", context)
    return _client_page(request, "clients/opt_out_confirm.html", context)


# --- Staff: enter a form filled in session or on paper ------------------------------------------


def _administered_at(day) -> datetime:
    if day == timezone.localdate():
        return timezone.now()
    # A past day's exact time is unknown; midday keeps it on that date in any nearby zone.
    return timezone.make_aware(datetime.combine(day, clock_time(12, 0)))


@login_required
@require_http_methods(["GET", "POST"])
def episode_enter_responses(request, episode_id):
    episode = get_object_or_404(
        episodes_visible_to(request.user).select_related("client", "clinic"), pk=episode_id
    )
    available = instruments_available(episode.clinic)
    code = request.POST.get("instrument") or request.GET.get("instrument")
    instrument = available.get(code) if code else None
    context = {
        "episode": episode,
        "choices": sorted(available.values(), key=lambda instrument: instrument.name),
        "instrument": instrument,
    }
    if instrument is None:
        audit_record(
            actor=request.user,
            action="episode.entry_form_view",
            obj=episode,
            clinic=episode.clinic,
            client=episode.client,
            request=request,
        )
        return render(request, "clients/episode_enter.html", context)

    if request.method == "POST":
        form = ResponseEntryForm(request.POST, instrument=instrument)
        if form.is_valid():
            try:
                recorded = response_enter(
                    episode=episode,
                    instrument_code=instrument.code,
                    answers=form.answers()[instrument.code],
                    source=form.cleaned_data["source"],
                    entered_by=request.user,
                    administered_at=_administered_at(form.cleaned_data["administered_on"]),
                )
            except AnswersInvalid as error:
                form.add_scoring_errors(error.errors)
            else:
                administration = recorded.administration
                total = (
                    "not scored" if administration.total is None else f"{administration.total:g}"
                )
                messages.success(request, f"{instrument.name} saved (total {total}).")
                if recorded.risk_alert is not None:
                    messages.warning(request, "A risk item was endorsed: an urgent alert is open.")
                return redirect("clients:episode_enter", episode_id=episode.pk)
    else:
        form = ResponseEntryForm(instrument=instrument)
        audit_record(
            actor=request.user,
            action="episode.entry_form_view",
            obj=episode,
            clinic=episode.clinic,
            client=episode.client,
            request=request,
            details={"instrument": instrument.code},
        )
    context.update({"form": form, "sections": form.sections()})
    return render(request, "clients/episode_enter.html", context)
