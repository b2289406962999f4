"""Writes for administrations and alerts.

``administration_record`` is the one door every answer comes through: the client's e-mailed form,
in-session entry, paper, the API. It validates and scores (pure ``measures.scoring``), stores the
administration, raises the risk alert in the same transaction (a risk answer must never wait for a
batch or depend on the broker) and queues the episode's rule evaluation after commit.
"""

from dataclasses import dataclass
from datetime import timedelta
from zoneinfo import ZoneInfo

from django.core.exceptions import PermissionDenied
from django.db import IntegrityError, transaction
from django.db.models import DateTimeField, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from audit.services import audit_record, audit_records
from clients.models import Episode
from clients.selectors import episodes_visible_to
from lib.queue import enqueue_task_on_commit
from measures.instruments import Instrument
from measures.scoring import ScoreResult, score_answers
from outcomes.models import (
    Administration,
    Alert,
    AlertAction,
    AlertRule,
    AlertSeverity,
    AlertState,
    ResponseSource,
    RiskState,
)
from outcomes.selectors import instrument_for


class AnswersInvalid(ValueError):
    """The answers cannot be scored; ``errors`` say which item and why. Nothing was stored."""

    def __init__(self, errors: list[str]):
        super().__init__("; ".join(errors))
        self.errors = errors


class AdministeredAtInvalid(AnswersInvalid):
    """When the form was filled is impossible: in the future, or before the episode began."""


# A kiosk's or an EHR's clock may run a little ahead of ours; beyond this it is a mistake.
ADMINISTERED_AT_CLOCK_SKEW = timedelta(minutes=5)


def _administered_at_errors(*, episode, administered_at) -> list[str]:
    if administered_at > timezone.now() + ADMINISTERED_AT_CLOCK_SKEW:
        return ["The time the form was filled cannot be in the future."]
    # The day as the clinic counts it: started_on is a date in the clinic's calendar.
    day = timezone.localtime(administered_at, ZoneInfo(episode.clinic.timezone)).date()
    if day < episode.started_on:
        return [
            f"The form cannot have been filled before the episode began "
            f"({episode.started_on:%Y-%m-%d})."
        ]
    return []


@dataclass(frozen=True)
class RecordedAdministration:
    administration: Administration
    risk_alert: Alert | None


@dataclass(frozen=True)
class ScoredForm:
    """One form's answers, validated and scored against the clinic's instrument; not stored."""

    instrument: Instrument
    answers: list
    result: ScoreResult


def form_score(instrument: Instrument, answers: list) -> ScoredForm:
    """Validate and score one form (pure: no query). Raises AnswersInvalid."""
    result = score_answers(instrument, list(answers))
    if not result.valid:
        raise AnswersInvalid(list(result.errors))
    return ScoredForm(instrument=instrument, answers=list(answers), result=result)


def administration_record(
    *,
    episode,
    instrument_code: str,
    answers: list,
    source: str = ResponseSource.LINK,
    checkin=None,
    entered_by=None,
    administered_at=None,
    evaluate: bool = True,
) -> RecordedAdministration:
    """Store, score and audit one form; raise its risk alert at once; queue the episode's
    evaluation after commit. A check-in's forms go through ``administrations_store`` together
    (``checkins.services.checkin_submit``), with one evaluation after the last."""
    try:
        instrument = instrument_for(episode.clinic, instrument_code)
    except KeyError as error:
        raise AnswersInvalid([f"Unknown instrument '{instrument_code}'."]) from error
    form = form_score(instrument, answers)
    administered_at = administered_at or timezone.now()
    (recorded,) = administrations_store(
        episode=episode,
        forms=[form],
        source=source,
        checkin=checkin,
        entered_by=entered_by,
        administered_at=administered_at,
    )
    if evaluate:
        episode_evaluation_queue(episode_id=episode.pk)
    return recorded


