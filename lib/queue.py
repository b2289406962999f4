"""Queue Celery tasks only after the surrounding transaction commits, and never fail the caller.

Why: a task sent from inside a transaction can run before the row it needs exists, or after a
rollback for a row that never will. And a client's submission must be saved and acknowledged even
when the broker is down: the periodic sweeps find whatever was not queued (rows carry the state).

Services name the task (``enqueue_task_on_commit("messaging.tasks.send_outbound_email", mail.pk)``)
rather than import it: a task calls its service, so a service that imported its tasks module made
an import circle. This module imports no app (an import-linter contract holds it to that).
"""

import logging
from importlib import import_module

from celery.exceptions import NotRegistered
from django.db import transaction

logger = logging.getLogger(__name__)


def enqueue_task_on_commit(task_name: str, *args, **kwargs) -> None:
    """Send the task registered as ``task_name`` with ``args`` once the current transaction
    commits (at once outside one).

    The task is looked up now, by importing its module at call time (a task's registered name is
    its dotted path: no task here sets another), so a misspelt name fails the caller loudly in
    tests instead of a warning after commit. Going through the task object (not
    ``app.send_task``) keeps eager mode and tests that patch a task's ``apply_async`` working, and
    this module needs no import of the Celery app (config, at the top).

    Arguments must be ids, never health data or names: task arguments end up in broker logs.
    """
    module_name, _, function_name = task_name.rpartition(".")
    try:
        task = getattr(import_module(module_name), function_name)
    except (ImportError, AttributeError, ValueError) as error:
        raise NotRegistered(task_name) from error
    if getattr(task, "name", None) != task_name:
        raise NotRegistered(task_name)
    enqueue_on_commit(task, *args, **kwargs)


def enqueue_on_commit(task, *args, **kwargs) -> None:
    """Send the task object ``task`` with ``args`` once the current transaction commits.

    Prefer ``enqueue_task_on_commit`` from services: passing the object means importing the task.
    """

    def send():
        try:
            task.apply_async(args=args, kwargs=kwargs)
        except Exception as error:  # the broker's errors vary by transport; all are survivable
            logger.warning(
                "could not queue %s (%s); the periodic sweep will pick it up",
                task.name,
                error.__class__.__name__,
            )

    transaction.on_commit(send)
