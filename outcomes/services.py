"""Writes for administrations and alerts.

``administration_record`` is the one door every answer comes through: the client's e-mailed form,
in-session entry, paper, the API. It validates and scores (pure ``outcomes.scoring``), stores the
administration, raises the risk alert in the same transaction (a risk answer must never wait for a
batch or depend on the broker) and queues the episode's rule evaluation after commit.
"""

from dataclasses import dataclass

from django.db import IntegrityError, transaction
from django.utils import timezone

from audit.services import audit_record
from config.queue import enqueue_on_commit
from outcomes.models import (
    Administration,
    Alert,
    AlertRule,
    AlertSeverity,
    ResponseSource,
    RiskState,
)
from outcomes.scoring import score_answers
from outcomes.selectors import instrument_for


class AnswersInvalid(ValueError):
    """The answers cannot be scored; ``errors`` say which item and why. Nothing was stored."""

    def __init__(self, errors: list[str]):
        super().__init__("; ".join(errors))
        self.errors = errors


@dataclass(frozen=True)
class RecordedAdministration:
    administration: Administration
    risk_alert: Alert | None


def administration_record(
    *,
    episode,
    instrument_code: str,
    answers: list,
    source: str = ResponseSource.LINK,
    checkin=None,
    entered_by=None,
    administered_at=None,
) -> RecordedAdministration:
    try:
        instrument = instrument_for(episode.clinic, instrument_code)
    except KeyError as error:
        raise AnswersInvalid([f"Unknown instrument '{instrument_code}'."]) from error
    result = score_answers(instrument, list(answers))
    if not result.valid:
        raise AnswersInvalid(list(result.errors))

    with transaction.atomic():
        administration = Administration.objects.create(
            episode=episode,
            checkin=checkin,
            instrument=instrument.code,
            instrument_version=str(instrument.version),
            administered_at=administered_at or timezone.now(),
            answers=list(answers),
            total=result.total,
            band=result.band or "",
            caseness=result.caseness,
            risk=result.risk,
            valid=result.valid,
            source=source,
            entered_by=entered_by,
        )
        risk_alert = None
        if result.risk == RiskState.YES:
            risk_alert, _ = alert_raise(
                episode=episode,
                rule=AlertRule.RISK_ITEM,
                trigger=f"adm:{administration.pk}",
                severity=AlertSeverity.URGENT,
                instrument=instrument.code,
                administration=administration,
                message=f"Risk item endorsed on {instrument.name}: contact the client today.",
            )
        if entered_by is not None:
            audit_record(
                actor=entered_by,
                action="administration.create",
                obj=administration,
                clinic=episode.clinic,
                client=episode.client,
                details={"source": source, "instrument": instrument.code},
            )

    from outcomes.tasks import evaluate_episode

    enqueue_on_commit(evaluate_episode, episode.pk)
    return RecordedAdministration(administration=administration, risk_alert=risk_alert)


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
    """
    existing = Alert.objects.filter(episode=episode, rule=rule, trigger=trigger).first()
    if existing is not None:
        return existing, False
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
                message=message[:300],
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
    from outcomes.notifications import alert_notify

    alert_notify(alert=alert)
    return alert, True
