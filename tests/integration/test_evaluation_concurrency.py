"""Two sweeps over the same episodes at the same moment create and notify each alert once."""

import threading
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from audit.models import AuditEvent
from outcomes.evaluation import episodes_evaluate
from outcomes.models import Alert, AlertNotification
from tests.factories import make_client, make_episode
from tests.integration.evaluation_support import phq9_course


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_sweeps_create_and_notify_each_alert_once(cast):
    cast.therapist.email = "therapist@example.org"
    cast.therapist.save()
    episodes = [cast.episode]
    for _ in range(30):
        episodes.append(make_episode(make_client(cast.clinic), cast.therapist))
    for number, episode in enumerate(episodes):
        phq9_course(episode, [12, 14, 18 + number % 3, 12, 19])
    ids = [episode.pk for episode in episodes]

    start = threading.Barrier(3)
    summaries, errors = [], []

    def sweep():
        try:
            start.wait()
            summaries.append(episodes_evaluate(episode_ids=ids))
        except Exception as error:  # surfaced by the assertion below
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=sweep) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert not errors
    alerts = Alert.objects.filter(episode_id__in=ids)
    assert alerts.exists()
    assert sum(summary.alerts_created for summary in summaries) == alerts.count()
    created_audits = AuditEvent.objects.filter(action="alert.create")
    assert created_audits.count() == alerts.count()
    # Alerts on this week's forms are mailed, once each; older ones are listed only.
    recent = alerts.filter(administration__administered_at__gte=timezone.now() - timedelta(days=7))
    assert recent.exists()
    assert AlertNotification.objects.filter(channel="email").count() == recent.count()
    assert episodes_evaluate(episode_ids=ids).alerts_created == 0
