"""Writes for clients and episodes: create, update, close, and create many at once.

Every page, API call and import goes through these, so the rules live in one place: a client is
created together with its first episode (staff only ever see a client through an episode, so a
client without one would be invisible to everyone), the therapist must be someone the acting user
may assign, and closing an episode ends its measurement plan.
"""

from __future__ import annotations

import contextlib
import zoneinfo
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from audit.services import audit_record
from clients.models import (
    Client,
    Clinic,
    EndReason,
    Episode,
    Membership,
    Role,
    SessionAttendance,
    TreatmentSession,
)
from clients.selectors import clinic_operating_point, operating_point_settings, role_in
from lib.queue import enqueue_task_on_commit
from measures.rules import OPERATING_POINTS

LABEL_MAX_LENGTH = Client._meta.get_field("label").max_length
NAME_MAX_LENGTH = Client._meta.get_field("name").max_length
LANGUAGE_MAX_LENGTH = Client._meta.get_field("language").max_length


class ClientDataInvalid(ValueError):
    """The input cannot be saved; ``errors`` maps a field to its messages. Nothing was saved."""

    def __init__(self, errors: dict[str, list[str]]):
        super().__init__("; ".join(f"{name}: {' '.join(msgs)}" for name, msgs in errors.items()))
        self.errors = errors


class BulkClientsInvalid(ValueError):
    """At least one row of a bulk creation is invalid; ``row_errors`` maps the row's index
    (0-based, in the order given) to its field errors. Nothing was saved."""

    def __init__(self, row_errors: dict[int, dict[str, list[str]]]):
        super().__init__(f"{len(row_errors)} invalid row(s)")
        self.row_errors = row_errors


@dataclass
class NewClient:
    """One client to create, with the therapist and start date of their first episode."""

    label: str
    therapist: object
    email: str = ""
    name: str = ""
    timezone: str = "Europe/London"
    language: str = "en"
    started_on: date | None = None
    extra_errors: dict[str, list[str]] = field(default_factory=dict)


# --- Who may be assigned -------------------------------------------------------------------------


def therapists_assignable(*, user, clinic: Clinic) -> QuerySet:
    """The staff of ``clinic`` that ``user`` may make a client's therapist.

    The same reach as ``clients.selectors.episode_scope_q``, so whoever creates or moves an
    episode can still see it afterwards: a therapist assigns only themselves, a supervisor also
    the therapists of the teams they supervise, a clinic admin anyone in the clinic.
    """
    users = get_user_model().objects.filter(memberships__clinic=clinic, is_active=True)
    role = role_in(user, clinic)
    if role == Role.ADMIN:
        return users.distinct()
    if role == Role.SUPERVISOR:
        team_ids = Membership.objects.filter(user=user, clinic=clinic).values("teams")
        return users.filter(Q(memberships__teams__in=team_ids) | Q(pk=user.pk)).distinct()
    if role == Role.THERAPIST:
        return users.filter(pk=user.pk)
    return users.none()


def _therapist_errors(*, actor, clinic: Clinic, therapist, assignable_ids=None) -> list[str]:
    if therapist is None:
        return ["Choose the therapist."]
    if assignable_ids is None:
        assignable = therapists_assignable(user=actor, clinic=clinic).filter(pk=therapist.pk)
        is_assignable = assignable.exists()
    else:
        is_assignable = therapist.pk in assignable_ids
    if not is_assignable:
        return ["This therapist is not one you can assign in this clinic."]
    return []


def staff_member_named(*, clinic: Clinic, username: str):
    """The staff member of ``clinic`` with this username, or None (never someone elsewhere)."""
    return get_user_model().objects.filter(memberships__clinic=clinic, username=username).first()


# --- Validation ---------------------------------------------------------------------------------


