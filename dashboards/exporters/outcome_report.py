"""Outcome report: one row per episode in the period, with its NHS Talking Therapies outcome."""

from __future__ import annotations

import math
from collections.abc import Iterator

from django.contrib.auth import get_user_model
from django.db.models import Q

from dashboards.exporters.base import Exporter
from dashboards.report_selectors import episode_frame
from dashboards.reports import episode_outcomes

#: Episodes per database round trip: bounds the memory of a large export.
BATCH = 2000

HEADER = [
    "client_label",
    "therapist",
    "started_on",
    "ended_on",
    "end_reason",
    "attended_sessions",
    "ended_in_period",
    "finished",
    "dropout",
    "phq9_first",
    "phq9_last",
    "gad7_first",
    "gad7_last",
    "case_at_start",
    "recovered",
    "reliable_improvement",
    "reliable_deterioration",
    "reliable_recovery",
]


class OutcomeReportExporter(Exporter):
    identifier = "outcome_report"
    verbose_name = "Outcome report (one row per episode)"
    description = (
        "Every episode open during the period, with its first and last paired PHQ-9/GAD-7 and "
        "its NHS Talking Therapies outcome where it finished in the period."
    )

    def _episodes(self):
        period = self.period
        return (
            self.scope.episodes()
            .filter(started_on__lte=period.end)
            .filter(Q(ended_on__isnull=True) | Q(ended_on__gte=period.start))
        )

    def count(self) -> int:
        return self._episodes().count()

    def iterate_rows(self) -> Iterator[list]:
        yield HEADER
        names: dict[int, str] = {}
        # Keyset pages, each read whole: no cursor stays open while the base class writes the
        # progress between rows (on SQLite an open read and a second writer end in "database is
        # locked").
        episodes = self._episodes().order_by("pk").values_list("pk", flat=True)
        last = 0
        while batch := list(episodes.filter(pk__gt=last)[:BATCH]):
            last = batch[-1]
            yield from self._rows(batch, names)

    def _rows(self, episode_ids: list[int], names: dict[int, str]) -> Iterator[list]:
        episodes = self.scope.episodes().filter(pk__in=episode_ids)
        frame = episode_frame(episodes=episodes, clinic=self.scope.clinic)
        flags = episode_outcomes(frame, start=self.period.start, end=self.period.end)
        labels = dict(episodes.values_list("pk", "client__label"))
        missing = set(frame["therapist_id"]) - set(names)
        for user in get_user_model().objects.filter(pk__in=missing):
            names[user.pk] = user.get_full_name() or user.get_username()
        frame = frame.join(flags.drop(columns=["therapist_id", *_SCORES]))
        for episode in frame.sort_values("episode_id").itertuples(index=False):
            paired = bool(episode.paired)
            yield [
                labels[episode.episode_id],
                names[episode.therapist_id],
                episode.started_on.date(),
                None if _missing(episode.ended_on) else episode.ended_on.date(),
                episode.end_reason,
                int(episode.attended_sessions),
                bool(episode.ended),
                bool(episode.finished),
                bool(episode.dropout),
                _score(episode.phq9_first),
                _score(episode.phq9_last),
                _score(episode.gad7_first),
                _score(episode.gad7_last),
                bool(episode.case) if paired else None,
                bool(episode.recovered) if episode.case else None,
                bool(episode.reliable_improvement) if paired else None,
                bool(episode.reliable_deterioration) if paired else None,
                bool(episode.reliably_recovered) if episode.case else None,
            ]


_SCORES = ["phq9_first", "phq9_last", "gad7_first", "gad7_last"]


def _missing(value) -> bool:
    return value is None or value != value  # NaT and NaN are not equal to themselves


def _score(value):
    return None if value is None or math.isnan(value) else float(value)
