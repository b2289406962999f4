"""Check-ins: measurement plans, the sweep that creates and sends them, the single-use link,
reminders, expiry and opt-in. The client's submission, the opt-out and staff entry record scores
or raise alerts, so they live above outcomes, in ``checkins.services``.

Everything is derived from rows, never from Celery countdowns or ETAs: the five-minute sweep asks
the database what is due (a check-in to create, a link to send, a reminder, an expiry), so a lost
broker message or a dead worker only delays a step until the next sweep. Each step claims its row
with a conditional UPDATE first, so two sweeps running at once do everything exactly once.

The link (zulip's confirmation links are the model): a key of 192 random bits is put in the
e-mail and only its SHA-256 is stored. GET never changes anything (mail scanners open links);
the POST is single use: the submission claims the check-in with a conditional UPDATE (its row lock
makes a second one wait, then claim nothing), backed by the unique (check-in, instrument)
constraint on administrations.

Why one long module (~850 lines): a check-in's life cycle (plan, creation, link, mail, reminder,
expiry) is one chain of claims on the same rows, and reading it in one place is how its
exactly-once guarantees are checked; plans and the sweep are the next to split out.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import logging
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESSIV
from django.conf import settings
from django.core import signing
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.utils.crypto import salted_hmac

from audit.services import audit_record
from clients import scheduling
from clients.models import (
    CheckIn,
    CheckInKind,
    CheckInStatus,
    Client,
    Clinic,
    Episode,
    MeasurementPlan,
    Schedule,
    TreatmentSession,
)
from lib.queue import enqueue_task_on_commit
from messaging.models import OutboundEmail
from messaging.services import mail_queue

logger = logging.getLogger(__name__)

# 24 bytes = 192 bits from the OS's CSPRNG: far beyond the 128 bits that make guessing hopeless.
KEY_BYTES = 24
KEY_PATTERN = re.compile(r"^[A-Za-z0-9_-]{32,64}$")
OPT_OUT_SALT = "clients.checkins.opt-out"  # the legacy signed tokens' (client_for_opt_out_token)
OPT_OUT_KEY_SALT = "clients.checkins.opt-out-token"
OPT_OUT_CONTEXT = b"opt-out"
# 8 bytes of id + AES-SIV's 16-byte tag, in unpadded URL-safe base64.
OPT_OUT_TOKEN_PATTERN = re.compile(r"^[A-Za-z0-9_-]{32}$")
SESSION_RATING = "session_rating"
# A "before each session" check-in is sent this long before the session starts, and closes when
# the session starts (it is about the week before it). A local choice, not a clinical threshold.
BEFORE_SESSION_LEAD = timedelta(hours=24)


# The clinic's own instrument definitions and licensed text packs are outcomes' models, and
# outcomes sits above clients: it registers its lookup here when Django starts
# (``OutcomesConfig.ready``), so that plans and check-ins can ask for an instrument without an
# import back up (docs/architecture.md).
_instrument_lookup = None


def instrument_lookup_register(lookup) -> None:
    """``lookup(clinic, code) -> Instrument`` (KeyError for an unknown code)."""
    global _instrument_lookup
    _instrument_lookup = lookup


def instrument_for(clinic, code: str):
    if _instrument_lookup is None:
        raise RuntimeError("outcomes has not registered its instrument lookup (is it installed?)")
    return _instrument_lookup(clinic, code)


class LinkState(StrEnum):
    OPEN = "open"
    UNKNOWN = "unknown"
    EXPIRED = "expired"
    COMPLETED = "completed"
    OPTED_OUT = "opted_out"
    CLOSED = "closed"  # cancelled: the plan ended or paused, or the episode closed


class PlanInvalid(ValueError):
    """The plan cannot be saved; ``errors`` say why (shown to staff as they are)."""

    def __init__(self, errors: list[str]):
        super().__init__("; ".join(errors))
        self.errors = errors


@dataclass(frozen=True)
class SubmitOutcome:
    """``stored`` is True only for the request that stored the answers; a repeat gets the
    state (COMPLETED: "already received") and stores nothing."""

    state: LinkState
    stored: bool = False
    risk_endorsed: bool = False
    contact_requested: bool = False


# --- Keys ---------------------------------------------------------------------------------------


def key_hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def _key_new() -> tuple[str, str]:
    key = secrets.token_urlsafe(KEY_BYTES)
    return key, key_hash(key)


def checkin_url(key: str) -> str:
    return f"{settings.SITE_URL}{reverse('checkin:form', kwargs={'key': key})}"


def _opt_out_ciphers() -> list[AESSIV]:
    """AES-SIV keys derived from ``SECRET_KEY`` and then its fallbacks, so that tokens mailed
    before a key rotation keep working while the old key is listed in ``SECRET_KEY_FALLBACKS``."""
    return [
        AESSIV(salted_hmac(OPT_OUT_KEY_SALT, "aes-siv", secret=secret, algorithm="sha512").digest())
        for secret in [settings.SECRET_KEY, *settings.SECRET_KEY_FALLBACKS]
    ]


def opt_out_token(client: Client) -> str:
    """The client's id, encrypted and authenticated: 32 characters that reveal nothing and cannot
    be forged or edited into another client's without ``SECRET_KEY``.

    An opt-out link must keep working for years, so it neither expires nor is stored: the token
    is computed again for every mail (AES-SIV is deterministic: the same client always gets the
    same token) and the database holds nothing that would open it."""
    sealed = _opt_out_ciphers()[0].encrypt(client.pk.to_bytes(8, "big"), [OPT_OUT_CONTEXT])
    return base64.urlsafe_b64encode(sealed).decode().rstrip("=")


def _opt_out_client_id(token: str) -> int | None:
    if OPT_OUT_TOKEN_PATTERN.match(token or ""):
        try:
            sealed = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        except binascii.Error:
            return None
        for cipher in _opt_out_ciphers():
            try:
                return int.from_bytes(cipher.decrypt(sealed, [OPT_OUT_CONTEXT]), "big")
            except InvalidTag:
                continue
        return None
    # Legacy: until December 2026 the token was ``signing.dumps(client.pk)``, whose first part is
    # the id in plain base64. Mails carrying it sit in clients' inboxes for years and must still
    # let them stop the e-mails; no new mail carries one.
    try:
        return signing.loads(token, salt=OPT_OUT_SALT)
    except signing.BadSignature:
        return None


def client_for_opt_out_token(token: str) -> Client | None:
    client_id = _opt_out_client_id(token)
    if not isinstance(client_id, int):
        return None
    return Client.objects.select_related("clinic").filter(pk=client_id).first()


def opt_out_url(client: Client) -> str:
    return (
        f"{settings.SITE_URL}{reverse('checkin:opt_out', kwargs={'token': opt_out_token(client)})}"
    )


# --- Reading a link (no writes: GET must change nothing) ----------------------------------------


def checkin_link_state(checkin: CheckIn, *, now: datetime | None = None) -> LinkState:
    now = now or timezone.now()
    if checkin.status == CheckInStatus.COMPLETED:
        return LinkState.COMPLETED
    if checkin.episode.client.is_opted_out:
        return LinkState.OPTED_OUT
    if checkin.status == CheckInStatus.CANCELLED or not checkin.episode.is_active:
        return LinkState.CLOSED
    if checkin.status == CheckInStatus.EXPIRED or (
        checkin.expires_at is not None and checkin.expires_at <= now
    ):
        return LinkState.EXPIRED
    return LinkState.OPEN


def checkin_by_key(*, key: str) -> CheckIn | None:
    """The check-in a link's key opens, or None. The lookup is by the key's hash (an attacker
    learns nothing from its timing about the key itself); the match is re-checked in constant
    time all the same."""
    if not KEY_PATTERN.match(key or ""):
        return None
    digest = key_hash(key)
    # Both hashes are unique, so one row at most: no ORDER BY for ``first()`` to compile (on
    # every link page, a sixth of this query's time in Python).
    found = list(
        CheckIn.objects.select_related("episode__client", "episode__clinic", "treatment_session")
        .filter(Q(key_hash=digest) | Q(reminder_key_hash=digest))
        .order_by()[:1]
    )
    if not found:
        return None
    checkin = found[0]
    matches = hmac.compare_digest(checkin.key_hash or "", digest) | hmac.compare_digest(
        checkin.reminder_key_hash or "", digest
    )
    return checkin if matches else None


def checkin_instruments(checkin: CheckIn) -> list:
    """The check-in's instruments as the clinic uses them, in the plan's order."""
    return [instrument_for(checkin.episode.clinic, code) for code in checkin.instruments]


def checkin_instructions(checkin: CheckIn, instruments: list | None = None) -> dict[str, str]:
    """Each instrument's instructions as the client reads them, by instrument code.

    The session rating says "today's session", but its link arrives after the session and may be
    opened days later, when "today" is another day: the client is told which session, by its
    date in their own zone. ``instruments``: the check-in's, when the caller has read them."""
    instructions = {}
    if checkin.kind == CheckInKind.SESSION_RATING:
        session_at = (
            checkin.treatment_session.starts_at if checkin.treatment_session_id else checkin.due_at
        )
        local = timezone.localtime(session_at, scheduling._zone(checkin.episode.client.timezone))
        session = f"your session on {local:%A} {local.day} {local:%B}"
        for instrument in checkin_instruments(checkin) if instruments is None else instruments:
            if instrument.code != SESSION_RATING:
                continue
            text = instrument.instructions
            if "today's session" in text:
                text = text.replace("today's session", session, 1)
            else:
                text = f"These questions are about {session}. {text}".strip()
            instructions[instrument.code] = text
    return instructions


