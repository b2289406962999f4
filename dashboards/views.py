"""The therapist's pages: caseload, client trajectory, "review together", alerts needing action.

Thin views: parse input, call one selector or service, render or redirect. Every read is scoped
through ``clients.selectors`` (an episode out of scope answers 404), every view of a client's data
is audited, and every change is a POST with CSRF that redirects back (GET never changes state).
"""

from email import message_from_bytes, policy
from pathlib import Path

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from audit.services import audit_clients_listed, audit_record
from clients import checkins
from clients.models import MeasurementPlan, Role
from clients.selectors import caseload_episodes, memberships_of, role_in
from clients.services import ClientDataInvalid, episode_close
from dashboards import selectors
from dashboards.forms import (
    AlertResolveForm,
    CaseloadFilterForm,
    EpisodeCloseForm,
    TimelineEventForm,
)
from dashboards.services import TimelineEventInvalid, timeline_event_create
from outcomes import services as outcome_services

# The first few open alerts in full at the top of the client page; the rest one click away.
ALERTS_SHOWN = 3
ALERTS_SHOWN_PER_CLIENT = 2
SEVERITY_RANK = {"urgent": 0, "high": 1, "warning": 2}


def _audit_client_view(request, episode, surface: str) -> None:
    audit_record(
        actor=request.user,
        action="client.view",
        obj=episode.client,
        clinic=episode.clinic,
        client=episode.client,
        request=request,
        details={"view": surface, "episode": episode.pk},
    )


def _back(request, default: str):
    """Redirect to the page the form was on (``next``), if it is on this site."""
    target = request.POST.get("next", "")
    if target and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return redirect(target)
    return redirect(default)


def _form_errors(form) -> str:
    return " ".join(str(message) for errors in form.errors.values() for message in errors)


def _sees_team(user) -> bool:
    return any(m.role in (Role.SUPERVISOR, Role.ADMIN) for m in memberships_of(user))


# --- Caseload ---------------------------------------------------------------------------------


@login_required
def caseload(request):
    sees_team = _sees_team(request.user)
    view = request.GET.get("view")
    # A supervisor or clinic admin who carries no clients lands on their team's clients rather
    # than an empty caseload; "?view=mine" still shows their own.
    team = sees_team and (
        view == "team" or (view is None and not caseload_episodes(request.user).exists())
    )
    measures = [
        (code, selectors.instrument_short_name(code)) for code in selectors.INSTRUMENT_ORDER
    ]
    form = CaseloadFilterForm(request.GET or None, instruments=measures)
    form.is_valid()  # an invalid value is dropped from cleaned_data: a filter never errors
    data = form.cleaned_data if form.is_bound else {}
    filters = selectors.CaseloadFilters(
        status=data.get("status") or "",
        instrument=data.get("instrument") or "",
        has_open_alerts=bool(data.get("alerts")),
        search=(data.get("q") or "").strip(),
    )
    rows = selectors.caseload_rows(user=request.user, filters=filters, team=team)
    listed = [row.episode.client for row in rows]
    surface = "team_caseload" if team else "caseload"
    audit_clients_listed(actor=request.user, clients=listed, request=request, surface=surface)
    return render(
        request,
        "dashboards/caseload.html",
        {
            "rows": rows,
            "form": form,
            "filtered": any(vars(filters).values()),
            "filters": filters,
            "team": team,
            "sees_team": sees_team,
            "urgent_count": sum(1 for row in rows if row.urgent_alerts),
        },
    )


# --- One client -------------------------------------------------------------------------------


@login_required
def episode_detail(request, episode_id):
    episode = selectors.episode_for(user=request.user, episode_id=episode_id)
    page = selectors.episode_page(episode=episode)
    _audit_client_view(request, episode, "trajectory")
    plan = MeasurementPlan.objects.filter(episode=episode).first()
    open_alerts = sorted(
        (alert for alert in page.alerts if alert.state != "resolved"),
        key=lambda alert: (SEVERITY_RANK.get(alert.severity, 9), -alert.created_at.timestamp()),
    )
    return render(
        request,
        "dashboards/episode_detail.html",
        {
            "episode": episode,
            "page": page,
            "plan": plan,
            "weeks_in_care": selectors.days_ago(episode.started_on) // 7,
            "status_label": selectors.status_label(
                episode, has_scores=bool(page.panels or page.session_ratings)
            ),
            "resolve_form": AlertResolveForm(),
            "event_form": TimelineEventForm(),
            "close_form": EpisodeCloseForm(),
            "open_alerts": open_alerts[:ALERTS_SHOWN],
            "more_open_alerts": open_alerts[ALERTS_SHOWN:],
            "open_alert_count": len(open_alerts),
            "past_alerts": [a for a in page.alerts if a.state == "resolved"],
            # The privacy page (export or erase, GDPR) is the clinic admin's alone.
            "manages_privacy": role_in(request.user, episode.clinic) == Role.ADMIN,
        },
    )


@login_required
def episode_review(request, episode_id):
    episode = selectors.episode_for(user=request.user, episode_id=episode_id)
    panels = selectors.review_panels(episode=episode)
    _audit_client_view(request, episode, "review_together")
    return render(request, "dashboards/episode_review.html", {"episode": episode, "panels": panels})


@login_required
@require_POST
def episode_event_add(request, episode_id):
    episode = selectors.episode_for(user=request.user, episode_id=episode_id)
    form = TimelineEventForm(request.POST)
    if form.is_valid():
        try:
            timeline_event_create(episode=episode, user=request.user, request=request,
                                  **form.cleaned_data)  # fmt: skip
        except TimelineEventInvalid as error:
            messages.error(request, str(error))
        else:
            messages.success(request, "Event added to the timeline.")
    else:
        messages.error(request, _form_errors(form))
    return redirect(reverse("dashboards:episode", args=[episode.pk]) + "#timeline")


