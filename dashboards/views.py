"""The therapist's pages: caseload, client trajectory, "review together", alerts needing action.

Thin views: parse input, call one selector or service, render or redirect. Every read is scoped
through ``clients.selectors`` (an episode out of scope answers 404), every view of a client's data
is audited, and every change is a POST with CSRF that redirects back (GET never changes state).
"""

import zoneinfo
from datetime import datetime, time
from email import message_from_bytes, policy
from pathlib import Path

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from audit.services import audit_clients_listed, audit_record
from clients import checkins
from clients.client_import import ImportInvalid, clients_import_csv
from clients.models import MeasurementPlan, Role
from clients.onboarding import PlanChoice, client_onboard
from clients.selectors import caseload_episodes, clinics_of, memberships_of, role_in
from clients.services import (
    ClientDataInvalid,
    NewClient,
    episode_close,
    session_record,
    therapists_assignable,
)
from dashboards import selectors
from dashboards.forms import (
    AlertResolveForm,
    CaseloadFilterForm,
    ClientAddForm,
    ClientImportForm,
    EpisodeCloseForm,
    PlanForm,
    SessionRecordForm,
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


def _error_messages(errors: dict[str, list[str]]) -> str:
    return " ".join(message for messages in errors.values() for message in messages)


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
    page_size = TEAM_PAGE_SIZE if team else OWN_CASELOAD_PAGE_SIZE
    shown = _shown(request, page_size=page_size)
    page = selectors.caseload_page(user=request.user, filters=filters, team=team, limit=shown)
    rows = page.rows
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
            "total": page.total,
            "urgent_count": page.urgent,
            "more_url": _more_url(request, shown + page_size) if page.total > len(rows) else "",
        },
    )


# A team or clinic view lists thousands of clients: the most urgent first, "show more" for the
# next ones. A therapist's own caseload (tens of clients) fits on one page unless it is huge.
TEAM_PAGE_SIZE = 100
OWN_CASELOAD_PAGE_SIZE = 500


def _shown(request, *, page_size: int) -> int:
    try:
        shown = int(request.GET.get("shown", page_size))
    except ValueError:
        return page_size
    return max(page_size, shown)


def _more_url(request, shown: int) -> str:
    query = request.GET.copy()
    query["shown"] = str(shown)
    return f"?{query.urlencode()}"


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
            "plan_form": _plan_form(episode, plan),
            "session_form": SessionRecordForm(),
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


def _plan_form(episode, plan, data=None) -> PlanForm:
    initial = {}
    if plan is not None:
        initial = {
            "instruments": list(plan.instruments),
            "schedule": plan.schedule,
            "weekday": plan.weekday,
            "local_time": plan.local_time,
            "session_rating_after_sessions": plan.session_rating_after_sessions,
        }
    else:
        initial = {"instruments": ["phq9", "gad7"]}
    return PlanForm(
        data, initial=initial, instruments=selectors.sendable_instruments(episode.clinic)
    )


@login_required
@require_POST
def episode_plan_set(request, episode_id):
    """Start check-ins for an episode without a plan (or whose plan ended), or change the forms
    and schedule of its plan."""
    episode = selectors.episode_for(user=request.user, episode_id=episode_id)
    form = _plan_form(episode, None, request.POST)
    if not form.is_valid():
        messages.error(request, _form_errors(form))
        return redirect(reverse("dashboards:episode", args=[episode.pk]) + "#plan")
    try:
        checkins.plan_set(episode=episode, actor=request.user, **form.cleaned_data)
    except checkins.PlanInvalid as error:
        messages.error(request, " ".join(error.errors))
    else:
        messages.success(request, "Measurement plan saved: check-ins follow it from now on.")
    return redirect(reverse("dashboards:episode", args=[episode.pk]) + "#plan")


@login_required
@require_POST
def episode_checkin_send(request, episode_id):
    """A one-off check-in with the plan's forms, e-mailed now."""
    episode = selectors.episode_for(user=request.user, episode_id=episode_id)
    try:
        checkins.checkin_create_one_off(episode=episode, actor=request.user, request=request)
    except checkins.CheckInInvalid as error:
        messages.error(request, _error_messages(error.errors))
    else:
        messages.success(request, "Check-in sent: the client has a new link by e-mail.")
    return redirect(reverse("dashboards:episode", args=[episode.pk]) + "#plan")


def _session_start(episode, held_on, held_at):
    """The moment of a session given as a date and an optional time, in the clinic's zone: the
    time left out means now for today's session (so its rating can go at once), midday before."""
    zone = zoneinfo.ZoneInfo(episode.clinic.timezone)
    if held_at is None:
        if held_on == timezone.localtime(timezone=zone).date():
            return timezone.now()
        held_at = time(12, 0)
    return datetime.combine(held_on, held_at, tzinfo=zone)