# --- Plans --------------------------------------------------------------------------------------


def plan_instruments_errors(*, clinic: Clinic, codes: list[str]) -> list[str]:
    """Why these instruments cannot be sent to clients (empty when they can)."""
    errors = []
    if not codes:
        errors.append("Choose at least one form.")
    for code in codes:
        try:
            instrument = instrument_for(clinic, code)
        except KeyError:
            errors.append(f"'{code}' is not an instrument this clinic knows.")
            continue
        if not instrument.can_be_sent:
            errors.append(
                f"{instrument.name} cannot be sent to clients: its item text is licensed and this "
                "clinic has not loaded its text pack. Load the licensed text pack in the admin, or "
                "enter this form in session instead."
            )
    return errors


def plan_set(
    *,
    episode: Episode,
    instruments: list[str],
    schedule: str = Schedule.WEEKLY,
    weekday: int = 0,
    local_time=None,
    session_rating_after_sessions: bool = True,
    actor=None,
) -> MeasurementPlan:
    """Create or change the episode's plan. Raises PlanInvalid for unsendable instruments or a
    closed episode. Setting a plan that had ended starts it afresh (from now: no session or week
    before the restart is sent late); a paused plan stays paused."""
    errors = plan_instruments_errors(clinic=episode.clinic, codes=list(instruments))
    if episode.ended_on is not None:
        errors.append("This episode is closed: it has no more check-ins.")
    if schedule not in Schedule.values:
        errors.append(f"Unknown schedule '{schedule}'.")
    if not 0 <= int(weekday) <= 6:
        errors.append("The weekday must be 0 (Monday) to 6 (Sunday).")
    if errors:
        raise PlanInvalid(errors)
    fields = {
        "instruments": list(instruments),
        "schedule": schedule,
        "weekday": int(weekday),
        "session_rating_after_sessions": session_rating_after_sessions,
    }
    if local_time is not None:
        fields["local_time"] = local_time
    with transaction.atomic():
        if MeasurementPlan.objects.filter(episode=episode, ended_at__isnull=False).exists():
            fields.update(ended_at=None, paused_at=None, created_at=timezone.now())
        plan, created = MeasurementPlan.objects.update_or_create(episode=episode, defaults=fields)
        if actor is not None:
            audit_record(
                actor=actor,
                action="plan.create" if created else "plan.update",
                obj=plan,
                clinic=episode.clinic,
                client=episode.client,
                details={"instruments": list(instruments), "schedule": schedule},
            )
    return plan


