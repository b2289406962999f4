"""Alert notifications, escalation and the weekly digest: rows first, sent by tasks.

A notification is a row per (alert, recipient, channel, kind). The in-app row is the badge's
record that the person was told (escalated alerts appear on the supervisor's alerts page through
it); the e-mail row is created "pending" in the same transaction as the alert and handed to the
outbox by a task that claims it first, so a dead worker or broker delays a notice but never loses
or doubles it (a beat task retries whatever stayed pending).

Each notification is handed over on its own: one that fails (a database error, a row that cannot
be mailed) is recorded on its row, with the attempt, and retried, while the rest of the batch goes
on; an alert must not wait for another alert's trouble. Once handed over, the row is "queued" and
links to its outbox mail, which records SMTP's attempts and errors; the row turns "sent" when the
mail goes out. The outbox retries an alert's mail until then, however long SMTP is down, and gives
it up ("failed", saying why) only once the alert is resolved. A mail not out within ``OVERDUE`` of
its notice, or failed while its alert is open, is what /healthz and the supervisor's report page
warn about (``alert_mails_undelivered``).

The e-mails carry a link and the clinic's name only: no client label, no scores, no rule name,
nothing that would reveal health data to whoever reads the recipient's mailbox.
"""

import logging
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Exists, F, OuterRef, Q, Subquery
from django.utils import timezone

from audit.services import audit_record
from clients.models import (
    CheckIn,
    CheckInStatus,
    Clinic,
    Episode,
    EpisodeStatus,
    Membership,
    Role,
)
from lib.queue import enqueue_task_on_commit
from messaging.models import OutboundEmail
from messaging.services import mail_give_up, mail_queue, mail_send
from outcomes.models import (
    Alert,
    AlertNotification,
    AlertSeverity,
    AlertState,
    NotificationChannel,
)

logger = logging.getLogger(__name__)

Kind = AlertNotification.Kind
Status = AlertNotification.Status

# 0: the therapist only; 1: the supervisors of the therapist's teams; 2: the clinic admins.
LEVEL_SUPERVISOR, LEVEL_ADMIN = 1, 2
# A pending e-mail notification this old was not handed to the outbox by its own task (lost
# message, broker down): the retry task sends it.
PENDING_GRACE = timedelta(minutes=2)
# Hand-offs that raised (SMTP is the outbox's to retry) are retried on each run of the retry task,
# every 5 minutes; after this many the row is failed, visible on the alert in the admin, instead
# of being tried forever.
MAX_ATTEMPTS = 6
DIGEST_PERIOD = timedelta(days=7)
UNRESOLVED = (AlertState.OPEN, AlertState.ACKNOWLEDGED)
# An alert mail not sent this long after its notice is overdue (config.health.OVERDUE, the same
# 15 minutes): the hand-off is retried every 5 minutes and SMTP at least every 15.
OVERDUE = timedelta(minutes=15)
GIVEN_UP = "Given up: the alert was resolved before the mail could be sent."


# --- New alerts -----------------------------------------------------------------------------------


def alert_notify(*, alert, recipients=None, kind=Kind.NEW) -> list[int]:
    """Notify ``recipients`` (default: the episode's therapist) of one alert, in the app and by
    e-mail; returns the ids of the e-mail notifications created. Idempotent per recipient."""
    recipients = list(recipients or [alert.episode.therapist])
    return _notifications_create([(alert.pk, user.pk) for user in recipients], kind=kind)


def alerts_notify_new(*, alerts) -> list[int]:
    """Notify each alert's therapist: the sweep's bulk version of ``alert_notify``."""
    alerts = list(alerts)
    therapist_of = dict(
        Episode.objects.filter(pk__in={alert.episode_id for alert in alerts}).values_list(
            "pk", "therapist_id"
        )
    )
    return _notifications_create(
        [(alert.pk, therapist_of[alert.episode_id]) for alert in alerts], kind=Kind.NEW
    )


