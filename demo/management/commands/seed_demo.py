"""``manage.py seed_demo``: a demo clinic from the deterministic generator in
``demo.demo_data``, written with bulk inserts so that ``--clients 50000`` takes minutes."""

import time
from datetime import datetime, timedelta
from datetime import time as clock
from zoneinfo import ZoneInfo

import pandas as pd
from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import make_password
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.utils import timezone

from clients.models import (
    CheckIn,
    CheckInKind,
    CheckInStatus,
    Client,
    Clinic,
    Episode,
    MeasurementPlan,
    Membership,
    Role,
    Team,
    TimelineEvent,
    TreatmentSession,
)
from demo import demo_data
from lib.planner import planner_statistics_refresh
from measures.instruments import get_instrument
from measures.scoring import score_frame
from outcomes.models import (
    Administration,
    Alert,
    AlertAction,
    AlertRule,
    AlertSeverity,
    AlertState,
    ResponseSource,
)

BATCH = 5000
DEMO_SLUG = "demo"
DEMO_NAME = "Riverside Psychological Therapies (demo)"


class Command(BaseCommand):
    help = "Create the demo clinic: staff, clients, episodes and weekly scores (deterministic)."

    def add_arguments(self, parser):
        parser.add_argument("--clients", type=int, default=60)
        parser.add_argument("--weeks", type=int, default=30, help="Longest episode, in weeks.")
        parser.add_argument("--seed", type=int, default=0)
        parser.add_argument("--password", default="demo-password-2026")
        parser.add_argument("--slug", default=DEMO_SLUG)
        parser.add_argument(
            "--replace", action="store_true", help="Delete an existing clinic with this slug."
        )
        parser.add_argument(
            "--no-evaluate", action="store_true", help="Skip computing alerts and statuses."
        )

    def handle(self, *args, clients, weeks, seed, password, slug, replace, no_evaluate, **opts):
        started = time.monotonic()
        existing = Clinic.objects.filter(slug=slug).first()
        if existing is not None:
            if not replace:
                raise CommandError(f"A clinic '{slug}' exists already; use --replace.")
            clinic_delete(clinic=existing)
        demo = demo_data.generate_clinic(clients=clients, weeks=(min(4, weeks), weeks), seed=seed)
        self.stdout.write(
            f"Generated {len(demo.clients)} clients, {len(demo.administrations)} forms "
            f"in {time.monotonic() - started:.1f}s; writing…"
        )
        with transaction.atomic():
            clinic, episode_ids = demo_write(demo=demo, slug=slug, password=password)
        planner_statistics_refresh(Client, Episode, CheckIn, Administration, Alert, TimelineEvent)
        self.stdout.write(f"Written in {time.monotonic() - started:.1f}s.")
        if not no_evaluate:
            from outcomes.evaluation import episodes_evaluate
            from outcomes.notifications import alerts_escalate

            episodes_evaluate(episode_ids=episode_ids)
            reviewed, waiting = demo_alert_history(clinic=clinic, now=timezone.now())
            # Dated by their events, the waiting urgent alerts are past the clinic's window: the
            # beat's next run would escalate them; doing it now leaves no backlog on /healthz.
            escalated = alerts_escalate()
            self.stdout.write(
                f"Alerts and statuses computed in {time.monotonic() - started:.1f}s: "
                f"{reviewed} reviewed in past weeks, {waiting} waiting for review "
                f"({escalated} urgent escalated to the supervisor)."
            )
        self.stdout.write(self.style.SUCCESS(f"Demo clinic '{clinic.name}' ready."))


# The demo clinic's habit, so its history reads like a running service and not a backlog: every
# alert is reviewed within the week (urgent ones acknowledged within two hours and resolved the
# next day), so only the past week's alerts are still waiting.
REVIEW_WITHIN = timedelta(days=7)
ACKNOWLEDGED_AFTER = {AlertSeverity.URGENT: timedelta(hours=2)}
RESOLVED_AFTER = {AlertSeverity.URGENT: timedelta(days=1)}
DEFAULT_ACKNOWLEDGED_AFTER = timedelta(days=1)
DEFAULT_RESOLVED_AFTER = timedelta(days=4)
DEMO_ACTIONS = {
    AlertRule.RISK_ITEM: AlertAction.SAFETY_PLAN,
    AlertRule.RELIABLE_DETERIORATION: AlertAction.EXTRA_SESSION,
    AlertRule.NOT_ON_TRACK: AlertAction.SUPERVISION,
    AlertRule.SUDDEN_LOSS: AlertAction.NO_ACTION,
    AlertRule.ALLIANCE_CONCERN: AlertAction.CONTACTED_CLIENT,
    AlertRule.DISENGAGEMENT: AlertAction.CONTACTED_CLIENT,
    AlertRule.CONTACT_REQUEST: AlertAction.CONTACTED_CLIENT,
}


