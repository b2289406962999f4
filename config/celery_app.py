"""Celery application: every background job (scheduling, email, alert computation) runs here."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("outcome_tracker")
# All Celery settings live in Django settings with the CELERY_ prefix (cookiecutter-django style).
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
