"""Queue Celery tasks only after the surrounding transaction commits, and never fail the caller.

Why: a task sent from inside a transaction can run before the row it needs exists, or after a
rollback for a row that never will. And a client's submission must be saved and acknowledged even
when the broker is down: the periodic sweeps find whatever was not queued (rows carry the state).
"""

import logging

from django.db import transaction

logger = logging.getLogger(__name__)


def enqueue_on_commit(task, *args, **kwargs) -> None:
    """Send ``task`` with ``args`` once the current transaction commits (at once outside one).

    Arguments must be ids, never health data or names: task arguments end up in broker logs.
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
