"""The alert rules end to end: stored forms in, alerts, statuses and notifications out."""

from datetime import timedelta

import pytest
import time_machine
from django.core.management import call_command
from django.utils import timezone

from audit.models import AuditEvent
from clients.models import CheckInStatus, Episode, EpisodeStatus
from demo import demo_data
from outcomes import evaluation
from outcomes.evaluation import episode_evaluate, episodes_evaluate
from outcomes.models import (
    Administration,
    Alert,
    AlertAction,
    AlertNotification,
    AlertRule,
    AlertSeverity,
    TrajectoryCurve,
)
from outcomes.services import alert_acknowledge, alert_resolve
from tests.factories import make_client, make_episode
from tests.integration.evaluation_support import checkin, phq9, phq9_course, record


def alerts_of(episode, rule):
    return Alert.objects.filter(episode=episode, rule=rule)


# --- Each rule, from stored forms to a stored alert ----------------------------------------------


def test_a_reliable_worsening_from_intake_raises_one_high_alert_at_its_onset(cast):
    forms = phq9_course(cast.episode, [12, 14, 18, 19, 19])
    episode_evaluate(episode_id=cast.episode.pk)
    alert = alerts_of(cast.episode, AlertRule.RELIABLE_DETERIORATION).get()
    assert alert.severity == AlertSeverity.HIGH
    assert alert.administration == forms[2]
    assert alert.trigger == f"adm:{forms[2].pk}"
    assert alert.clinic == cast.clinic


def test_a_rise_that_lasts_is_a_sudden_loss_keyed_to_where_it_happened(cast):
    # Tang & DeRubeis 1999 mirrored, the default since issue 16: the alert comes two scores later.
    forms = phq9_course(cast.episode, [10, 9, 10, 17, 18, 17])
    episode_evaluate(episode_id=cast.episode.pk)
    assert alerts_of(cast.episode, AlertRule.SUDDEN_LOSS).get().administration == forms[3]


def test_a_week_on_week_spike_that_reverts_is_no_sudden_loss(cast):
    phq9_course(cast.episode, [14, 10, 16, 11, 10])
    episode_evaluate(episode_id=cast.episode.pk)
    assert not alerts_of(cast.episode, AlertRule.SUDDEN_LOSS).exists()


def test_a_client_who_does_not_improve_is_not_on_track(cast):
    phq9_course(cast.episode, [20, 20, 20, 20, 21, 22])
    episode_evaluate(episode_id=cast.episode.pk)
    assert alerts_of(cast.episode, AlertRule.NOT_ON_TRACK).exists()
    cast.episode.refresh_from_db()
    assert cast.episode.status in (EpisodeStatus.YELLOW, EpisodeStatus.RED)
    assert "provisional default curve" in cast.episode.status_reason
    assert cast.episode.status_updated_at is not None


def test_a_session_rating_below_36_is_an_alliance_concern(cast):
    record(cast.episode, "session_rating", [10, 10, 10, 10], weeks_ago=2)
    low = record(cast.episode, "session_rating", [8, 8, 9, 8], weeks_ago=1)
    episode_evaluate(episode_id=cast.episode.pk)
    alert = alerts_of(cast.episode, AlertRule.ALLIANCE_CONCERN).get()
    assert alert.administration == low and alert.severity == AlertSeverity.WARNING


def test_two_expired_checkins_in_a_row_are_disengagement(cast):
    checkin(cast.episode, status=CheckInStatus.COMPLETED, weeks_ago=3)
    checkin(cast.episode, status=CheckInStatus.EXPIRED, weeks_ago=2)
    second = checkin(cast.episode, status=CheckInStatus.EXPIRED, weeks_ago=1)
    checkin(cast.other_episode, status=CheckInStatus.EXPIRED, weeks_ago=2)
    checkin(cast.other_episode, status=CheckInStatus.CANCELLED, weeks_ago=1)
    episodes_evaluate(episode_ids=[cast.episode.pk, cast.other_episode.pk])
    alert = alerts_of(cast.episode, AlertRule.DISENGAGEMENT).get()
    assert alert.trigger == f"checkin:{second.pk}" and alert.administration is None
    # A cancelled check-in (plan paused) was never the client's to miss.
    assert not alerts_of(cast.other_episode, AlertRule.DISENGAGEMENT).exists()


def test_the_sweep_keeps_the_one_risk_alert_raised_at_submission(cast):
    risky = record(cast.episode, "phq9", phq9(15, item9=1), weeks_ago=0)
    assert alerts_of(cast.episode, AlertRule.RISK_ITEM).count() == 1
    episode_evaluate(episode_id=cast.episode.pk)
    alert = alerts_of(cast.episode, AlertRule.RISK_ITEM).get()
    assert alert.trigger == f"adm:{risky.pk}" and alert.severity == AlertSeverity.URGENT
    assert AuditEvent.objects.filter(action="alert.create", object_id=str(alert.pk)).count() == 1