def demo_alert_history(*, clinic, now) -> tuple[int, int]:
    """Date the seeded alerts by their events and mark the older ones handled by the therapist.

    Evaluating the generated history raises every alert at once, today; a clinic would have
    raised each at its form or missed check-in, and handled it. Returns (handled, still open).
    """
    alerts = list(Alert.objects.filter(clinic=clinic).select_related("administration", "episode"))
    # A missed check-in ("checkin:<id>") is noticed when its link expires unanswered.
    missed_checkin = {alert.pk: _checkin_id(alert.trigger) for alert in alerts}
    noticed = dict(
        CheckIn.objects.filter(pk__in=set(missed_checkin.values()) - {None}).values_list(
            "pk", "expires_at"
        )
    )
    handled = 0
    for alert in alerts:
        if alert.administration is not None:
            event_at = alert.administration.administered_at
        else:
            event_at = noticed.get(missed_checkin[alert.pk], alert.created_at)
        alert.created_at = min(event_at, now)
        if now - alert.created_at < REVIEW_WITHIN:
            continue
        therapist_id = alert.episode.therapist_id
        alert.state = AlertState.RESOLVED
        alert.acknowledged_by_id = alert.resolved_by_id = therapist_id
        alert.acknowledged_at = alert.created_at + ACKNOWLEDGED_AFTER.get(
            alert.severity, DEFAULT_ACKNOWLEDGED_AFTER
        )
        alert.resolved_at = alert.created_at + RESOLVED_AFTER.get(
            alert.severity, DEFAULT_RESOLVED_AFTER
        )
        alert.action = DEMO_ACTIONS[alert.rule]
        handled += 1
    Alert.objects.bulk_update(
        alerts,
        [
            "created_at",
            "state",
            "acknowledged_by",
            "acknowledged_at",
            "resolved_by",
            "resolved_at",
            "action",
        ],
        batch_size=BATCH,
    )
    return handled, len(alerts) - handled


def _checkin_id(trigger: str) -> int | None:
    kind, _, number = trigger.partition(":")
    return int(number) if kind == "checkin" and number.isdigit() else None


def clinic_delete(*, clinic) -> None:
    """Remove a clinic and everything in it (demo use only)."""
    with transaction.atomic():
        users = get_user_model().objects.filter(memberships__clinic=clinic)
        episodes = Episode.objects.filter(clinic=clinic)
        Administration.objects.filter(episode__in=episodes).delete()
        episodes.delete()
        Client.objects.filter(clinic=clinic).delete()
        user_ids = list(users.values_list("pk", flat=True))
        clinic.delete()
        get_user_model().objects.filter(pk__in=user_ids).delete()


