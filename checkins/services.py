"""Check-in writes that record scores or raise alerts: the client's submission, what an
unfinished form asks for, the opt-out and staff entry of in-session or paper forms.

They sit here, above clients and outcomes, because they write to both. The link itself, plans,
the sweep and the opt-in stay in ``clients.checkins``.
"""

from __future__ import annotations

from datetime import datetime

from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from audit.services import audit_record
from clients.checkins import LinkState, SubmitOutcome, checkin_link_state, pending_checkins_cancel
from clients.models import CheckIn, CheckInStatus, Client, Episode, EventKind, TimelineEvent
from measures.instruments import Instrument
from outcomes.models import Alert, AlertRule, AlertSeverity, ResponseSource, RiskState
from outcomes.selectors import instruments_for
from outcomes.services import (
    AnswersInvalid,
    administration_record,
    administrations_store,
    alert_raise,
    episode_evaluation_queue,
    form_score,
    unfinished_form_risk_raise,
    unfinished_risk_alerts_settle,
)

# --- The client's submission --------------------------------------------------------------------


def checkin_submit(
    *,
    checkin_id: int,
    answers: dict[str, list],
    contact_request: bool = False,
    now: datetime | None = None,
    checkin: CheckIn | None = None,
    instruments: dict[str, Instrument] | None = None,
) -> SubmitOutcome:
    """Store the client's answers for every instrument of the check-in, exactly once.

    ``checkin`` is the caller's read of that row (with its episode, client and clinic), so the
    link's page does not read it twice, and ``instruments`` the clinic's instruments its form was
    checked against (``outcomes.selectors.instruments_for``); both are read here when not given.

    Every form is scored first (AnswersInvalid: nothing stored). Then the check-in is claimed
    with a conditional UPDATE (still pending, not expired) that completes it: of a double click, a
    back-button resubmit or a second tab, the first claims it and the others wait for its commit
    on the row lock, then claim nothing and see "completed"; the unique (check-in, instrument)
    constraint on administrations backs that up. Closing the episode, ending or pausing the plan
    and opting out all cancel the pending check-in, so a claim cannot win against one that
    committed first. The forms are stored after the claim in the same transaction, with their
    audit events, and each risk alert is raised at once, in this same transaction; everything else
    is queued after commit, so a broker that is down cannot lose the response.
    """
    now = now or timezone.now()
    if checkin is None:
        checkin = _checkin_read(checkin_id)
    state = checkin_link_state(checkin, now=now)
    if state != LinkState.OPEN:
        return SubmitOutcome(state=state)
    if instruments is None:
        try:
            instruments = instruments_for(checkin.episode.clinic, checkin.instruments)
        except KeyError as error:
            raise AnswersInvalid([f"Unknown instrument '{error.args[0]}'."]) from error
    forms = []
    for code in checkin.instruments:
        instrument = instruments.get(code)
        if instrument is None:
            raise AnswersInvalid([f"Unknown instrument '{code}'."])
        forms.append(form_score(instrument, answers.get(code, [])))
    try:
        with transaction.atomic():
            claimed = (
                CheckIn.objects.filter(pk=checkin.pk, status=CheckInStatus.PENDING)
                .filter(Q(expires_at__isnull=True) | Q(expires_at__gt=now))
                .update(status=CheckInStatus.COMPLETED, completed_at=now)
            )
            if not claimed:
                # Completed, cancelled or expired since the caller read it: say which.
                return SubmitOutcome(state=checkin_link_state(_checkin_read(checkin.pk), now=now))
            recorded = administrations_store(
                episode=checkin.episode,
                forms=forms,
                source=ResponseSource.LINK,
                checkin=checkin,
                administered_at=now,
            )
            risk = any(r.administration.risk == RiskState.YES for r in recorded)
            unfinished_risk_alerts_settle(checkin=checkin, instruments=instruments)
            if contact_request:
                _contact_request_raise(checkin)
            # One evaluation for the whole check-in, after its last form (not one per form).
            episode_evaluation_queue(episode_id=checkin.episode_id)
    except IntegrityError:
        # Another request stored this check-in between our read and our insert.
        return SubmitOutcome(state=LinkState.COMPLETED)
    checkin.status, checkin.completed_at = CheckInStatus.COMPLETED, now
    return SubmitOutcome(
        state=LinkState.COMPLETED,
        risk_endorsed=risk,
        contact_requested=contact_request,
        stored=True,
    )


def _checkin_read(checkin_id: int) -> CheckIn:
    return CheckIn.objects.select_related("episode__client", "episode__clinic").get(pk=checkin_id)