def administrations_store(
    *,
    episode,
    forms: list[ScoredForm],
    source: str,
    administered_at,
    checkin=None,
    entered_by=None,
) -> list[RecordedAdministration]:
    """Store scored forms of one episode filled at one moment, audit each, and raise the urgent
    alert of each that endorses a risk item at once, in the caller's transaction (or one of its
    own): the forms in one INSERT and their ``administration.create`` audit events in another,
    whatever their number. Raises AdministeredAtInvalid (nothing stored) for an impossible time.
    The caller queues the evaluation."""
    when_errors = _administered_at_errors(episode=episode, administered_at=administered_at)
    if when_errors:
        raise AdministeredAtInvalid(when_errors)

    # No savepoint of its own: inside a caller's transaction (a check-in's forms) a failure here
    # fails the whole write anyway, and two queries per form were a sixth of a submission's.
    stored_at = timezone.now()
    with transaction.atomic(savepoint=False):
        # Mark the episode as having a form no evaluation has read, first: this UPDATE waits for
        # an evaluation that holds the episode's row lock, so the mark is set after that
        # evaluation cleared it and the form is never taken for evaluated. Unconditional on
        # purpose: a "WHERE rules_pending_since IS NULL" would see the running evaluation's
        # not-yet-cleared mark, skip without waiting, and the evaluation would then clear it.
        Episode.objects.filter(pk=episode.pk).update(
            rules_pending_since=Coalesce(
                "rules_pending_since", Value(stored_at, output_field=DateTimeField())
            )
        )
        administrations = Administration.objects.bulk_create(
            [
                Administration(
                    created_at=stored_at,
                    episode=episode,
                    checkin=checkin,
                    instrument=form.instrument.code,
                    instrument_version=str(form.instrument.version),
                    administered_at=administered_at,
                    answers=form.answers,
                    total=form.result.total,
                    band=form.result.band or "",
                    caseness=form.result.caseness,
                    risk=form.result.risk,
                    valid=form.result.valid,
                    source=source,
                    entered_by=entered_by,
                )
                for form in forms
            ]
        )
        # Every door, the client's own link included (actor None: "system", source "link").
        audit_records(
            actor=entered_by,
            action="administration.create",
            objects=[
                (administration, {"source": source, "instrument": administration.instrument})
                for administration in administrations
            ],
            clinic=episode.clinic,
            client=episode.client,
        )
        recorded = []
        for form, administration in zip(forms, administrations, strict=True):
            risk_alert = None
            if form.result.risk == RiskState.YES:
                risk_alert = _risk_alert_raise(
                    episode=episode,
                    checkin=checkin,
                    instrument=form.instrument,
                    administration=administration,
                )
            recorded.append(
                RecordedAdministration(administration=administration, risk_alert=risk_alert)
            )
    return recorded


def _risk_alert_raise(*, episode, checkin, instrument: Instrument, administration) -> Alert:
    message = f"Risk item endorsed on {instrument.name}: contact the client today."
    if checkin is not None:
        # The client endorsed this risk item on an earlier attempt they had not finished: that
        # urgent alert becomes this form's alert (one alert, not two), and its text no longer
        # says the form is unfinished.
        Alert.objects.filter(
            episode=episode,
            rule=AlertRule.RISK_ITEM,
            trigger=unfinished_form_trigger(checkin_id=checkin.pk, code=instrument.code),
        ).update(
            trigger=f"adm:{administration.pk}",
            administration=administration,
            message=message,
        )
    alert, _ = alert_raise(
        episode=episode,
        rule=AlertRule.RISK_ITEM,
        trigger=f"adm:{administration.pk}",
        severity=AlertSeverity.URGENT,
        instrument=instrument.code,
        administration=administration,
        message=message,
    )
    return alert


def episode_evaluation_queue(*, episode_id: int) -> None:
    """Run the alert rules over the episode once the current transaction commits."""
    enqueue_task_on_commit("outcomes.tasks.evaluate_episode", episode_id)


def unfinished_form_trigger(*, checkin_id: int, code: str) -> str:
    return f"checkin:{checkin_id}:{code}:unfinished"


def unfinished_risk_alerts_settle(*, checkin, instruments: dict | None = None) -> None:
    """After a check-in's forms are stored: an urgent alert raised on an unfinished attempt that no
    finished form took over (the finished form does not endorse the risk item) stands, since the
    earlier answer was given, and says what happened. One read per check-in, nearly always empty
    (rather than an UPDATE per form on every submission)."""
    left = Alert.objects.filter(
        episode_id=checkin.episode_id,
        rule=AlertRule.RISK_ITEM,
        trigger__startswith=f"checkin:{checkin.pk}:",
        trigger__endswith=":unfinished",
    ).only("pk", "instrument")
    for alert in left:
        instrument = (instruments or {}).get(alert.instrument)
        if instrument is None:
            instrument = instrument_for(checkin.episode.clinic, alert.instrument)
        name = instrument.name
        Alert.objects.filter(pk=alert.pk).update(
            message=(
                f"Risk item endorsed on {name} in an earlier, unfinished attempt at this "
                "check-in; the finished form does not endorse it: contact the client today."
            )
        )


def unfinished_form_risk_raise(*, episode, checkin, instrument_code: str, answers: list):
    """Raise the urgent alert for a risk answer on a form the client has not finished.

    The client's form needs every item, so a form with a gap is not stored: the client is asked
    to finish it. A risk answer on it must not wait for that (they may never come back): PHQ-9
    item 9 above 0 is a risk signal regardless of the total (Kroenke, Spitzer & Williams 2001;
    CLINICAL.md §1). One alert per check-in and instrument however often they retry; if they
    finish, the stored form takes this alert over (``administration_record``). Returns the alert,
    or None when no risk item is endorsed.
    """
    try:
        instrument = instrument_for(episode.clinic, instrument_code)
    except KeyError:
        return None
    if score_answers(instrument, list(answers)).risk != RiskState.YES:
        return None
    alert, _ = alert_raise(
        episode=episode,
        rule=AlertRule.RISK_ITEM,
        trigger=unfinished_form_trigger(checkin_id=checkin.pk, code=instrument.code),
        severity=AlertSeverity.URGENT,
        instrument=instrument.code,
        message=(
            f"Risk item endorsed on {instrument.name} in a check-in the client has not "
            "finished: contact the client today."
        ),
    )
    return alert


