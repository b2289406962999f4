"""Settings for the Celery workers that the urgent-queue test starts.

Every mail takes 0.15 s to "send", as a real SMTP server's round trips do, so a
backlog of check-in mails keeps the default queue's worker busy for tens of seconds.
"""

import os
from pathlib import Path

from config.settings import *  # noqa: F403

# The test's own broker folder: its messages are neither the demo's nor another test run's.
_broker = Path(os.environ["URGENT_TEST_BROKER_DIR"])
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "data_folder_in": str(_broker / "queue"),
    "data_folder_out": str(_broker / "queue"),
    "processed_folder": str(_broker / "processed"),
    "store_processed": False,
    "control_folder": str(_broker / "control"),
    "polling_interval": 0.1,  # as config.settings sets it for the demo
}
EMAIL_BACKEND = "tests.urgent_worker_settings.SlowMailBackend"
SEND_SECONDS = 0.15


class SlowMailBackend:
    def __init__(self, fail_silently=False, **kwargs):
        pass

    def send_messages(self, messages):
        import time

        time.sleep(SEND_SECONDS * len(messages))
        return len(messages)