def plan_create_default(*, episode: Episode, actor=None) -> MeasurementPlan:
    """The clinic default: PHQ-9 and GAD-7 weekly (Mondays 09:00 local), and the session rating
    after each attended session."""
    return plan_set(episode=episode, instruments=["phq9", "gad7"], actor=actor)


def pending_checkins_cancel(*, episode_ids, unsent_only: bool) -> int:
    pending = CheckIn.objects.filter(episode_id__in=episode_ids, status=CheckInStatus.PENDING)
    if unsent_only:
        pending = pending.filter(sent_at__isnull=True)
    return pending.update(status=CheckInStatus.CANCELLED)


def plan_pause(*, plan: MeasurementPlan, actor=None) -> MeasurementPlan:
    """Stop sending until resumed; a link already sent stays usable until it expires."""
    with transaction.atomic():
        MeasurementPlan.objects.filter(pk=plan.pk, paused_at__isnull=True).update(
            paused_at=timezone.now()
        )
        pending_checkins_cancel(episode_ids=[plan.episode_id], unsent_only=True)
        _plan_audit(plan=plan, actor=actor, action="plan.pause")
    plan.refresh_from_db()
    return plan


def plan_resume(*, plan: MeasurementPlan, actor=None) -> MeasurementPlan:
    """Send again from the next due slot; missed weeks are not sent late."""
    with transaction.atomic():
        MeasurementPlan.objects.filter(pk=plan.pk).update(paused_at=None)
        _plan_audit(plan=plan, actor=actor, action="plan.resume")
    plan.refresh_from_db()
    return plan