def _local_datetime(day, minutes: int, zone: str) -> datetime:
    local = datetime.combine(day, clock(minutes // 60, minutes % 60), tzinfo=ZoneInfo(zone))
    return local.astimezone(ZoneInfo("UTC"))


def demo_write(*, demo, slug: str, password: str):
    """Write the generated clinic; returns the clinic and the ids of its episodes."""
    # How clients reach the clinic, shown on every client page (fictional: Ofcom's drama range).
    clinic = Clinic.objects.create(
        name=DEMO_NAME,
        slug=slug,
        contact_phone="0118 496 0000",
        contact_email="reception@riverside-demo.example.org",
        contact_hours="Monday to Friday, 9:00 to 17:00",
    )
    teams = [Team.objects.create(clinic=clinic, name=team.name) for team in demo.teams]
    users = _write_staff(demo, clinic, teams, password)

    clients = Client.objects.bulk_create(
        [
            Client(
                clinic=clinic,
                label=client.label,
                email=client.email,
                timezone=client.timezone,
                language=client.language,
            )
            for client in demo.clients
        ],
        batch_size=BATCH,
    )
    episodes = Episode.objects.bulk_create(
        [
            Episode(
                client=clients[episode.client],
                clinic=clinic,
                therapist=users[episode.therapist],
                started_on=episode.start,
                ended_on=episode.end,
                end_reason=episode.end_reason or "",
                # Their forms are stored below without administrations_store: mark them as it
                # would, so the sweeps and /healthz see them until the evaluation reads them.
                rules_pending_since=timezone.now(),
            )
            for episode in demo.episodes
        ],
        batch_size=BATCH,
    )
    MeasurementPlan.objects.bulk_create(
        [
            MeasurementPlan(
                episode=episodes[index],
                weekday=episode.start.weekday(),
                ended_at=None if episode.end is None else timezone.now(),
            )
            for index, episode in enumerate(demo.episodes)
        ],
        batch_size=BATCH,
    )
    TreatmentSession.objects.bulk_create(
        [
            TreatmentSession(
                episode=episodes[session.episode],
                starts_at=_local_datetime(session.date, 10 * 60, clinic.timezone),
                attended=session.attended,
            )
            for session in demo.sessions
        ],
        batch_size=BATCH,
    )
    TimelineEvent.objects.bulk_create(
        [
            TimelineEvent(
                episode=episodes[event.episode],
                occurred_on=event.date,
                kind=event.kind,
                note=event.note,
            )
            for event in demo.events
        ],
        batch_size=BATCH,
    )
    _write_administrations(demo, episodes)
    return clinic, [episode.pk for episode in episodes]


def _write_staff(demo, clinic, teams, password):
    User = get_user_model()
    hashed = make_password(password)  # hash once: argon2 is deliberately slow
    users = []
    for person in demo.staff:
        user = User.objects.create(
            username=person.username,
            first_name=person.display_name,
            email=f"{person.username}@demo.example.org",
            password=hashed,
            # The demo is a one-clinic installation: its clinic admin is also the operator, the
            # only kind of user the Django admin lets in (config/admin_site.py).
            is_staff=person.role == Role.ADMIN,
            is_superuser=person.role == Role.ADMIN,
        )
        membership = Membership.objects.create(user=user, clinic=clinic, role=person.role)
        if person.role == Role.SUPERVISOR or person.role == Role.ADMIN:
            membership.teams.set(teams)
        elif person.team is not None:
            membership.teams.set([teams[person.team]])
        users.append(user)
    return users


def _write_administrations(demo, episodes) -> None:
    """Score every form with the vectorised path, one completed check-in per weekly pair of forms
    (and per session rating), and an expired check-in per missed week."""
    frame = demo_data.to_frames(demo)["administrations"]
    scored_parts = []
    for code, group in frame.groupby("instrument", sort=False):
        instrument = get_instrument(code)
        answers = pd.DataFrame(group["answers"].tolist(), index=group.index)
        scored = score_frame(instrument, answers)
        scored["version"] = str(instrument.version)
        scored_parts.append(scored)
    scored = pd.concat(scored_parts).loc[frame.index]

    checkin_by_key = {}
    checkins = []
    for row in frame.itertuples():
        kind = (
            CheckInKind.SESSION_RATING
            if row.instrument == "session_rating"
            else CheckInKind.SCHEDULED
        )
        key = (row.episode, kind, row.administered_at)
        if key not in checkin_by_key:
            checkin = CheckIn(
                episode=episodes[row.episode],
                kind=kind,
                due_at=row.administered_at,
                instruments=[],
                status=CheckInStatus.COMPLETED,
                sent_at=row.administered_at - timedelta(hours=2),
                expires_at=row.administered_at + timedelta(days=4),
                completed_at=row.administered_at,
            )
            checkin_by_key[key] = checkin
            checkins.append(checkin)
        checkin_by_key[key].instruments.append(row.instrument)
    for missed in demo.missed_checkins:
        checkins.append(
            CheckIn(
                episode=episodes[missed.episode],
                kind=CheckInKind.SCHEDULED,
                due_at=missed.due_at,
                instruments=["phq9", "gad7"],
                status=CheckInStatus.EXPIRED,
                sent_at=missed.due_at,
                reminded_at=missed.due_at + timedelta(days=2),
                expires_at=missed.due_at + timedelta(days=4),
            )
        )
    CheckIn.objects.bulk_create(checkins, batch_size=BATCH)

    rows = []
    for row, score in zip(frame.itertuples(), scored.itertuples(), strict=True):
        kind = (
            CheckInKind.SESSION_RATING
            if row.instrument == "session_rating"
            else CheckInKind.SCHEDULED
        )
        total = score.total
        rows.append(
            Administration(
                episode=episodes[row.episode],
                checkin=checkin_by_key[(row.episode, kind, row.administered_at)],
                instrument=row.instrument,
                instrument_version=score.version,
                administered_at=row.administered_at,
                answers=[int(value) for value in row.answers],
                total=None if pd.isna(total) else float(total),
                band=score.band or "",
                caseness=None if pd.isna(score.caseness) else bool(score.caseness),
                risk=score.risk,
                valid=bool(score.valid),
                source=ResponseSource.LINK,
            )
        )
        if len(rows) >= BATCH:
            Administration.objects.bulk_create(rows)
            rows = []
    Administration.objects.bulk_create(rows)
