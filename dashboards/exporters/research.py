"""De-identified research export: one row per administration (scored form).

What makes it de-identified (a pseudonymised extract in the sense of the ICO's anonymisation
guidance; the HIPAA Safe Harbor list is a useful checklist of what to leave out):

* no names, labels, e-mail addresses or any contact data; no free text (no notes, no messages);
* client, episode and therapist identifiers are random codes drawn for this export only: two
  exports cannot be linked to each other or back to the database ids;
* every date of a client is shifted by one random number of days (between -182 and +182, never
  0), the same for all of that client's dates, so intervals within a client are exact while the
  calendar dates are not; times of day are dropped.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from dashboards.exporters.base import Exporter
from dashboards.report_selectors import rows_by_episode
from outcomes.models import Administration

#: Largest date shift, in days, either way.
MAX_SHIFT_DAYS = 182
#: Episodes read at a time (their forms, a few dozen each, are held in memory together).
BATCH = 500

HEADER = [
    "client_id",
    "episode_id",
    "therapist_id",
    "instrument",
    "instrument_version",
    "administered_on",
    "days_since_episode_start",
    "episode_started_on",
    "answers",
    "total",
    "band",
    "caseness",
    "risk",
    "source",
]


class _Pseudonyms:
    """Random codes, drawn on first sight of each real id and kept for this export only."""

    def __init__(self, prefix: str):
        self.prefix = prefix
        self.codes: dict[int, str] = {}
        self.used: set[str] = set()

    def __getitem__(self, real_id: int) -> str:
        code = self.codes.get(real_id)
        if code is None:
            code = f"{self.prefix}{secrets.token_hex(5)}"
            while code in self.used:
                code = f"{self.prefix}{secrets.token_hex(5)}"
            self.used.add(code)
            self.codes[real_id] = code
        return code


def random_shift() -> timedelta:
    days = 0
    while days == 0:
        days = secrets.randbelow(2 * MAX_SHIFT_DAYS + 1) - MAX_SHIFT_DAYS
    return timedelta(days=days)


class ResearchExporter(Exporter):
    identifier = "research"
    verbose_name = "De-identified research export"
    description = (
        "Every form scored in the period, one row each: random IDs for this export only, dates "
        "shifted per client, no names, contact data or free text."
    )

    def _administrations(self):
        return Administration.objects.filter(
            self.period.timestamps_q("administered_at", self.scope.clinic.timezone),
            episode__in=self.scope.episodes().values("pk"),
            valid=True,
        )

    def count(self) -> int:
        return self._administrations().count()

    def iterate_rows(self) -> Iterator[list]:
        yield HEADER
        clients, episodes = _Pseudonyms("P-"), _Pseudonyms("E-")
        therapists = _Pseudonyms("T-")
        shifts: dict[int, timedelta] = {}
        clinic_zone = ZoneInfo(self.scope.clinic.timezone)
        rows = (
            self._administrations()
            .order_by("episode_id", "administered_at")
            .values_list(
                "episode__client_id",
                "episode_id",
                "episode__therapist_id",
                "episode__started_on",
                "instrument",
                "instrument_version",
                "administered_at",
                "answers",
                "total",
                "band",
                "caseness",
                "risk",
                "source",
            )
        )
        # Raw driver values (see report_selectors.rows_by_episode): converted here, once each.
        for (
            client_id,
            episode_id,
            therapist_id,
            started_on,
            instrument,
            version,
            administered_at,
            answers,
            total,
            band,
            caseness,
            risk,
            source,
        ) in rows_by_episode(rows, episodes_per_batch=BATCH):
            started_on = _as_date(started_on)
            answers = json.loads(answers) if isinstance(answers, str | bytes) else answers
            shift = shifts.get(client_id)
            if shift is None:
                shift = shifts[client_id] = random_shift()
            administered_on = _as_datetime(administered_at).astimezone(clinic_zone).date()
            yield [
                clients[client_id],
                episodes[episode_id],
                therapists[therapist_id],
                instrument,
                version,
                administered_on + shift,
                (administered_on - started_on).days,
                started_on + shift,
                " ".join("NA" if value is None else str(value) for value in answers or []),
                total,
                band,
                None if caseness is None else bool(caseness),
                risk,
                source,
            ]


def _as_date(value) -> date:
    return date.fromisoformat(value) if isinstance(value, str) else value


def _as_datetime(value) -> datetime:
    """A stored timestamp: SQLite gives UTC text without an offset, PostgreSQL an aware one."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)