def plan_end(*, plan: MeasurementPlan, actor=None) -> MeasurementPlan:
    """End the plan for good; open links stop working and show the "closed" page."""
    with transaction.atomic():
        MeasurementPlan.objects.filter(pk=plan.pk, ended_at__isnull=True).update(
            ended_at=timezone.now()
        )
        pending_checkins_cancel(episode_ids=[plan.episode_id], unsent_only=False)
        _plan_audit(plan=plan, actor=actor, action="plan.end")
    plan.refresh_from_db()
    return plan


def plan_end_for_episode(*, episode: Episode, actor=None) -> None:
    """Called when an episode closes (discharge): end its plan and close its open check-ins."""
    plan = MeasurementPlan.objects.filter(episode=episode).first()
    if plan is not None:
        plan_end(plan=plan, actor=actor)
    else:
        pending_checkins_cancel(episode_ids=[episode.pk], unsent_only=False)


def _plan_audit(*, plan: MeasurementPlan, actor, action: str) -> None:
    if actor is not None:
        episode = plan.episode
        audit_record(
            actor=actor, action=action, obj=plan, clinic=episode.clinic, client=episode.client
        )


# --- One-off check-ins ---------------------------------------------------------------------------

# A due time a few minutes past is "now" from a caller whose clock runs behind; further back it is
# a mistake. A year ahead is far enough for any review; it also keeps the expiry computable.
ONE_OFF_PAST_TOLERANCE = timedelta(minutes=5)
ONE_OFF_MAX_AHEAD = timedelta(days=365)


class CheckInInvalid(ValueError):
    """The check-in cannot be created; ``errors`` map each field to messages for staff."""

    def __init__(self, errors: dict[str, list[str]]):
        super().__init__("; ".join(message for group in errors.values() for message in group))
        self.errors = errors