def test_an_unanswered_risk_item_asks_the_therapist_to_ask_directly(cast):
    skipped = record(cast.episode, "phq9", phq9(12, item9=None), weeks_ago=0)
    assert skipped.risk == "unknown"
    episode_evaluate(episode_id=cast.episode.pk)
    alert = alerts_of(cast.episode, AlertRule.RISK_ITEM).get()
    assert alert.severity == AlertSeverity.WARNING and alert.trigger == f"adm:{skipped.pk}"


@pytest.mark.parametrize("batch", [1000, 1], ids=["as-values", "by-copy-or-in-batches"])
def test_the_sweeps_alerts_and_their_audit_events_hold_what_alert_raise_writes(
    cast, monkeypatch, batch
):
    # The sweep inserts alerts and audit events in bulk (on PostgreSQL in one statement, from
    # VALUES or, for many, from a table filled by COPY; on SQLite in batches): every field must
    # be what one alert_raise would have stored, defaults included.
    monkeypatch.setattr(evaluation, "_INSERT_BATCH", batch)
    monkeypatch.setattr(evaluation, "STATUS_BATCH", batch)
    forms = phq9_course(cast.episode, [12, 14, 18, 19, 19])
    checkin(cast.other_episode, status=CheckInStatus.EXPIRED, weeks_ago=2)
    missed = checkin(cast.other_episode, status=CheckInStatus.EXPIRED, weeks_ago=1)
    before = timezone.now()
    summary = episodes_evaluate(episode_ids=[cast.episode.pk, cast.other_episode.pk])
    alerts = list(Alert.objects.all())
    assert summary.alerts_created == len(alerts) >= 2
    worse = alerts_of(cast.episode, AlertRule.RELIABLE_DETERIORATION).get()
    assert (worse.episode, worse.clinic, worse.administration) == (
        cast.episode,
        cast.clinic,
        forms[2],
    )
    assert (worse.instrument, worse.severity, worse.state) == ("phq9", AlertSeverity.HIGH, "open")
    assert (worse.action, worse.resolution_note, worse.escalation_level) == ("", "", 0)
    assert worse.acknowledged_at is worse.resolved_at is worse.escalated_at is None
    assert worse.message and before <= worse.created_at <= timezone.now()
    missed_alert = alerts_of(cast.other_episode, AlertRule.DISENGAGEMENT).get()
    assert missed_alert.trigger == f"checkin:{missed.pk}" and missed_alert.administration is None
    assert missed_alert.instrument == ""
    for alert in alerts:
        event = AuditEvent.objects.get(action="alert.create", object_id=str(alert.pk))
        assert (event.actor, event.actor_label, event.object_type) == (
            None,
            "system",
            "outcomes.alert",
        )
        assert (event.clinic_id, event.client_id) == (alert.clinic_id, alert.episode.client_id)
        assert event.details == {"rule": alert.rule, "severity": alert.severity}
        assert event.at == alert.created_at and event.ip_address is None
    assert episodes_evaluate(episode_ids=[cast.episode.pk]).alerts_created == 0
    assert AuditEvent.objects.filter(action="alert.create").count() == len(alerts)
    cast.episode.refresh_from_db()
    assert cast.episode.status != EpisodeStatus.NONE and cast.episode.rules_fingerprint


# --- Stored state, idempotency ------------------------------------------------------------------


def test_a_stored_form_marks_its_episode_until_an_evaluation_reads_it(cast):
    before = timezone.now()
    for weeks_ago in (3, 2, 1):  # interleaved: mine, theirs, mine, theirs...
        record(cast.episode, "phq9", phq9(12), weeks_ago=weeks_ago)
        record(cast.other_episode, "phq9", phq9(12), weeks_ago=weeks_ago)
    first = Administration.objects.filter(episode=cast.other_episode).earliest("pk")
    pending = dict(Episode.objects.values_list("pk", "rules_pending_since"))
    # Since the first form no evaluation read, not the last: /healthz measures the delay by it.
    assert pending[cast.other_episode.pk] == first.created_at >= before
    episode_evaluate(episode_id=cast.episode.pk)
    pending = dict(Episode.objects.values_list("pk", "rules_pending_since"))
    assert pending[cast.episode.pk] is None
    assert pending[cast.other_episode.pk] == first.created_at


def test_an_episode_without_scores_has_status_none(cast):
    episode_evaluate(episode_id=cast.episode.pk)
    cast.episode.refresh_from_db()
    assert cast.episode.status == EpisodeStatus.NONE