def _notifications_create(pairs, *, kind) -> list[int]:
    """Create the in-app and e-mail rows for (alert id, recipient id) pairs; queue the e-mails
    after commit. Existing rows are left alone (the unique constraint decides)."""
    if not pairs:
        return []
    now = timezone.now()
    rows = []
    for alert_id, recipient_id in pairs:
        rows.append(
            AlertNotification(
                alert_id=alert_id,
                recipient_id=recipient_id,
                channel=NotificationChannel.IN_APP,
                kind=kind,
                # The in-app badge counts unresolved alerts: the row only records that it shows.
                status=Status.SENT,
                sent_at=now,
                created_at=now,
            )
        )
        rows.append(
            AlertNotification(
                alert_id=alert_id,
                recipient_id=recipient_id,
                channel=NotificationChannel.EMAIL,
                kind=kind,
                created_at=now,
            )
        )
    AlertNotification.objects.bulk_create(rows, batch_size=1000, ignore_conflicts=True)
    email_ids = list(
        AlertNotification.objects.filter(
            alert_id__in={alert_id for alert_id, _ in pairs},
            recipient_id__in={recipient_id for _, recipient_id in pairs},
            channel=NotificationChannel.EMAIL,
            kind=kind,
            status=Status.PENDING,
        ).values_list("pk", flat=True)
    )
    if email_ids:
        enqueue_task_on_commit("outcomes.tasks.send_alert_notifications", email_ids)
    return email_ids


def notifications_send(*, notification_ids) -> int:
    """Hand each notification to the outbox; returns how many were handed over.

    A failure is recorded on that notification's row (``_notification_record_failure``) and the
    loop goes on with the others.
    """
    sent = 0
    for notification_id in notification_ids:
        try:
            sent += notification_send(notification_id=notification_id)
        except Exception as error:  # whatever broke this one must not hold up the others
            _notification_record_failure(notification_id=notification_id, error=error)
    _notification_mails_send_now(notification_ids=notification_ids)
    return sent


def _notification_mails_send_now(*, notification_ids) -> None:
    """Send the handed-over mails from here, the ``urgent`` queue's worker: the outbox's own task
    waits on the default queue behind bulk check-in mail (137 s behind 500 of them). The outbox
    claims the row first, so whichever of the two comes second sends nothing."""
    mail_ids = AlertNotification.objects.filter(
        pk__in=notification_ids, email__status=OutboundEmail.Status.QUEUED
    ).values_list("email_id", flat=True)
    for mail_id in mail_ids:
        try:
            mail_send(mail_id=mail_id)
        except Exception as error:  # the outbox's task and sweep still have it
            logger.warning("alert mail %s left to the outbox: %s", mail_id, type(error).__name__)


def _notification_record_failure(*, notification_id: int, error: Exception) -> None:
    # The failed hand-off rolled its claim back, so the row is pending again: count the attempt
    # outside that transaction, where it sticks. The log has ids and the error class only.
    logger.warning(
        "alert notification %s hand-off failed: %s", notification_id, error.__class__.__name__
    )
    pending = AlertNotification.objects.filter(pk=notification_id, status=Status.PENDING)
    pending.update(
        attempts=F("attempts") + 1, last_error=f"{error.__class__.__name__}: {error}"[:300]
    )
    pending.filter(attempts__gte=MAX_ATTEMPTS).update(status=Status.FAILED)


def notification_send(*, notification_id: int) -> bool:
    """Hand one pending e-mail notification to the outbox, exactly once.

    The row is claimed (pending → queued, a conditional UPDATE that must touch one row) in the
    same transaction as the outbox row is written, so a second worker or a re-delivered task finds
    nothing to claim, and a failure leaves it pending for the retry task. It turns "sent" when the
    outbox has sent the mail (``notifications_follow_mails``).
    """
    with transaction.atomic():
        claimed = AlertNotification.objects.filter(
            pk=notification_id, status=Status.PENDING, channel=NotificationChannel.EMAIL
        ).update(status=Status.QUEUED)
        if claimed != 1:
            return False
        notification = AlertNotification.objects.select_related("alert__clinic", "recipient").get(
            pk=notification_id
        )
        notification.attempts += 1
        undeliverable = _undeliverable_reason(notification.recipient)
        if undeliverable:
            AlertNotification.objects.filter(pk=notification_id).update(
                status=Status.FAILED, attempts=notification.attempts, last_error=undeliverable
            )
            return False
        subject, body = alert_email(notification=notification)
        mail = mail_queue(
            to=notification.recipient.email, subject=subject, body_text=body, purpose="alert"
        )
        AlertNotification.objects.filter(pk=notification_id).update(
            attempts=notification.attempts, last_error="", email=mail
        )
    return True