def checkin_create_one_off(
    *,
    episode: Episode,
    actor,
    instruments: list[str] | None = None,
    due_at: datetime | None = None,
    request=None,
    now: datetime | None = None,
) -> CheckIn:
    """A check-in outside the plan (before a review, after a hard week): the plan's forms unless
    ``instruments`` are named, due ``due_at`` (now by default), open for the clinic's expiry.

    The caller must have scoped ``episode`` to ``actor`` (clients.selectors). Due now, it gets
    its key and its outbox mail in the transaction that creates it, and the mail task is queued
    after commit; due later, the sweep sends it once the time has come (a row, never a Celery
    countdown, so a lost broker message only delays it). Raises CheckInInvalid.
    """
    now = now or timezone.now()
    due_at = due_at or now
    client = episode.client
    errors: dict[str, list[str]] = {}
    if not episode.is_active:
        errors["episode"] = ["This episode is closed."]
    elif client.is_opted_out:
        errors["episode"] = [
            "The client has opted out of e-mailed check-ins: enter the form in session instead."
        ]
    elif not client.email:
        errors["episode"] = ["The client has no e-mail address to send the link to."]
    if instruments is None:
        plan = MeasurementPlan.objects.filter(episode=episode).first()
        codes = list(plan.instruments) if plan is not None else []
        if not codes:
            errors["instruments"] = ["This episode has no measurement plan: name the forms."]
    else:
        codes = list(dict.fromkeys(instruments))
    if codes or instruments is not None:
        instrument_errors = plan_instruments_errors(clinic=episode.clinic, codes=codes)
        if instrument_errors:
            errors["instruments"] = instrument_errors
    if due_at < now - ONE_OFF_PAST_TOLERANCE:
        errors["due_at"] = ["This time has passed: leave it out to send the check-in now."]
    elif due_at > now + ONE_OFF_MAX_AHEAD:
        errors["due_at"] = ["A check-in can be scheduled at most a year ahead."]
    if errors:
        raise CheckInInvalid(errors)
    try:
        with transaction.atomic():
            checkin = CheckIn.objects.create(
                episode=episode,
                kind=CheckInKind.ONE_OFF,
                due_at=due_at,
                expires_at=scheduling.days_after(due_at, episode.clinic.expire_after_days),
                instruments=codes,
            )
            audit_record(
                actor=actor,
                action="checkin.create",
                obj=checkin,
                clinic=episode.clinic,
                client=client,
                request=request,
                details={"kind": CheckInKind.ONE_OFF, "instruments": codes},
            )
            if due_at <= now:
                checkin_issue_link(checkin_id=checkin.pk, now=now)
    except IntegrityError as error:
        raise CheckInInvalid(
            {"due_at": ["A one-off check-in for this episode is already due at this time."]}
        ) from error
    checkin.refresh_from_db()
    return checkin


# --- The sweep: create, send, remind, expire ----------------------------------------------------


@dataclass(frozen=True)
class _Due:
    episode_id: int
    kind: str
    due_at: datetime
    expires_at: datetime
    instruments: tuple[str, ...]
    session_id: int | None = None


def _sendable(clinic: Clinic, codes, cache: dict) -> tuple[str, ...]:
    """The codes that can still be shown to the client (a text pack may have been withdrawn)."""
    sendable = []
    for code in codes:
        key = (clinic.pk, code)
        if key not in cache:
            try:
                cache[key] = instrument_for(clinic, code).can_be_sent
            except KeyError:
                cache[key] = False
        if cache[key]:
            sendable.append(code)
    return tuple(sendable)


def _running_plans():
    return (
        MeasurementPlan.objects.filter(
            paused_at__isnull=True,
            ended_at__isnull=True,
            episode__ended_on__isnull=True,
            episode__client__opted_out_at__isnull=True,
        )
        .exclude(episode__client__email="")
        .select_related("episode__client", "episode__clinic")
    )


