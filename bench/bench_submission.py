"""Time of one submitted check-in: the link's POST (PHQ-9 + GAD-7) plus the one evaluation it
queues, on fresh episodes in the test database (SQLite unless DATABASE_URL is set).

    .venv/bin/python -m pytest bench/bench_submission.py -q -s -p no:cacheprovider

Prints p50 and p95 in milliseconds over 30 submissions. A pytest module only for its database
set-up and test client; it asserts nothing about time (the query count is asserted in
tests/integration/test_submission_queries.py).
"""

import time

import numpy as np
import pytest
from django.core.cache import cache
from django.urls import reverse

from outcomes.evaluation import episode_evaluate
from tests.checkin_support import form_post, open_checkin
from tests.factories import make_client, make_clinic, make_episode, make_staff

SUBMISSIONS = 30


@pytest.mark.django_db
def test_submission_time(client, django_capture_on_commit_callbacks):
    clinic = make_clinic()
    therapist = make_staff(clinic, username="therapist")
    timings = []
    for _ in range(SUBMISSIONS):
        cache.clear()  # the link's rate limit counts by address
        episode = make_episode(make_client(clinic), therapist)
        _, key = open_checkin(episode)
        started = time.perf_counter()
        # The evaluation is queued on commit; run it here, as the worker would, and count it in.
        with django_capture_on_commit_callbacks(execute=False):
            client.post(reverse("checkin:form", kwargs={"key": key}), form_post())
        episode_evaluate(episode_id=episode.pk)
        timings.append((time.perf_counter() - started) * 1000)
    print(
        f"\nsubmission + evaluation, {SUBMISSIONS} runs: p50 {np.median(timings):.1f} ms, "
        f"p95 {np.percentile(timings, 95):.1f} ms"
    )