def _undeliverable_reason(recipient) -> str:
    """Why no alert mail may go to ``recipient``, or "": a deactivated account has left the
    clinic, and its mailbox is no longer a place for the clinic's alerts."""
    if not recipient.is_active:
        return "Recipient's account is deactivated."
    if not recipient.email:
        return "Recipient has no e-mail address."
    return ""


def alert_email(*, notification) -> tuple[str, str]:
    """Subject and body: the clinic's name and a link, deliberately nothing about the client."""
    alert = notification.alert
    clinic_name = alert.clinic.name
    urgent = alert.severity == AlertSeverity.URGENT
    link = f"{settings.SITE_URL}/alerts/"
    if notification.kind == Kind.ESCALATION:
        subject = f"Escalated: an urgent alert at {clinic_name} is waiting"
        opening = (
            f"An urgent alert at {clinic_name} has not been acknowledged in time and has been "
            "escalated to you."
        )
    else:
        subject = f"{'Urgent: ' if urgent else ''}new alert at {clinic_name}"
        opening = (
            f"There is {'an urgent' if urgent else 'a new'} alert for a client at {clinic_name}."
        )
    body = (
        f"{opening}\n\nPlease log in to review it: {link}\n\n"
        "This message deliberately contains no client details."
    )
    return subject, body


def notifications_send_pending(*, now=None) -> int:
    """Retry e-mail notifications left pending past the grace period (the beat task)."""
    now = now or timezone.now()
    pending = AlertNotification.objects.filter(
        channel=NotificationChannel.EMAIL,
        status=Status.PENDING,
        created_at__lte=now - PENDING_GRACE,
    ).order_by("pk")
    return notifications_send(notification_ids=list(pending.values_list("pk", flat=True)[:1000]))


def notifications_catch_up(*, now=None) -> int:
    """The retry task's run: hand over the notifications left pending, give up the mails of
    alerts resolved meanwhile, and bring any notification that missed its mail's news in line.
    Returns how many notifications were handed over."""
    handed_over = notifications_send_pending(now=now)
    alert_mails_give_up()
    notifications_follow_mails()
    return handed_over


# --- Delivery: the notification follows its mail ----------------------------------------------


def notifications_follow_mails(*, mail_ids=None) -> int:
    """Queued e-mail notifications whose mail was sent become "sent" (at the mail's time), those
    whose mail was given up "failed" (with the mail's reason). All of them, or those of
    ``mail_ids``; returns how many changed."""
    queued = AlertNotification.objects.filter(status=Status.QUEUED, email__isnull=False)
    if mail_ids is not None:
        queued = queued.filter(email_id__in=mail_ids)
    mail = OutboundEmail.objects.filter(pk=OuterRef("email_id"))
    sent = queued.filter(email__status=OutboundEmail.Status.SENT).update(
        status=Status.SENT, sent_at=Subquery(mail.values("sent_at")[:1])
    )
    failed = queued.filter(email__status=OutboundEmail.Status.FAILED).update(
        status=Status.FAILED, last_error=Subquery(mail.values("last_error")[:1])
    )
    return sent + failed