def _weekly_and_before_session_dues(*, now: datetime) -> list[_Due]:
    dues = []
    sendable_cache: dict = {}
    plans = list(_running_plans().filter(instruments__isnull=False))
    by_episode = {plan.episode_id: plan for plan in plans}
    for plan in plans:
        episode = plan.episode
        codes = _sendable(episode.clinic, plan.instruments, sendable_cache)
        if not codes or plan.schedule != Schedule.WEEKLY:
            continue
        due = scheduling.weekly_due_at_or_before(
            moment=now,
            weekday=plan.weekday,
            local_time=plan.local_time,
            zone_name=episode.client.timezone,
        )
        expires = scheduling.days_after(due, episode.clinic.expire_after_days)
        # Nothing before the plan existed, and no slot so old it would already have expired
        # (after downtime or a pause the client gets the current week, not a backlog).
        if due >= plan.created_at and expires > now:
            dues.append(_Due(episode.pk, CheckInKind.SCHEDULED, due, expires, codes))

    before_session = [p.episode_id for p in plans if p.schedule == Schedule.BEFORE_SESSION]
    upcoming = TreatmentSession.objects.filter(
        episode_id__in=before_session,
        attended__isnull=True,
        cancelled=False,
        starts_at__gt=now,
        starts_at__lte=now + BEFORE_SESSION_LEAD,
    )
    for session in upcoming:
        plan = by_episode[session.episode_id]
        codes = _sendable(plan.episode.clinic, plan.instruments, sendable_cache)
        if codes:
            due = session.starts_at - BEFORE_SESSION_LEAD
            dues.append(
                _Due(
                    session.episode_id,
                    CheckInKind.SCHEDULED,
                    due,
                    session.starts_at,
                    codes,
                    session.pk,
                )
            )

    rating = {p.episode_id: p for p in plans if p.session_rating_after_sessions}
    longest_expiry = max((p.episode.clinic.expire_after_days for p in rating.values()), default=0)
    attended = TreatmentSession.objects.filter(
        episode_id__in=list(rating),
        attended=True,
        starts_at__lte=now,
        starts_at__gt=now - timedelta(days=longest_expiry),
    )
    for session in attended:
        plan = rating[session.episode_id]
        if session.starts_at < plan.created_at:
            continue
        codes = _sendable(plan.episode.clinic, [SESSION_RATING], sendable_cache)
        expires = scheduling.days_after(session.starts_at, plan.episode.clinic.expire_after_days)
        if codes and expires > now:
            dues.append(
                _Due(
                    session.episode_id,
                    CheckInKind.SESSION_RATING,
                    session.starts_at,
                    expires,
                    codes,
                    session.pk,
                )
            )
    return dues


def checkin_create_due(*, now: datetime | None = None) -> list[int]:
    """Create every check-in that is due and does not exist yet; returns the new ids.

    Idempotent and safe to run concurrently: the unique (episode, kind, due_at) constraint
    decides, and the loser of a race simply skips.
    """
    now = now or timezone.now()
    dues = _weekly_and_before_session_dues(now=now)
    if not dues:
        return []
    oldest = min(due.due_at for due in dues)
    existing = set(
        CheckIn.objects.filter(
            episode_id__in={due.episode_id for due in dues}, due_at__gte=oldest
        ).values_list("episode_id", "kind", "due_at")
    )
    created = []
    for due in dues:
        if (due.episode_id, due.kind, due.due_at) in existing:
            continue
        try:
            with transaction.atomic():
                checkin = CheckIn.objects.create(
                    episode_id=due.episode_id,
                    kind=due.kind,
                    due_at=due.due_at,
                    expires_at=due.expires_at,
                    instruments=list(due.instruments),
                    treatment_session_id=due.session_id,
                )
        except IntegrityError:
            continue
        created.append(checkin.pk)
    return created


def checkin_unsent_ids(*, now: datetime | None = None, limit: int = 1000) -> list[int]:
    now = now or timezone.now()
    return list(
        # due_at: a one-off check-in may be created ahead of its time (the others are created
        # when due) and waits for it here.
        CheckIn.objects.filter(
            status=CheckInStatus.PENDING,
            sent_at__isnull=True,
            due_at__lte=now,
            expires_at__gt=now,
        )
        .order_by("due_at")
        .values_list("pk", flat=True)[:limit]
    )