def test_evaluating_twice_creates_nothing_new(cast):
    cast.therapist.email = "therapist@example.org"
    cast.therapist.save()
    phq9_course(cast.episode, [12, 14, 18, 12, 19])
    first = episode_evaluate(episode_id=cast.episode.pk)
    counts = (Alert.objects.count(), AlertNotification.objects.count(), AuditEvent.objects.count())
    cast.episode.refresh_from_db()
    updated_at = cast.episode.status_updated_at
    again = episodes_evaluate(episode_ids=[cast.episode.pk, cast.episode.pk])
    assert first.alerts_created > 0 and again.alerts_created == 0
    assert again.statuses_changed == 0
    assert (
        Alert.objects.count(),
        AlertNotification.objects.count(),
        AuditEvent.objects.count(),
    ) == counts
    cast.episode.refresh_from_db()
    assert cast.episode.status_updated_at == updated_at


def test_each_new_alert_is_notified_once_in_the_app_and_by_mail(cast):
    phq9_course(cast.episode, [12, 14, 18])
    episode_evaluate(episode_id=cast.episode.pk)
    episode_evaluate(episode_id=cast.episode.pk)
    alert = alerts_of(cast.episode, AlertRule.RELIABLE_DETERIORATION).get()
    channels = sorted(alert.notifications.values_list("channel", "recipient_id"))
    assert channels == [("email", cast.therapist.pk), ("in_app", cast.therapist.pk)]


def test_alerts_on_events_weeks_old_are_listed_but_not_mailed(cast):
    # The worsening was three weeks ago; since then the client improves as the curve expects.
    phq9_course(cast.episode, [12, 18, 12, 6, 5])
    episode_evaluate(episode_id=cast.episode.pk)
    assert alerts_of(cast.episode, AlertRule.RELIABLE_DETERIORATION).exists()
    assert not AlertNotification.objects.exists()


def test_a_new_worsening_after_resolution_raises_a_new_alert(cast):
    phq9_course(cast.episode, [12, 18])
    episode_evaluate(episode_id=cast.episode.pk)
    first = alerts_of(cast.episode, AlertRule.RELIABLE_DETERIORATION).get()
    alert_acknowledge(alert=first, user=cast.therapist)
    alert_resolve(alert=first, user=cast.therapist, action=AlertAction.EXTRA_SESSION, note="")
    record(cast.episode, "phq9", phq9(11), weeks_ago=0)
    episode_evaluate(episode_id=cast.episode.pk)
    assert alerts_of(cast.episode, AlertRule.RELIABLE_DETERIORATION).count() == 1
    again = record(cast.episode, "phq9", phq9(19), weeks_ago=0)
    episode_evaluate(episode_id=cast.episode.pk)
    newest = alerts_of(cast.episode, AlertRule.RELIABLE_DETERIORATION).latest("pk")
    assert newest != first and newest.administration == again and newest.state == "open"


def test_getting_worse_still_after_a_resolved_alert_raises_a_new_one(cast):
    # The therapist saw the first alert and resolved it; the client went on getting worse.
    phq9_course(cast.episode, [10, 16])
    episode_evaluate(episode_id=cast.episode.pk)
    first = alerts_of(cast.episode, AlertRule.RELIABLE_DETERIORATION).get()
    alert_resolve(alert=first, user=cast.therapist, action=AlertAction.SUPERVISION, note="")
    record(cast.episode, "phq9", phq9(19), weeks_ago=0)
    episode_evaluate(episode_id=cast.episode.pk)
    assert alerts_of(cast.episode, AlertRule.RELIABLE_DETERIORATION).count() == 1
    worse = record(cast.episode, "phq9", phq9(23), weeks_ago=0)
    episode_evaluate(episode_id=cast.episode.pk)
    newest = alerts_of(cast.episode, AlertRule.RELIABLE_DETERIORATION).latest("pk")
    assert newest != first and newest.administration == worse and newest.state == "open"
    assert "where the reliable worsening began" in newest.message


def test_a_clinic_setting_is_used_by_the_next_evaluation(cast):
    checkin(cast.episode, status=CheckInStatus.EXPIRED, weeks_ago=2)
    checkin(cast.episode, status=CheckInStatus.EXPIRED, weeks_ago=1)
    cast.clinic.missed_checkins_for_alert = 3
    cast.clinic.save()
    episode_evaluate(episode_id=cast.episode.pk)
    assert not alerts_of(cast.episode, AlertRule.DISENGAGEMENT).exists()
    cast.clinic.missed_checkins_for_alert = 2
    cast.clinic.save()
    episode_evaluate(episode_id=cast.episode.pk)
    assert alerts_of(cast.episode, AlertRule.DISENGAGEMENT).exists()