PLAN_ACTIONS = {
    "pause": (checkins.plan_pause, "Check-ins paused: no new links will be sent."),
    "resume": (checkins.plan_resume, "Check-ins resumed from the next due week."),
    "end": (checkins.plan_end, "Measurement plan ended: no more check-ins will be sent."),
}


@login_required
@require_POST
def episode_plan_change(request, episode_id, action):
    episode = selectors.episode_for(user=request.user, episode_id=episode_id)
    if action not in PLAN_ACTIONS:
        raise Http404
    plan = MeasurementPlan.objects.filter(episode=episode).first()
    if plan is None or plan.ended_at is not None:
        messages.error(request, "This episode has no running measurement plan.")
    else:
        service, done = PLAN_ACTIONS[action]
        service(plan=plan, actor=request.user)
        messages.success(request, done)
    return redirect(reverse("dashboards:episode", args=[episode.pk]) + "#plan")


@login_required
@require_POST
def episode_close_view(request, episode_id):
    episode = selectors.episode_for(user=request.user, episode_id=episode_id)
    form = EpisodeCloseForm(request.POST)
    if not form.is_valid():
        messages.error(request, _form_errors(form))
        return redirect(reverse("dashboards:episode", args=[episode.pk]) + "#close")
    try:
        episode_close(episode=episode, user=request.user, request=request, **form.cleaned_data)
    except ClientDataInvalid as error:
        messages.error(request, " ".join(m for msgs in error.errors.values() for m in msgs))
        return redirect(reverse("dashboards:episode", args=[episode.pk]) + "#close")
    messages.success(request, f"Episode of {episode.client.label} closed; check-ins stopped.")
    return redirect("dashboards:episode", episode_id=episode.pk)


# --- Alerts -------------------------------------------------------------------------------------


def _by_client(alerts: list) -> list[dict]:
    """Alerts grouped per episode, groups in the order of their most pressing alert: a client
    with many prompts is one block to read, not a page of them."""
    groups: dict[int, dict] = {}
    for alert in alerts:
        group = groups.setdefault(alert.episode_id, {"episode": alert.episode, "alerts": []})
        group["alerts"].append(alert)
    for group in groups.values():
        group["shown"] = group["alerts"][:ALERTS_SHOWN_PER_CLIENT]
        group["more"] = group["alerts"][ALERTS_SHOWN_PER_CLIENT:]
        group["urgent"] = sum(1 for alert in group["alerts"] if alert.severity == "urgent")
    return list(groups.values())


@login_required
def alerts(request):
    open_alerts = list(selectors.alerts_for_attention(user=request.user))
    listed = [alert.episode.client for alert in open_alerts]
    audit_clients_listed(actor=request.user, clients=listed, request=request, surface="alerts")
    new_alerts = [alert for alert in open_alerts if alert.state == "open"]
    acknowledged = [alert for alert in open_alerts if alert.state == "acknowledged"]
    return render(
        request,
        "dashboards/alerts.html",
        {
            "new_alerts": new_alerts,
            "acknowledged_alerts": acknowledged,
            "new_groups": _by_client(new_alerts),
            "acknowledged_groups": _by_client(acknowledged),
            "resolve_form": AlertResolveForm(),
        },
    )


@login_required
@require_POST
def alert_acknowledge(request, alert_id):
    alert = selectors.alert_for(user=request.user, alert_id=alert_id)
    try:
        outcome_services.alert_acknowledge(alert=alert, user=request.user, request=request)
    except outcome_services.AlertTransitionInvalid as error:
        messages.error(request, str(error))
    else:
        messages.success(request, f"Alert for {alert.episode.client.label} acknowledged.")
    return _back(request, reverse("dashboards:episode", args=[alert.episode_id]))


@login_required
@require_POST
def alert_resolve(request, alert_id):
    alert = selectors.alert_for(user=request.user, alert_id=alert_id)
    form = AlertResolveForm(request.POST)
    if form.is_valid():
        try:
            outcome_services.alert_resolve(
                alert=alert,
                user=request.user,
                action=form.cleaned_data["action"],
                note=form.cleaned_data["note"],
                request=request,
            )
        except outcome_services.AlertTransitionInvalid as error:
            messages.error(request, str(error))
        else:
            messages.success(request, f"Alert for {alert.episode.client.label} resolved.")
    else:
        messages.error(request, _form_errors(form))
    return _back(request, reverse("dashboards:episode", args=[alert.episode_id]))


# --- Demo mailbox -----------------------------------------------------------------------------


@login_required
def local_outbox(request):
    """The embedded default's mailbox: what clients and staff would have received (demo only).
    For the operator only: it holds every clinic's mail, links included."""
    if not (settings.SHOW_LOCAL_OUTBOX and request.user.is_superuser):
        raise Http404
    outbox = Path(settings.EMAIL_OUTBOX_DIR)
    files = sorted(outbox.glob("*.eml"), reverse=True)[:50] if outbox.exists() else []
    mails = []
    for path in files:
        message = message_from_bytes(path.read_bytes(), policy=policy.default)
        body = message.get_body(preferencelist=("plain",))
        mails.append(
            {
                "to": message["To"],
                "subject": message["Subject"],
                "date": message["Date"],
                "body": body.get_content() if body else "",
            }
        )
    return render(request, "dashboards/local_outbox.html", {"mails": mails})