def _client_field_errors(
    *,
    clinic: Clinic,
    label: str | None = None,
    email: str | None = None,
    name: str | None = None,
    timezone_name: str | None = None,
    language: str | None = None,
    client: Client | None = None,
    existing_labels: set[str] | None = None,
) -> dict[str, list[str]]:
    """Field errors for the values given (None: not being set)."""
    errors: dict[str, list[str]] = {}
    if label is not None:
        if not label.strip():
            errors["label"] = ["A label is required."]
        elif len(label) > LABEL_MAX_LENGTH:
            errors["label"] = [f"At most {LABEL_MAX_LENGTH} characters."]
        elif existing_labels is not None:
            if label in existing_labels:
                errors["label"] = ["Another client of this clinic has this label."]
        else:
            taken = Client.objects.filter(clinic=clinic, label=label)
            if client is not None:
                taken = taken.exclude(pk=client.pk)
            if taken.exists():
                errors["label"] = ["Another client of this clinic has this label."]
    if email:
        try:
            validate_email(email)
        except ValidationError:
            errors["email"] = ["Enter a valid e-mail address."]
    if name is not None and len(name) > NAME_MAX_LENGTH:
        errors["name"] = [f"At most {NAME_MAX_LENGTH} characters."]
    if timezone_name is not None:
        try:
            zoneinfo.ZoneInfo(timezone_name)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            errors["timezone"] = ["Unknown time zone (use an IANA name such as Europe/London)."]
    if language is not None and not (0 < len(language) <= LANGUAGE_MAX_LENGTH):
        errors["language"] = [f"A language code of at most {LANGUAGE_MAX_LENGTH} characters."]
    return errors


def _started_on_errors(started_on: date | None) -> list[str]:
    if started_on is not None and started_on > timezone.localdate():
        return ["An episode cannot start in the future."]
    return []


def new_client_errors(
    *,
    actor,
    clinic: Clinic,
    new_client: NewClient,
    labels_seen: set[str] | None = None,
    existing_labels: set[str] | None = None,
    assignable_ids: set[int] | None = None,
) -> dict[str, list[str]]:
    """Every reason ``new_client`` cannot be created (empty when it can). A bulk caller passes
    the clinic's labels and the assignable therapists, read once, instead of a query per row."""
    errors = dict(new_client.extra_errors)
    for name, messages in _client_field_errors(
        clinic=clinic,
        label=new_client.label,
        email=new_client.email,
        name=new_client.name,
        timezone_name=new_client.timezone,
        language=new_client.language,
        existing_labels=existing_labels,
    ).items():
        errors.setdefault(name, []).extend(messages)
    if labels_seen is not None and new_client.label in labels_seen and "label" not in errors:
        errors["label"] = ["This label appears twice in the import."]
    for name, messages in (
        (
            "therapist",
            _therapist_errors(actor=actor, clinic=clinic, therapist=new_client.therapist),
        ),
        ("started_on", _started_on_errors(new_client.started_on)),
    ):
        if messages:
            errors.setdefault(name, []).extend(messages)
    return errors


# --- Clients ------------------------------------------------------------------------------------


def _client_insert(*, actor, clinic: Clinic, new_client: NewClient, request=None) -> Client:
    client = Client.objects.create(
        clinic=clinic,
        label=new_client.label,
        email=new_client.email,
        name=new_client.name,
        timezone=new_client.timezone,
        language=new_client.language,
    )
    audit_record(
        actor=actor,
        action="client.create",
        obj=client,
        clinic=clinic,
        client=client,
        request=request,
    )
    _episode_insert(
        actor=actor,
        client=client,
        therapist=new_client.therapist,
        started_on=new_client.started_on,
        request=request,
    )
    return client


def client_create(*, actor, clinic: Clinic, new_client: NewClient, request=None) -> Client:
    """Create a client and their first episode (with the clinic's default measurement plan).

    Raises ClientDataInvalid with field errors; nothing is saved then.
    """
    errors = new_client_errors(actor=actor, clinic=clinic, new_client=new_client)
    if errors:
        raise ClientDataInvalid(errors)
    try:
        with transaction.atomic():
            return _client_insert(
                actor=actor, clinic=clinic, new_client=new_client, request=request
            )
    except IntegrityError as error:
        # The label was taken by a concurrent request between our check and our insert.
        raise ClientDataInvalid(
            {"label": ["Another client of this clinic has this label."]}
        ) from error