def _mail_render(*, checkin: CheckIn, key: str, reminder: bool) -> tuple[str, str, str]:
    """Subject, text and HTML. The clinic's name and the links only: no client name or label, no
    instrument, no score (whoever reads the client's mailbox learns nothing about their health)."""
    client = checkin.episode.client
    clinic = checkin.episode.clinic
    context = {
        "clinic_name": clinic.name,
        "link": checkin_url(key),
        "opt_out_link": opt_out_url(client),
        "expires_local": scheduling.local_moment_in_words(
            moment=checkin.expires_at, zone_name=client.timezone
        ),
        "reminder": reminder,
    }
    subject = (
        f"Reminder: your check-in from {clinic.name}"
        if reminder
        else f"Your check-in from {clinic.name}"
    )
    text = render_to_string("clients/email/checkin.txt", context)
    html = render_to_string("clients/email/checkin.html", context)
    return subject, text, html


def checkin_mail_headers(client: Client) -> dict[str, str]:
    """List-Unsubscribe (RFC 2369) with one-click (RFC 8058): the mail client's own "unsubscribe"
    button POSTs to the opt-out link, which opts out without a confirmation page. Large mailbox
    providers expect both headers of bulk senders. The opt-out token names no one."""
    return {
        "List-Unsubscribe": f"<{opt_out_url(client)}>",
        "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
    }


def checkin_issue_link(*, checkin_id: int, now: datetime | None = None) -> bool:
    """Give the check-in its key and queue the e-mail, once. Returns True when it sent a link.

    The key's hash and the outbox row commit together: either the client gets a working link or
    nothing happened and the next sweep tries again.
    """
    now = now or timezone.now()
    with transaction.atomic():
        checkin = (
            CheckIn.objects.select_for_update(of=("self",))
            .select_related("episode__client", "episode__clinic")
            .filter(pk=checkin_id, status=CheckInStatus.PENDING, sent_at__isnull=True)
            .first()
        )
        if checkin is None or checkin_link_state(checkin, now=now) != LinkState.OPEN:
            return False
        client = checkin.episode.client
        if not client.email:
            return False
        key, digest = _key_new()
        claimed = CheckIn.objects.filter(pk=checkin.pk, sent_at__isnull=True).update(
            key_hash=digest, sent_at=now
        )
        if claimed != 1:
            return False
        subject, text, html = _mail_render(checkin=checkin, key=key, reminder=False)
        mail_queue(
            to=client.email,
            subject=subject,
            body_text=text,
            body_html=html,
            purpose="checkin",
            headers=checkin_mail_headers(client),
        )
    return True


def checkin_remind(*, checkin_id: int, now: datetime | None = None) -> bool:
    """Send the one reminder, with a fresh key (the first key is not stored, so it cannot be
    sent again); the first link keeps working."""
    now = now or timezone.now()
    with transaction.atomic():
        checkin = (
            CheckIn.objects.select_for_update(of=("self",))
            .select_related("episode__client", "episode__clinic")
            .filter(
                pk=checkin_id,
                status=CheckInStatus.PENDING,
                sent_at__isnull=False,
                reminded_at__isnull=True,
            )
            .first()
        )
        if checkin is None or checkin_link_state(checkin, now=now) != LinkState.OPEN:
            return False
        key, digest = _key_new()
        claimed = CheckIn.objects.filter(pk=checkin.pk, reminded_at__isnull=True).update(
            reminder_key_hash=digest, reminded_at=now
        )
        if claimed != 1:
            return False
        subject, text, html = _mail_render(checkin=checkin, key=key, reminder=True)
        mail_queue(
            to=checkin.episode.client.email,
            subject=subject,
            body_text=text,
            body_html=html,
            purpose="reminder",
            headers=checkin_mail_headers(checkin.episode.client),
        )
    return True