def _contact_request_raise(checkin: CheckIn) -> None:
    # High, with reliable deterioration: the client asked their therapist, in so many words, to
    # get in touch before the next session. Not urgent: a risk answer raises its own urgent alert.
    alert_raise(
        episode=checkin.episode,
        rule=AlertRule.CONTACT_REQUEST,
        trigger=f"checkin:{checkin.pk}",
        severity=AlertSeverity.HIGH,
        message="The client asked to be contacted before their next session.",
    )


def checkin_unfinished_alerts(
    *, checkin_id: int, answers: dict[str, list], contact_request: bool = False
) -> bool:
    """What the client asked for on a form they could not send yet (a question left out), for
    if they never come back to finish it: an endorsed risk item raises the urgent alert at
    once, and "please contact me" its alert. Returns whether a risk item was endorsed, so the
    page shows the crisis contacts first. No answers are stored."""
    with transaction.atomic():
        checkin = (
            CheckIn.objects.select_for_update(of=("self",))
            .select_related("episode__client", "episode__clinic")
            .get(pk=checkin_id)
        )
        if checkin_link_state(checkin) != LinkState.OPEN:
            return False
        raised = [
            unfinished_form_risk_raise(
                episode=checkin.episode,
                checkin=checkin,
                instrument_code=code,
                answers=answers.get(code, []),
            )
            for code in checkin.instruments
        ]
        if contact_request:
            _contact_request_raise(checkin)
    return any(alert is not None for alert in raised)


def checkin_risk_endorsed(checkin: CheckIn) -> bool:
    return checkin.administrations.filter(risk=RiskState.YES).exists()


def checkin_contact_requested(checkin: CheckIn) -> bool:
    return Alert.objects.filter(
        episode_id=checkin.episode_id,
        rule=AlertRule.CONTACT_REQUEST,
        trigger=f"checkin:{checkin.pk}",
    ).exists()


# --- Opt-out ------------------------------------------------------------------------------------


def client_opt_out(*, client: Client, request=None) -> bool:
    """Stop e-mailed check-ins for the client. Returns False if they had already opted out.

    Open check-ins are cancelled; a timeline event and a warning alert on each active episode tell
    the therapist (who may want to talk about it, or switch to in-session forms).
    """
    now = timezone.now()
    with transaction.atomic():
        changed = Client.objects.filter(pk=client.pk, opted_out_at__isnull=True).update(
            opted_out_at=now
        )
        if not changed:
            return False
        episodes = list(Episode.objects.filter(client=client, ended_on__isnull=True))
        pending_checkins_cancel(episode_ids=[e.pk for e in episodes], unsent_only=False)
        for episode in episodes:
            TimelineEvent.objects.create(
                episode=episode,
                occurred_on=timezone.localdate(now),
                kind=EventKind.OTHER,
                note="Client opted out of e-mailed check-ins",
            )
            # An alert, not only the timeline event: the therapist is told (in the app and by a
            # mail that names no one) instead of finding out weeks later that nothing arrives.
            # Keyed to the moment, so opting out again after an opt-in tells them again.
            alert_raise(
                episode=episode,
                rule=AlertRule.OPTED_OUT,
                trigger=f"opt-out:{now:%Y%m%dT%H%M%S}",
                severity=AlertSeverity.WARNING,
                message="The client opted out of e-mailed check-ins: no more forms will arrive "
                "by e-mail. Talk it over at the next session, or enter forms in session.",
            )
        audit_record(
            actor=None,
            action="client.opt_out",
            obj=client,
            clinic=client.clinic,
            client=client,
            request=request,
        )
    client.opted_out_at = now
    return True


# --- Staff entry (in session, from paper) -------------------------------------------------------

STAFF_SOURCES = (ResponseSource.IN_SESSION, ResponseSource.PAPER)


def response_enter(
    *,
    episode: Episode,
    instrument_code: str,
    answers: list,
    source: str,
    entered_by,
    administered_at: datetime | None = None,
):
    """Record a form a therapist filled with the client in session or copied from paper.

    The caller must have scoped ``episode`` to ``entered_by`` (clients.selectors). Goes through
    the one door for answers, which audits the entry and raises a risk alert at once.
    """
    if source not in STAFF_SOURCES:
        raise AnswersInvalid([f"Staff entry must be in session or from paper, not '{source}'."])
    return administration_record(
        episode=episode,
        instrument_code=instrument_code,
        answers=answers,
        source=source,
        entered_by=entered_by,
        administered_at=administered_at,
    )