def clients_bulk_create(
    *,
    actor,
    clinic: Clinic,
    new_clients: list[NewClient],
    dry_run: bool = False,
    request=None,
    progress: Callable[[Iterable, str], Iterable] | None = None,
) -> list[Client]:
    """Create many clients, all or none.

    Every row is validated first (including labels repeated within the batch); if any row is
    invalid BulkClientsInvalid reports every row's errors and nothing is written. Then all rows are
    written in one transaction. ``dry_run`` validates only and returns an empty list.
    ``progress(rows, what)`` may wrap each pass (the command line's progress bar).
    """
    progress = progress or (lambda rows, what: rows)
    existing_labels = set(Client.objects.filter(clinic=clinic).values_list("label", flat=True))
    assignable_ids = set(
        therapists_assignable(user=actor, clinic=clinic).values_list("pk", flat=True)
    )
    row_errors: dict[int, dict[str, list[str]]] = {}
    labels_seen: set[str] = set()
    for index, new_client in enumerate(progress(new_clients, "Checking")):
        errors = new_client_errors(
            actor=actor,
            clinic=clinic,
            new_client=new_client,
            labels_seen=labels_seen,
            existing_labels=existing_labels,
            assignable_ids=assignable_ids,
        )
        labels_seen.add(new_client.label)
        if errors:
            row_errors[index] = errors
    if row_errors:
        raise BulkClientsInvalid(row_errors)
    if dry_run:
        return []
    try:
        with transaction.atomic():
            created = [
                _client_insert(actor=actor, clinic=clinic, new_client=new_client, request=request)
                for new_client in progress(new_clients, "Creating")
            ]
            audit_record(
                actor=actor,
                action="client.bulk_create",
                clinic=clinic,
                request=request,
                details={"count": len(created)},
            )
    except IntegrityError as error:
        # A label taken by a concurrent request between our check and our insert.
        raise ClientDataInvalid(
            {"non_field_errors": ["A label was taken meanwhile by another request; try again."]}
        ) from error
    return created


def client_update(*, actor, client: Client, request=None, **changes) -> Client:
    """Change a client's label, e-mail, name, time zone or language (the caller has scoped
    ``client`` to ``actor``). Raises ClientDataInvalid; the audit entry names the fields changed,
    never their values."""
    allowed = {"label", "email", "name", "timezone", "language"}
    unknown = set(changes) - allowed
    if unknown:
        raise ClientDataInvalid({name: ["This field cannot be changed."] for name in unknown})
    errors = _client_field_errors(
        clinic=client.clinic,
        label=changes.get("label"),
        email=changes.get("email"),
        name=changes.get("name"),
        timezone_name=changes.get("timezone"),
        language=changes.get("language"),
        client=client,
    )
    if errors:
        raise ClientDataInvalid(errors)
    changed = sorted(name for name, value in changes.items() if getattr(client, name) != value)
    if not changed:
        return client
    try:
        with transaction.atomic():
            Client.objects.filter(pk=client.pk).update(**{name: changes[name] for name in changed})
            audit_record(
                actor=actor,
                action="client.update",
                obj=client,
                clinic=client.clinic,
                client=client,
                request=request,
                details={"fields": changed},
            )
    except IntegrityError as error:
        # The label was taken by a concurrent request between our check and our update.
        raise ClientDataInvalid(
            {"label": ["Another client of this clinic has this label."]}
        ) from error
    for name in changed:
        setattr(client, name, changes[name])
    return client


# --- Episodes -----------------------------------------------------------------------------------


