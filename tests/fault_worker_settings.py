"""Settings for the Celery worker that the worker-kill fault test starts and kills.

A message taken by a worker that is then killed outright (kill -9: no chance to hand it back) is
redelivered by Redis after the visibility timeout: an hour in production, seconds here.
"""

from config.settings import *  # noqa: F403

CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 4}
