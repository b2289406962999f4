"""Helpers for the check-in tests: open a real check-in through the sweep, read the link back out
of the e-mail (the only place the key exists), and build form posts."""

import re
from datetime import time, timedelta
from zoneinfo import ZoneInfo

from django.utils import timezone

from clients.checkins import checkins_sweep, plan_set
from clients.models import CheckIn, CheckInKind, MeasurementPlan
from messaging.models import OutboundEmail

LINK = re.compile(r"https?://[^\s\"<>]+/c/([A-Za-z0-9_-]{20,})/")

PHQ9_CALM = [0, 1, 0, 1, 0, 0, 1, 0, 0, 0]  # item 9 (risk) answered 0
GAD7_CALM = [1, 0, 1, 0, 0, 1, 0]


def key_from(mail: OutboundEmail) -> str:
    return LINK.search(mail.body_text).group(1)


def start_plan(episode, *, instruments=("phq9", "gad7"), **fields):
    """A weekly plan whose current slot (local midnight today) is due now and open for days."""
    local_now = timezone.now().astimezone(ZoneInfo(episode.client.timezone))
    plan = plan_set(
        episode=episode,
        instruments=list(instruments),
        weekday=local_now.weekday(),
        local_time=time(0, 0),
        **fields,
    )
    MeasurementPlan.objects.filter(pk=plan.pk).update(
        created_at=timezone.now() - timedelta(days=30)
    )
    plan.refresh_from_db()
    return plan


def open_checkin(episode, *, instruments=("phq9", "gad7")) -> tuple[CheckIn, str]:
    """Plan, sweep, e-mail: the check-in and the key from its e-mail."""
    start_plan(episode, instruments=instruments)
    checkins_sweep()
    checkin = CheckIn.objects.get(episode=episode, kind=CheckInKind.SCHEDULED)
    mail = (
        OutboundEmail.objects.to_address(episode.client.email)
        .filter(purpose="checkin")
        .latest("pk")
    )
    return checkin, key_from(mail)


def form_post(*, phq9=PHQ9_CALM, gad7=GAD7_CALM, contact=False, **others) -> dict:
    data = {}
    for code, values in {"phq9": phq9, "gad7": gad7, **others}.items():
        if values is None:
            continue
        for number, value in enumerate(values, start=1):
            if value is not None:
                data[f"{code}-{number}"] = str(value)
    if contact:
        data["contact_request"] = "on"
    return data