def _episode_insert(*, actor, client: Client, therapist, started_on, request=None) -> Episode:
    from clients.checkins import PlanInvalid, plan_create_default

    episode = Episode.objects.create(
        client=client,
        clinic=client.clinic,
        therapist=therapist,
        started_on=started_on or timezone.localdate(),
    )
    audit_record(
        actor=actor,
        action="episode.create",
        obj=episode,
        clinic=client.clinic,
        client=client,
        request=request,
    )
    # A clinic whose default forms cannot be sent (a licensed text pack withdrawn) still gets its
    # episode; staff choose other forms or enter them in session.
    with contextlib.suppress(PlanInvalid):
        plan_create_default(episode=episode, actor=actor)
    return episode


def episode_create(
    *, actor, client: Client, therapist, started_on: date | None = None, request=None
) -> Episode:
    """Open a new episode of care for an existing client (a returning client).

    A client has at most one active episode: the previous one must be closed first.
    """
    errors: dict[str, list[str]] = {}
    if Episode.objects.filter(client=client, ended_on__isnull=True).exists():
        errors["client"] = ["This client has an active episode: close it first."]
    therapist_errors = _therapist_errors(actor=actor, clinic=client.clinic, therapist=therapist)
    if therapist_errors:
        errors["therapist"] = therapist_errors
    if _started_on_errors(started_on):
        errors["started_on"] = _started_on_errors(started_on)
    if errors:
        raise ClientDataInvalid(errors)
    with transaction.atomic():
        return _episode_insert(
            actor=actor, client=client, therapist=therapist, started_on=started_on, request=request
        )


def episode_update(
    *, actor, episode: Episode, therapist=None, started_on: date | None = None, request=None
) -> Episode:
    """Move an episode to another therapist or correct its start date."""
    errors: dict[str, list[str]] = {}
    if therapist is not None:
        therapist_errors = _therapist_errors(
            actor=actor, clinic=episode.clinic, therapist=therapist
        )
        if therapist_errors:
            errors["therapist"] = therapist_errors
    if started_on is not None:
        started_errors = _started_on_errors(started_on)
        if episode.ended_on is not None and started_on > episode.ended_on:
            started_errors.append("The start cannot be after the end of the episode.")
        if started_errors:
            errors["started_on"] = started_errors
    if errors:
        raise ClientDataInvalid(errors)
    changed = []
    if therapist is not None and therapist.pk != episode.therapist_id:
        episode.therapist = therapist
        changed.append("therapist")
    if started_on is not None and started_on != episode.started_on:
        episode.started_on = started_on
        changed.append("started_on")
    if not changed:
        return episode
    with transaction.atomic():
        episode.save(update_fields=changed)
        audit_record(
            actor=actor,
            action="episode.update",
            obj=episode,
            clinic=episode.clinic,
            client=episode.client,
            request=request,
            details={"fields": changed},
        )
    return episode


def episode_close(
    *, episode: Episode, ended_on: date | None, end_reason: str, user, request=None
) -> Episode:
    """Close (discharge) an episode: set its end and reason, end its measurement plan and cancel
    its open check-ins, in one transaction. Raises ClientDataInvalid when it is already closed or
    the end is before the start or in the future."""
    from clients.checkins import plan_end_for_episode

    ended_on = ended_on or timezone.localdate()
    errors: dict[str, list[str]] = {}
    if episode.ended_on is not None:
        errors["episode"] = ["This episode is already closed."]
    if end_reason not in EndReason.values:
        errors["end_reason"] = [f"Choose one of: {', '.join(EndReason.values)}."]
    if ended_on < episode.started_on:
        errors["ended_on"] = ["The end cannot be before the start of the episode."]
    elif ended_on > timezone.localdate():
        errors["ended_on"] = ["An episode cannot end in the future."]
    if errors:
        raise ClientDataInvalid(errors)
    with transaction.atomic():
        # Conditional update: of two concurrent closes only one wins and audits.
        closed = Episode.objects.filter(pk=episode.pk, ended_on__isnull=True).update(
            ended_on=ended_on, end_reason=end_reason
        )
        if closed != 1:
            raise ClientDataInvalid({"episode": ["This episode is already closed."]})
        episode.ended_on, episode.end_reason = ended_on, end_reason
        plan_end_for_episode(episode=episode, actor=user)
        audit_record(
            actor=user,
            action="episode.close",
            obj=episode,
            clinic=episode.clinic,
            client=episode.client,
            request=request,
            details={"end_reason": end_reason},
        )
    return episode