def alert_raise(
    *,
    episode,
    rule: str,
    trigger: str,
    severity: str,
    message: str,
    instrument: str = "",
    administration=None,
) -> tuple[Alert, bool]:
    """Create the alert unless this (episode, rule, trigger) already raised one.

    Safe under concurrency: the unique constraint decides, and the loser reads the winner's row.
    The alert, its audit event and its notification rows commit together: an alert that exists
    has a pending e-mail the retry task will send, never a notice that was silently not recorded.
    """
    from outcomes.notifications import alert_notify

    existing = Alert.objects.filter(episode=episode, rule=rule, trigger=trigger).first()
    if existing is not None:
        return existing, False
    with transaction.atomic():
        try:
            with transaction.atomic():
                alert = Alert.objects.create(
                    episode=episode,
                    clinic_id=episode.clinic_id,
                    rule=rule,
                    trigger=trigger,
                    severity=severity,
                    instrument=instrument,
                    administration=administration,
                    message=message,
                )
        except IntegrityError:
            return Alert.objects.get(episode=episode, rule=rule, trigger=trigger), False
        audit_record(
            actor=None,
            action="alert.create",
            obj=alert,
            clinic=episode.clinic,
            client=episode.client,
            details={"rule": rule, "severity": severity},
        )
        alert_notify(alert=alert)
    return alert, True


# --- Alert lifecycle: open → acknowledged (who, when) → resolved (who, when, action, note) ------


class AlertTransitionInvalid(ValueError):
    """The alert cannot make this transition (already acknowledged or resolved, unknown action)."""


def alert_acknowledge(*, alert: Alert, user, request=None) -> Alert:
    """Record that ``user`` has seen the alert and is dealing with it; stops its escalation.

    Claimed with a conditional UPDATE on the state, so two clicks (or two colleagues) cannot both
    acknowledge it; the loser gets a clear error naming the current state.
    """
    _alert_check_scope(alert=alert, user=user)
    now = timezone.now()
    with transaction.atomic():
        claimed = Alert.objects.filter(pk=alert.pk, state=AlertState.OPEN).update(
            state=AlertState.ACKNOWLEDGED, acknowledged_at=now, acknowledged_by=user
        )
        if claimed != 1:
            raise AlertTransitionInvalid(
                f"Only an open alert can be acknowledged; this one is {_state_of(alert)}."
            )
        _alert_audit(alert=alert, user=user, action="alert.acknowledge", request=request)
    alert.refresh_from_db()
    return alert


def alert_resolve(*, alert: Alert, user, action: str, note: str = "", request=None) -> Alert:
    """Close the alert with the action taken (``AlertAction``) and a free-text note.

    An open alert may be resolved directly (the therapist phoned the client first and records it
    afterwards): that counts as acknowledging it too, recorded and audited as such. The note stays
    with the alert and out of the audit log, since it may describe the client's health.
    """
    if action not in AlertAction.values:
        raise AlertTransitionInvalid(
            "Choose the action taken: "
            + ", ".join(str(label) for label in AlertAction.labels)
            + "."
        )
    _alert_check_scope(alert=alert, user=user)
    now = timezone.now()
    with transaction.atomic():
        acknowledged_now = Alert.objects.filter(pk=alert.pk, state=AlertState.OPEN).update(
            state=AlertState.ACKNOWLEDGED, acknowledged_at=now, acknowledged_by=user
        )
        if acknowledged_now:
            _alert_audit(alert=alert, user=user, action="alert.acknowledge", request=request)
        claimed = Alert.objects.filter(pk=alert.pk, state=AlertState.ACKNOWLEDGED).update(
            state=AlertState.RESOLVED,
            resolved_at=now,
            resolved_by=user,
            action=action,
            resolution_note=note.strip(),
        )
        if claimed != 1:
            raise AlertTransitionInvalid(f"This alert is {_state_of(alert)} already.")
        _alert_audit(
            alert=alert,
            user=user,
            action="alert.resolve",
            request=request,
            extra={"action": action},
        )
        # Its mails still retrying SMTP have nothing left to say: stop them.
        from outcomes.notifications import alert_mails_give_up

        alert_mails_give_up(alert_ids=[alert.pk])
    alert.refresh_from_db()
    return alert


def _alert_check_scope(*, alert: Alert, user) -> None:
    # Views fetch alerts through scoped selectors already; this is the service's own guard, so no
    # other caller (API, shell, a future view) can act on an alert outside the user's scope.
    if not episodes_visible_to(user).filter(pk=alert.episode_id).exists():
        raise PermissionDenied("This alert is outside your caseload.")


def _state_of(alert: Alert) -> str:
    state = Alert.objects.filter(pk=alert.pk).values_list("state", flat=True).first()
    return str(AlertState(state).label).lower() if state else "gone"


def _alert_audit(*, alert: Alert, user, action: str, request=None, extra=None) -> None:
    episode = alert.episode
    audit_record(
        actor=user,
        action=action,
        obj=alert,
        clinic=episode.clinic,
        client=episode.client,
        request=request,
        details={"rule": alert.rule, "severity": alert.severity, **(extra or {})},
    )