def alert_mails_give_up(*, alert_ids=None) -> int:
    """Stop retrying the mails of resolved alerts (those of ``alert_ids``, or all), and the alert
    mails whose notification is gone with its alert: nobody needs to be told any more, and a mail
    retried for ever would keep /healthz degraded. Returns how many mails were given up."""
    if alert_ids is not None:
        notices = AlertNotification.objects.filter(alert_id__in=alert_ids)
    else:
        notices = AlertNotification.objects.all()
    resolved = notices.filter(
        status=Status.QUEUED, email__isnull=False, alert__state=AlertState.RESOLVED
    ).values_list("email_id", flat=True)
    mail_ids = list(resolved)
    if alert_ids is None:
        orphans = OutboundEmail.objects.filter(
            ~Exists(AlertNotification.objects.filter(email_id=OuterRef("pk"))),
            purpose="alert",
            status=OutboundEmail.Status.QUEUED,
        )
        mail_ids += orphans.values_list("pk", flat=True)
    if not mail_ids:
        return 0
    given_up = mail_give_up(mail_ids=mail_ids, reason=GIVEN_UP)
    notifications_follow_mails(mail_ids=mail_ids)
    return given_up


def alert_mails_undelivered(*, now):
    """E-mail notifications an alert's recipient may never have had: not sent ``OVERDUE`` after
    the notice (not handed over, or SMTP still refusing it), or failed while the alert is still
    unresolved. The one definition for /healthz and the supervisor's report page."""
    return AlertNotification.objects.filter(
        Q(status__in=[Status.PENDING, Status.QUEUED], created_at__lt=now - OVERDUE)
        | Q(status=Status.FAILED, alert__state__in=UNRESOLVED),
        channel=NotificationChannel.EMAIL,
    )


# --- Escalation of urgent alerts -----------------------------------------------------------------


def _waiting_since_before(cutoff) -> Q:
    # Level 0 waits from when it was raised, level 1 from its last escalation.
    return Q(escalation_level=0, created_at__lte=cutoff) | Q(
        escalation_level__gt=0, escalated_at__lte=cutoff
    )


def alerts_due_for_escalation(*, now, grace=timedelta(0)):
    """Open urgent alerts below the top level whose clinic's ``urgent_escalation_hours`` (plus
    ``grace``) have passed since they were raised or last escalated; those of a deactivated
    therapist once ``grace`` has passed, since nobody reads their alerts and waiting out the window
    helps no one. The one definition of "due" for ``alerts_escalate`` and ``/healthz``."""
    due = Q(episode__therapist__is_active=False) & _waiting_since_before(now - grace)
    for clinic_id, hours in Clinic.objects.values_list("pk", "urgent_escalation_hours"):
        window = timedelta(hours=hours) + grace
        due |= Q(clinic_id=clinic_id) & _waiting_since_before(now - window)
    return Alert.objects.filter(
        due,
        severity=AlertSeverity.URGENT,
        state=AlertState.OPEN,
        escalation_level__lt=LEVEL_ADMIN,
    )


def alerts_escalate(*, now=None) -> int:
    """Escalate urgent alerts nobody acknowledged within ``clinic.urgent_escalation_hours``:
    first to the supervisors of the therapist's teams, one period later to the clinic admins.

    Each step claims the alert with a conditional UPDATE on its current level, so two beat runs
    never escalate (or notify) twice. A therapist whose teams have no supervisor escalates straight
    to the admins, and an alert whose therapist's account is deactivated escalates without waiting:
    the alert must reach someone who can act.
    """
    now = now or timezone.now()
    escalated = 0
    due = alerts_due_for_escalation(now=now).select_related("clinic", "episode__client")
    for alert in due.order_by("pk"):
        try:
            escalated += _alert_escalate(alert=alert, now=now)
        except Exception as error:  # the other overdue alerts must still escalate
            # The step rolled back whole (claim, rows, audit): the alert keeps its level and the
            # next beat tries again.
            logger.warning(
                "escalating urgent alert %s failed: %s", alert.pk, error.__class__.__name__
            )
    return escalated