# --- Sessions -----------------------------------------------------------------------------------

# A session recorded a few minutes "ahead" comes from a clock running slightly fast; further ahead
# it has not happened yet, and only a held (or cancelled) session is recorded here.
SESSION_FUTURE_TOLERANCE = timedelta(minutes=5)


def session_record(
    *, actor, episode: Episode, starts_at: datetime, attendance: str, request=None
) -> TreatmentSession:
    """Record a session that took place (or was missed or cancelled) in an active episode.

    An attended session is what the check-in sweep turns into the session rating when the plan
    asks for one (``clients.checkins``): the rule lives there, once, for sessions from any source.
    Raises ClientDataInvalid; the audit entry holds the attendance, never a note.
    """
    errors: dict[str, list[str]] = {}
    if not episode.is_active:
        errors["episode"] = ["This episode is closed."]
    if attendance not in SessionAttendance.values:
        errors["attendance"] = [f"Choose one of: {', '.join(SessionAttendance.labels)}."]
    if starts_at > timezone.now() + SESSION_FUTURE_TOLERANCE:
        errors["starts_at"] = ["Record a session once it has taken place."]
    elif timezone.localdate(starts_at) < episode.started_on:
        errors["starts_at"] = ["The session cannot be before the start of the episode."]
    if errors:
        raise ClientDataInvalid(errors)
    with transaction.atomic():
        session = TreatmentSession.objects.create(
            episode=episode,
            starts_at=starts_at,
            attended={
                SessionAttendance.ATTENDED: True,
                SessionAttendance.DID_NOT_ATTEND: False,
            }.get(attendance),
            cancelled=attendance == SessionAttendance.CANCELLED,
        )
        audit_record(
            actor=actor,
            action="session.record",
            obj=session,
            clinic=episode.clinic,
            client=episode.client,
            request=request,
            details={"attendance": attendance},
        )
    return session


# --- Alert settings ------------------------------------------------------------------------------


class OperatingPointUnknown(ValueError):
    """No operating point has this name (``measures.rules.OPERATING_POINTS``). Nothing changed."""


def clinic_operating_point_set(*, actor, clinic: Clinic, name: str, request=None) -> Clinic:
    """Apply the operating point ``name`` to the clinic's alert settings (the caller has checked
    that ``actor`` administers ``clinic``), with an audit entry of the settings before and after.

    Nothing else is needed to re-evaluate the alerts: the settings are part of the clinic's rules
    fingerprint, so every active episode no longer matches its stamp and the next sweep
    (``outcomes.tasks.sweep_active_episodes``, hourly) evaluates it with the new settings; the
    sweep is queued at once here so the caseload follows within minutes, not the hour."""
    point = OPERATING_POINTS.get(name)
    if point is None:
        raise OperatingPointUnknown(name)
    wanted = operating_point_settings(point)
    with transaction.atomic():
        clinic = Clinic.objects.select_for_update().get(pk=clinic.pk)
        before = {key: getattr(clinic, key) for key in wanted}
        previous = clinic_operating_point(clinic)
        for key, value in wanted.items():
            setattr(clinic, key, value)
        # The point's values against the Clinic's validators (and z yellow ≤ z red in clean());
        # the other fields are not this choice's to judge.
        others = [field.name for field in Clinic._meta.fields if field.name not in wanted]
        clinic.full_clean(exclude=others, validate_unique=False)
        clinic.save(update_fields=list(wanted))
        audit_record(
            actor=actor,
            action="clinic.operating_point",
            obj=clinic,
            clinic=clinic,
            request=request,
            # Settings, not health data: the log says what the alerts were judged by, and when.
            details={
                "operating_point": name,
                "previous": previous,
                "before": before,
                "after": wanted,
            },
        )
        if before != wanted:
            enqueue_task_on_commit("outcomes.tasks.sweep_active_episodes")
    return clinic
