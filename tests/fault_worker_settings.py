"""Settings for the Celery worker that the worker-kill fault test starts and kills.

A message taken by a worker that is then killed outright (kill -9: no chance to hand it back) is
redelivered by Redis once its visibility timeout has passed, when a worker next scans for such
messages: an hour and every ~100 s in production (ample for tasks that take seconds), a few
seconds here so the test does not wait.
"""

from config.settings import *  # noqa: F403

CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": 8,  # longer than the test task (3 s), as production's hour is
    "unacked_restore_interval": 1,
    "unacked_restore_throttle": 1,
}