def checkin_send_reminders(*, now: datetime | None = None) -> int:
    """Remind once, ``clinic.reminder_after_days`` after sending, while the link is still open.
    A clinic setting of 0 turns reminders off."""
    now = now or timezone.now()
    sent = 0
    for clinic in Clinic.objects.filter(reminder_after_days__gt=0):
        due_ids = CheckIn.objects.filter(
            episode__clinic=clinic,
            status=CheckInStatus.PENDING,
            reminded_at__isnull=True,
            sent_at__lte=now - timedelta(days=clinic.reminder_after_days),
            expires_at__gt=now,
        ).values_list("pk", flat=True)
        for checkin_id in list(due_ids):
            sent += checkin_remind(checkin_id=checkin_id, now=now)
    return sent


def checkin_expire_overdue(*, now: datetime | None = None) -> int:
    """Mark open check-ins past their expiry as expired (= missed), and have the episode's alert
    rules look again (missed check-ins can raise a disengagement alert)."""
    now = now or timezone.now()
    overdue = list(
        CheckIn.objects.filter(status=CheckInStatus.PENDING, expires_at__lte=now).values_list(
            "pk", "episode_id"
        )
    )
    if not overdue:
        return 0
    with transaction.atomic():
        expired = CheckIn.objects.filter(
            pk__in=[pk for pk, _ in overdue], status=CheckInStatus.PENDING
        ).update(status=CheckInStatus.EXPIRED)
        episode_ids = sorted({episode_id for _, episode_id in overdue})
        # A missed check-in is a new input for the rules: the incremental sweep must not skip
        # these episodes if the task below is lost (same transaction, so never half-done).
        Episode.objects.filter(pk__in=episode_ids).update(rules_evaluated_at=None)
        for episode_id in episode_ids:
            enqueue_task_on_commit("outcomes.tasks.evaluate_episode", episode_id)
    return expired


KEY_IN_MAIL = re.compile(r"/c/[A-Za-z0-9_-]{32,64}/")
LINK_REMOVED = "/c/link-removed-after-sending/"
CHECKIN_MAIL_PURPOSES = ("checkin", "reminder")


def checkin_mails_redact() -> int:
    """Take the key out of check-in mails the outbox has finished with (sent, or given up).

    The outbox must hold the key until the mail is out; after that, the stored copy is the only
    place besides the client's mailbox where it exists, and the database should keep the hash
    only. (A mail that failed for good is healed by the reminder, which carries a fresh key.)
    """
    finished = OutboundEmail.objects.filter(
        purpose__in=CHECKIN_MAIL_PURPOSES,
        status__in=[OutboundEmail.Status.SENT, OutboundEmail.Status.FAILED],
        body_text__regex=KEY_IN_MAIL.pattern,
    )
    redacted = 0
    for mail in finished.only("pk", "body_text", "body_html"):
        redacted += OutboundEmail.objects.filter(
            pk=mail.pk, status__in=[OutboundEmail.Status.SENT, OutboundEmail.Status.FAILED]
        ).update(
            body_text=KEY_IN_MAIL.sub(LINK_REMOVED, mail.body_text),
            body_html=KEY_IN_MAIL.sub(LINK_REMOVED, mail.body_html),
        )
    return redacted


def checkins_sweep(*, now: datetime | None = None) -> dict[str, int]:
    """One pass of everything time-driven; what the five-minute beat task runs."""
    now = now or timezone.now()
    expired = checkin_expire_overdue(now=now)
    created = checkin_create_due(now=now)
    sent = sum(checkin_issue_link(checkin_id=pk, now=now) for pk in checkin_unsent_ids(now=now))
    reminded = checkin_send_reminders(now=now)
    redacted = checkin_mails_redact()
    return {
        "expired": expired,
        "created": len(created),
        "sent": sent,
        "reminded": reminded,
        "redacted": redacted,
    }


# --- Opt-out (the opt-out itself raises an alert: checkins.services) ---------------------------


def client_opt_in(*, client: Client, actor) -> None:
    """Staff undo an opt-out at the client's request; the sweep resumes from the next slot."""
    with transaction.atomic():
        Client.objects.filter(pk=client.pk).update(opted_out_at=None)
        audit_record(
            actor=actor, action="client.opt_in", obj=client, clinic=client.clinic, client=client
        )
    client.opted_out_at = None
