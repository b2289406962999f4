"""What one submitted check-in costs the database (issue 18): the link's POST plus the one
evaluation it queues, counted with Django's CaptureQueriesContext."""

import pytest
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from outcomes.evaluation import episode_evaluate
from outcomes.models import Administration
from tests.checkin_support import form_post, open_checkin

pytestmark = pytest.mark.django_db

# Issue 18's goal for one submission, the view and its evaluation together (savepoints included);
# 18 since the check-in's forms are read, stored and audited together (docs/alerts.md,
# "Per-submission queries").
SUBMISSION_QUERIES_GOAL = 20


@pytest.fixture(autouse=True)
def fresh_rate_limit():
    cache.clear()


def submit_and_evaluate(client, episode, key, django_capture_on_commit_callbacks):
    # The evaluation task is queued on commit; it runs by hand below, counted on its own.
    with (
        CaptureQueriesContext(connection) as view_queries,
        django_capture_on_commit_callbacks(execute=False),
    ):
        response = client.post(reverse("checkin:form", kwargs={"key": key}), form_post())
    assert response.status_code == 302
    with CaptureQueriesContext(connection) as evaluation_queries:
        episode_evaluate(episode_id=episode.pk)
    return view_queries, evaluation_queries


def count_submission_queries(client, cast, django_capture_on_commit_callbacks) -> list[str]:
    _, key = open_checkin(cast.episode)
    view, evaluation = submit_and_evaluate(
        client, cast.episode, key, django_capture_on_commit_callbacks
    )
    assert Administration.objects.filter(episode=cast.episode).count() == 2
    return [
        f"{query['sql'][:400]}" for query in [*view.captured_queries, *evaluation.captured_queries]
    ]


def test_a_submitted_checkin_and_its_evaluation_take_at_most_twenty_queries(
    client, cast, django_capture_on_commit_callbacks
):
    queries = count_submission_queries(client, cast, django_capture_on_commit_callbacks)
    assert len(queries) <= SUBMISSION_QUERIES_GOAL, "\n".join(queries)


def test_a_checkins_forms_are_read_stored_and_audited_once_not_once_per_form(
    client, cast, django_capture_on_commit_callbacks
):
    queries = count_submission_queries(client, cast, django_capture_on_commit_callbacks)

    def count(start: str, table: str) -> int:
        return sum(query.startswith(start) and f'"{table}"' in query[:80] for query in queries)

    # Both definitions in one read; the check-in read once (by its key) and claimed by the one
    # UPDATE that completes it; both forms in one INSERT, and their two audit events in one.
    assert count("SELECT", "outcomes_instrumentdefinition") == 1, "\n".join(queries)
    # The link's read (the ORM's, quoted), and the rules' (raw SQL, unquoted).
    rules_reads = sum(
        q.startswith(("SELECT", "COPY")) and " FROM clients_checkin " in q for q in queries
    )
    assert count("SELECT", "clients_checkin") == 1, "\n".join(queries)
    assert rules_reads == 1, "\n".join(queries)
    assert count("UPDATE", "clients_checkin") == 1, "\n".join(queries)
    assert count("INSERT INTO", "outcomes_administration") == 1, "\n".join(queries)
    assert count("INSERT INTO", "audit_auditevent") == 1, "\n".join(queries)
