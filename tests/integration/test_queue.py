"""Services queue tasks by name: the send waits for the commit, and a typo fails loudly."""

import pytest
from celery.exceptions import NotRegistered

from lib.queue import enqueue_task_on_commit


@pytest.fixture
def sent(monkeypatch):
    """The arguments of every send of the outbox task, instead of a broker."""
    import messaging.tasks

    calls = []
    monkeypatch.setattr(
        messaging.tasks.send_outbound_email,
        "apply_async",
        lambda args=(), kwargs=None, **options: calls.append((args, kwargs)),
    )
    return calls


def test_a_task_queued_by_name_leaves_only_when_the_transaction_commits(
    db, sent, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        enqueue_task_on_commit("messaging.tasks.send_outbound_email", 42)
        assert sent == []  # still inside the transaction
    assert sent == [((42,), {})]


def test_a_misspelt_task_name_fails_the_service_at_once_not_after_commit(db):
    with pytest.raises(NotRegistered):
        enqueue_task_on_commit("messaging.tasks.send_outbound_mail", 42)