@login_required
@require_POST
def episode_session_record(request, episode_id):
    episode = selectors.episode_for(user=request.user, episode_id=episode_id)
    form = SessionRecordForm(request.POST)
    if not form.is_valid():
        messages.error(request, _form_errors(form))
        return redirect(reverse("dashboards:episode", args=[episode.pk]) + "#sessions")
    starts_at = _session_start(episode, form.cleaned_data["held_on"], form.cleaned_data["held_at"])
    try:
        session = session_record(
            actor=request.user,
            episode=episode,
            starts_at=starts_at,
            attendance=form.cleaned_data["attendance"],
            request=request,
        )
    except ClientDataInvalid as error:
        messages.error(request, _error_messages(error.errors))
    else:
        plan = MeasurementPlan.objects.filter(episode=episode).first()
        rating_follows = (
            session.attended and plan is not None and plan.is_running
            and plan.session_rating_after_sessions and episode.client.email
        )  # fmt: skip
        messages.success(
            request,
            "Session recorded."
            + (
                " The session rating goes to the client within five minutes."
                if rating_follows
                else ""
            ),
        )
    return redirect(reverse("dashboards:episode", args=[episode.pk]) + "#sessions")


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


# --- New clients ----------------------------------------------------------------------------------


def _clinic_chosen(request):
    """The clinic a client is added to: the one named (``clinic``, a slug among the user's own,
    else 404) or the user's first."""
    clinics = clinics_of(request.user).order_by("name", "pk")
    slug = request.POST.get("clinic") or request.GET.get("clinic")
    if slug:
        return get_object_or_404(clinics, slug=slug), clinics
    clinic = clinics.first()
    if clinic is None:
        raise Http404
    return clinic, clinics


def _client_add_form(request, clinic, data=None) -> ClientAddForm:
    therapists = therapists_assignable(user=request.user, clinic=clinic).order_by(
        "first_name", "last_name", "username"
    )
    initial = {"timezone": clinic.timezone, "instruments": ["phq9", "gad7"]}
    if therapists.filter(pk=request.user.pk).exists():
        initial["therapist"] = request.user.pk
    return ClientAddForm(
        data,
        initial=initial,
        therapists=therapists,
        instruments=selectors.sendable_instruments(clinic),
    )


@login_required
def client_add(request):
    """Add a client with their first episode and plan. Who may be their therapist follows the
    API: a therapist themselves, a supervisor their teams' therapists, a clinic admin anyone."""
    clinic, clinics = _clinic_chosen(request)
    form = _client_add_form(request, clinic, request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        plan = None
        if data["plan"] == ClientAddForm.PLAN_CHOSEN:
            plan = PlanChoice(
                instruments=tuple(data["instruments"]),
                schedule=data["schedule"],
                weekday=data["weekday"],
                local_time=data["local_time"],
                session_rating_after_sessions=data["session_rating_after_sessions"],
            )
        new_client = NewClient(
            label=data["label"].strip(),
            therapist=data["therapist"],
            email=data["email"],
            timezone=data["timezone"].strip(),
            started_on=data["started_on"],
        )
        try:
            client = client_onboard(
                actor=request.user,
                clinic=clinic,
                new_client=new_client,
                plan=plan,
                send_first_checkin_now=data["send_first_checkin_now"],
                request=request,
            )
        except ClientDataInvalid as error:
            for name, field_messages in error.errors.items():
                for message in field_messages:
                    form.add_error(name if name in form.fields else None, message)
        else:
            sent = " The first check-in is on its way." if data["send_first_checkin_now"] else ""
            messages.success(request, f"Client {client.label} added.{sent}")
            # Whoever may assign the therapist sees the episode (therapists_assignable).
            return redirect("dashboards:episode", episode_id=client.episodes.get().pk)
    return render(
        request,
        "dashboards/client_add.html",
        {"form": form, "clinic": clinic, "clinics": clinics, "import_form": ClientImportForm()},
    )


@login_required
def client_import(request):
    """Many clients at once from a CSV file (the same importer as the API and the command)."""
    clinic, clinics = _clinic_chosen(request)
    form = ClientImportForm(request.POST or None, request.FILES or None)
    problem = None
    if request.method == "POST" and form.is_valid():
        dry_run = form.cleaned_data["dry_run"]
        try:
            result = clients_import_csv(
                actor=request.user,
                clinic=clinic,
                stream=form.cleaned_data["file"],
                dry_run=dry_run,
                request=request,
            )
        except ImportInvalid as error:
            problem = error
        else:
            if dry_run:
                messages.success(request, f"The file is valid: {result.count} clients to add.")
                return redirect(reverse("dashboards:client_import") + f"?clinic={clinic.slug}")
            messages.success(request, f"{result.count} clients added.")
            return redirect(reverse("dashboards:caseload") + "?view=team")
    return render(
        request,
        "dashboards/client_import.html",
        {"form": form, "clinic": clinic, "clinics": clinics, "problem": problem},
    )


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