def _alert_escalate(*, alert, now) -> bool:
    level = alert.escalation_level + 1
    recipients = (
        escalation_recipients(alert=alert, level=level) if level == LEVEL_SUPERVISOR else []
    )
    if not recipients:
        level = LEVEL_ADMIN
        recipients = escalation_recipients(alert=alert, level=LEVEL_ADMIN)
    with transaction.atomic():
        claimed = Alert.objects.filter(
            pk=alert.pk, state=AlertState.OPEN, escalation_level=alert.escalation_level
        ).update(escalation_level=level, escalated_at=now)
        if claimed != 1:
            return False
        _notifications_create([(alert.pk, user_id) for user_id in recipients], kind=Kind.ESCALATION)
        audit_record(
            actor=None,
            action="alert.escalate",
            obj=alert,
            clinic=alert.clinic,
            client=alert.episode.client,
            details={"level": level, "recipient_ids": recipients},
        )
    if not recipients:
        logger.warning("urgent alert %s escalated with nobody to notify", alert.pk)
    return True


def escalation_recipients(*, alert, level: int) -> list[int]:
    """User ids to tell at ``level``: supervisors sharing a team with the therapist (1) or the
    clinic's admins (2), with active accounts; never the therapist, who was told already."""
    therapist_id = alert.episode.therapist_id
    if level == LEVEL_SUPERVISOR:
        therapist_teams = Membership.objects.filter(
            user_id=therapist_id, clinic_id=alert.clinic_id
        ).values("teams")
        members = Membership.objects.filter(
            clinic_id=alert.clinic_id, role=Role.SUPERVISOR, teams__in=therapist_teams
        )
    else:
        members = Membership.objects.filter(clinic_id=alert.clinic_id, role=Role.ADMIN)
    members = members.filter(user__is_active=True).exclude(user_id=therapist_id)
    return sorted(set(members.values_list("user_id", flat=True)))


# --- Weekly digest --------------------------------------------------------------------------------


def therapists_with_items(*, now=None) -> list[int]:
    """Therapists with something to review: an unresolved alert, an active client off track, or a
    check-in missed in the past week."""
    now = now or timezone.now()
    active = Episode.objects.filter(ended_on__isnull=True)
    with_alerts = active.filter(alerts__state__in=UNRESOLVED)
    off_track = active.filter(status__in=[EpisodeStatus.RED, EpisodeStatus.YELLOW])
    missed = active.filter(
        pk__in=CheckIn.objects.filter(
            status=CheckInStatus.EXPIRED, expires_at__gte=now - DIGEST_PERIOD
        ).values("episode_id")
    )
    therapist_ids = set()
    for episodes in (with_alerts, off_track, missed):
        therapist_ids |= set(episodes.values_list("therapist_id", flat=True).distinct())
    return sorted(therapist_ids)


@dataclass(frozen=True)
class DigestRun:
    sent: int
    failed: int  # could not be written to the outbox; the task retries them


def digests_send(*, now=None) -> DigestRun:
    """One "you have items to review" e-mail per therapist with items, at most once a week.

    No counts and no client labels: how many clients are off track is itself health-adjacent, and
    the mailbox is not the place for it. A digest already written to the outbox in the past six
    days is not repeated, so a re-run (or a beat that fires twice) sends nothing new, and one that
    failed to reach the outbox (logged by user id, counted in ``failed``) is written by a re-run.
    """
    from django.contrib.auth import get_user_model

    now = now or timezone.now()
    recently = set(
        OutboundEmail.objects.filter(
            purpose="digest", created_at__gt=now - DIGEST_PERIOD + timedelta(days=1)
        ).values_list("to", flat=True)
    )
    users = (
        get_user_model()
        .objects.filter(pk__in=therapists_with_items(now=now), is_active=True)
        .exclude(Q(email="") | Q(email__in=recently))
    )
    link = f"{settings.SITE_URL}/alerts/"
    sent = failed = 0
    for user in users.order_by("pk"):
        try:
            with transaction.atomic():
                mail_queue(
                    to=user.email,
                    subject="Your weekly review: items are waiting",
                    body_text=(
                        "You have items to review in the outcome tracker this week.\n\n"
                        f"Please log in to see them: {link}\n\n"
                        "This message deliberately contains no client details."
                    ),
                    purpose="digest",
                )
        except Exception as error:  # one therapist's trouble must not cost the others their digest
            logger.warning("digest for user %s failed: %s", user.pk, error.__class__.__name__)
            failed += 1
            continue
        sent += 1
    return DigestRun(sent=sent, failed=failed)