def test_a_fitted_curve_replaces_the_default_once_the_band_has_enough_episodes(cast):
    phq9_course(cast.episode, [20, 20, 20, 20, 20])
    curve = TrajectoryCurve.objects.create(
        clinic=cast.clinic,
        instrument="phq9",
        band_low=20,
        band_high=27,
        b0=21,
        b1=0,
        sigma=3,
        n_episodes=cast.clinic.trajectory_min_episodes - 1,
        source=TrajectoryCurve.Source.FITTED,
    )
    episode_evaluate(episode_id=cast.episode.pk)
    cast.episode.refresh_from_db()
    assert "provisional default curve" in cast.episode.status_reason
    TrajectoryCurve.objects.filter(pk=curve.pk).update(
        n_episodes=cast.clinic.trajectory_min_episodes
    )
    episode_evaluate(episode_id=cast.episode.pk)
    cast.episode.refresh_from_db()
    # A flat fitted curve at 21 expects no recovery: 20 is on track against it.
    assert cast.episode.status == EpisodeStatus.GREEN
    assert "provisional" not in cast.episode.status_reason


# --- The demo clinic ----------------------------------------------------------------------------


@pytest.mark.slow
def test_the_demo_flags_every_deteriorator_before_their_last_score_and_the_risk_client(db):
    call_command("seed_demo", clients=60)
    demo = demo_data.generate_clinic(clients=60)
    labels = {
        archetype: {c.label for c in demo.clients if c.archetype == archetype}
        for archetype in (demo_data.DETERIORATOR, demo_data.RISK)
    }
    assert labels[demo_data.DETERIORATOR] and labels[demo_data.RISK]
    worsening = (
        AlertRule.RELIABLE_DETERIORATION,
        AlertRule.NOT_ON_TRACK,
        AlertRule.SUDDEN_LOSS,
    )
    for episode in Episode.objects.filter(client__label__in=labels[demo_data.DETERIORATOR]):
        last = episode.administrations.filter(instrument="phq9").latest("administered_at")
        flagged = Alert.objects.filter(
            episode=episode,
            rule__in=worsening,
            administration__administered_at__lt=last.administered_at,
        )
        assert flagged.exists(), f"{episode.client.label} was not flagged before the last score"
        assert episode.status == EpisodeStatus.RED
    for episode in Episode.objects.filter(client__label__in=labels[demo_data.RISK]):
        assert Alert.objects.filter(
            episode=episode, rule=AlertRule.RISK_ITEM, severity=AlertSeverity.URGENT
        ).exists()
    assert not Episode.objects.filter(rules_pending_since__isnull=False).exists()
    assert Episode.objects.exclude(status=EpisodeStatus.NONE).exists()


def test_alerts_are_dated_when_they_were_raised(cast):
    phq9_course(cast.episode, [12, 18])
    before = timezone.now()
    episode_evaluate(episode_id=cast.episode.pk)
    alert = alerts_of(cast.episode, AlertRule.RELIABLE_DETERIORATION).get()
    assert before <= alert.created_at <= timezone.now() + timedelta(seconds=1)


# --- The periodic sweeps -------------------------------------------------------------------------


@pytest.fixture
def queued(monkeypatch):
    """Chunks the sweeps send to the broker, run here instead."""
    from outcomes import tasks

    chunks = []

    def apply_async(*, args, kwargs=None):
        chunks.append(args[0])
        tasks.evaluate_episodes.run(*args, **(kwargs or {}))

    monkeypatch.setattr(tasks.evaluate_episodes, "apply_async", apply_async)
    return chunks


def test_the_hourly_sweep_covers_active_episodes_in_chunks(cast, queued, monkeypatch):
    from outcomes import evaluation, tasks

    monkeypatch.setattr(evaluation, "CHUNK_SIZE", 2)
    extra = make_episode(make_client(cast.clinic), cast.therapist)
    ended = make_episode(make_client(cast.clinic), cast.therapist, ended_on=timezone.localdate())
    for episode in (cast.episode, cast.other_episode, extra, ended):
        phq9_course(episode, [12, 18])
    assert tasks.sweep_active_episodes() == 3
    assert sorted(len(chunk) for chunk in queued) == [1, 2]
    assert Alert.objects.filter(rule=AlertRule.RELIABLE_DETERIORATION).count() == 3
    assert not Alert.objects.filter(episode=ended).exists()


def test_the_five_minute_sweep_heals_a_submission_whose_task_was_lost(cast, queued):
    from outcomes import tasks

    phq9_course(cast.episode, [12, 18])
    assert tasks.sweep_unevaluated() == 0  # its own task may still be on its way
    with time_machine.travel(timezone.now() + timedelta(minutes=3)):
        assert tasks.sweep_unevaluated() == 1
    assert queued == [[cast.episode.pk]]
    assert alerts_of(cast.episode, AlertRule.RELIABLE_DETERIORATION).exists()
    assert tasks.sweep_unevaluated() == 0
