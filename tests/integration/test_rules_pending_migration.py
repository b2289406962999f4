"""outcomes 0009: the per-administration stamps become the episode-level mark before they go:
an episode with a form no evaluation reached is marked since the earliest such form was stored,
and an episode whose forms were all evaluated, or that has none, is not marked."""

from datetime import timedelta

from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

from clients.models import Episode
from tests.factories import make_client, make_clinic, make_episode, make_staff
from tests.integration.evaluation_support import phq9_course

BEFORE = [
    ("clients", "0011_clinic_not_on_track_rearm_scores"),
    ("outcomes", "0008_alert_fewer_indexes"),
]


def test_unevaluated_stamps_become_the_mark_of_their_episode(transactional_db):
    clinic = make_clinic()
    therapist = make_staff(clinic)
    evaluated, behind, empty = (make_episode(make_client(clinic), therapist) for _ in range(3))
    phq9_course(evaluated, [12, 14])
    first, second = phq9_course(behind, [12, 14, 16])[1:]

    executor = MigrationExecutor(connection)
    executor.migrate(BEFORE)
    long_ago, earlier = timezone.now() - timedelta(days=3), timezone.now() - timedelta(hours=2)
    with connection.cursor() as cursor:
        cursor.execute("UPDATE outcomes_administration SET alerts_evaluated_at = %s", [long_ago])
        cursor.execute(
            "UPDATE outcomes_administration SET alerts_evaluated_at = NULL, "
            "created_at = CASE WHEN id = %s THEN %s ELSE created_at END WHERE id IN (%s, %s)",
            [first.pk, earlier, first.pk, second.pk],
        )

    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())

    pending = dict(Episode.objects.values_list("pk", "rules_pending_since"))
    assert pending == {evaluated.pk: None, behind.pk: earlier, empty.pk: None}
