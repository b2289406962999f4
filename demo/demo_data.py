"""Deterministic synthetic clinic for the demo, tests and benchmarks.

A pure generator: numpy, pandas and the standard library only, no Django. ``generate_clinic``
returns plain dataclasses; the ``seed_demo`` management command turns them into rows with bulk
inserts, and ``to_frames`` turns them into DataFrames for benchmarks and tests.

Every client is a pseudonym ("C-0042", client0042@example.org); no realistic names anywhere.

Where the numbers come from (see /work/shared/CLINICAL.md):

- Intake PHQ-9 ~ N(16.41, 5.65) and GAD-7 ~ N(14.53, 4.43): Saunders et al. 2019 (N = 4,394).
  Their correlation (0.7) is a local choice for realism; no source is claimed for it.
- Responders follow the continuous default expected-recovery curve of CLINICAL.md §4
  (derived from Saunders et al. 2019, NHS Digital 2017-18, Wakefield et al. 2021 and
  Delgadillo et al. 2014; the shape is Finch, Lambert & Schaalje 2001):
  y(t) = x0 + ((a + c·x0) − x0)·ln t / ln 7, t = 1 at intake, held flat after t = 12.
- Reliable change 6 points on PHQ-9 (NHS Talking Therapies Manual) is what deteriorators exceed.
- Deteriorators start at PHQ-9 caseness (>= 10, NHS Talking Therapies Manual) or above, so the
  expected-recovery curve watches them (it applies from caseness up).
- Session rating < 36 or a drop from the previous rating is an alliance concern (CLINICAL.md §1,
  after the SRS cutoff of Duncan 2003); ruptures are built to cross it.
- A finished course needs at least 2 attended sessions (NHS Talking Therapies); dropouts have fewer.

Why one long module (~900 lines): one seeded random stream is threaded through every step in a
fixed order, and the demo, tests and benchmarks rely on the exact numbers; the steps read as one
story top to bottom. Split it only along that order.

Everything else (noise sizes, shares of archetypes, attendance and completion rates) is a local
choice that makes the demo look plausible; none of it is a clinical claim.
"""

from __future__ import annotations

import gc
import math
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, fields
from datetime import UTC, date, datetime

import numpy as np
import pandas as pd

PHQ9 = "phq9"
GAD7 = "gad7"
SESSION_RATING = "session_rating"

IMPROVER = "improver"
WORSE_BEFORE_BETTER = "worse_before_better"
NON_RESPONDER = "non_responder"
DETERIORATOR = "deteriorator"
DROPOUT = "dropout"
RUPTURE = "rupture"
DISENGAGED = "disengaged"
RISK = "risk"

# Share of clients per archetype. Counts are allocated exactly (largest remainder), so the
# default 60 clients always give 27/6/7/4/5/4/4/3 in this order.
ARCHETYPE_SHARES: dict[str, float] = {
    IMPROVER: 0.45,
    WORSE_BEFORE_BETTER: 0.10,
    NON_RESPONDER: 0.12,
    DETERIORATOR: 0.07,
    DROPOUT: 0.08,
    RUPTURE: 0.06,
    DISENGAGED: 0.07,
    RISK: 0.05,
}

# What each archetype guarantees; tests/unit/test_demo_data.py checks every line.
ARCHETYPE_CHECKS: dict[str, str] = {
    IMPROVER: "PHQ-9/GAD-7 mean follows the default expected-recovery curve (response factor "
    "~N(1.05, 0.25)) plus noise; a few are transferred mid-course (two episodes, the first "
    "ended 'transfer').",
    WORSE_BEFORE_BETTER: "Rises 3-5 PHQ-9 points above the recovery curve around week 2, then "
    "recovers faster than the curve.",
    NON_RESPONDER: "Flat: response factor between -0.15 and 0.2 of the expected change.",
    DETERIORATOR: "Intake PHQ-9 10-16 (a case, so the curve watches it); at least 6 weeks; "
    "PHQ-9 >= intake + 6 from week 4 on (a completed check-in) and at the last score, so a "
    "reliable-change flag always comes before the last score; the mean is above the red line of "
    "the default curve from week 1, and a not-on-track alert comes before the last score; an "
    "active one answers item 9 (self-harm) at the last score.",
    DROPOUT: "2-4 completed weekly check-ins then 1-2 missed; only the intake session attended; "
    "episode ended 'dropout'.",
    RUPTURE: "At least 6 weeks; one attended session whose rating total is < 36 and at least 8 "
    "points below the previous attended session, repaired over the next two sessions.",
    DISENGAGED: "Active; the last 2-3 weekly check-ins are missed in a row (the one before is "
    "completed).",
    RISK: "Intake PHQ-9 >= 18 with item 9 (self-harm) answered 1 or 2 at intake, sometimes the "
    "next weeks too; a 'risk_review' event on the intake date.",
}

EVENT_KINDS = ("medication_change", "life_event", "risk_review", "therapist_change")
END_REASONS = ("planned", "unplanned", "dropout", "transfer")
STAFF_ROLES = ("therapist", "supervisor", "admin")

TIMEZONES = (
    "Europe/London",
    "Europe/Dublin",
    "Europe/Paris",
    "Europe/Berlin",
    "America/New_York",
    "Australia/Sydney",
)
_TIMEZONE_SHARES = (0.88, 0.04, 0.03, 0.02, 0.02, 0.01)
CLINIC_TIMEZONE = "Europe/London"

# Default expected-recovery parameters, CLINICAL.md §4 (continuous form).
_PHQ_CURVE = (2.58, 0.478)
_GAD_CURVE = (2.40, 0.508)
_PHQ_INTAKE = (16.41, 5.65)  # Saunders et al. 2019
_GAD_INTAKE = (14.53, 4.43)  # Saunders et al. 2019
_INTAKE_CORRELATION = 0.7  # local choice
_PHQ_RELIABLE_CHANGE = 6  # NHS Talking Therapies Manual
_PHQ_CASENESS = 10  # NHS Talking Therapies Manual
_PHQ_WITHOUT_ITEM9 = 24  # items 1-8 hold at most 8 × 3 points

# Relative endorsement of PHQ-9 items 1-8 and GAD-7 items 1-7: sleep, tiredness and worry are
# the most endorsed items in most samples; the exact weights are a local choice.
_PHQ_ITEM_WEIGHTS = np.array([1.0, 1.0, 1.3, 1.35, 0.9, 0.95, 0.85, 0.55])
_GAD_ITEM_WEIGHTS = np.array([1.2, 1.0, 1.25, 1.0, 0.75, 1.05, 0.85])

_MEDICATION_NOTES = (
    "Started antidepressant medication via GP",
    "Antidepressant dose increased",
    "Antidepressant dose reduced",
    "Medication changed by GP",
)
_LIFE_EVENT_NOTES = (
    "Reported a bereavement",
    "Reported a job loss",
    "Reported a relationship breakdown",
    "Moved house",
    "Started a new job",
)


@dataclass(slots=True)
class DemoTeam:
    name: str


@dataclass(slots=True)
class DemoStaff:
    username: str
    display_name: str
    role: str  # "therapist" | "supervisor" | "admin"
    team: int | None  # index into DemoClinic.teams; None for the supervisor and the admin


@dataclass(slots=True)
class DemoClient:
    index: int
    label: str
    email: str
    timezone: str
    language: str
    therapist: int  # index into DemoClinic.staff (therapists come first)
    archetype: str


@dataclass(slots=True)
class DemoEpisode:
    index: int
    client: int
    therapist: int
    start: date
    end: date | None
    end_reason: str | None  # None | "planned" | "unplanned" | "dropout" | "transfer"


@dataclass(slots=True)
class DemoSession:
    episode: int
    date: date
    attended: bool


@dataclass(slots=True)
class DemoEvent:
    episode: int
    date: date
    kind: str
    note: str


@dataclass(slots=True)
class DemoAdministration:
    episode: int
    instrument: str  # "phq9" | "gad7" | "session_rating"
    administered_at: datetime  # aware, UTC
    answers: list[int]  # item order; PHQ-9 has 10 (item 10 = unscored difficulty)


@dataclass(slots=True)
class DemoMissedCheckin:
    episode: int
    due_at: datetime  # aware, UTC


@dataclass(slots=True)
class DemoClinic:
    seed: int
    today: date
    teams: list[DemoTeam]
    staff: list[DemoStaff]
    clients: list[DemoClient]
    episodes: list[DemoEpisode]
    sessions: list[DemoSession]
    events: list[DemoEvent]
    administrations: list[DemoAdministration]
    missed_checkins: list[DemoMissedCheckin]


def generate_clinic(
    *,
    clients: int = 60,
    weeks: tuple[int, int] = (4, 30),
    seed: int = 0,
    start: date | None = None,
    therapists: int = 5,
    teams: int = 2,
) -> DemoClinic:
    """Build a demo clinic whose data runs up to ``start`` (default: today).

    Active episodes started ``weeks`` (inclusive range) before ``start``; ended episodes lasted
    as long and ended up to six months earlier. Archetypes that need time to show their pattern
    get at least 6 weeks even when ``weeks`` allows fewer, and dropouts are 3-6 weeks long.
    The same arguments always give the same clinic.
    """
    if clients < 1 or therapists < 1 or teams < 1:
        raise ValueError("clients, therapists and teams must be at least 1")
    min_weeks, max_weeks = weeks
    if not 1 <= min_weeks <= max_weeks:
        raise ValueError("weeks must be (low, high) with 1 <= low <= high")
    today = start or date.today()
    rng = np.random.default_rng(seed)

    team_list = [DemoTeam(name) for name in _team_names(teams)]
    staff = _staff(therapists, teams)

    archetype_names = list(ARCHETYPE_SHARES)
    archetype = rng.permutation(_allocate(clients, list(ARCHETYPE_SHARES.values())))
    plan = _plan_courses(rng, archetype, min_weeks, max_weeks, therapists)
    grid = _weekly_grid(rng, archetype, plan)
    scores = _scores(rng, archetype, plan, grid)
    with _garbage_collection_paused():
        return _assemble(
            rng, seed, today, team_list, staff, archetype_names, archetype, plan, grid, scores
        )


@contextmanager
def _garbage_collection_paused() -> Iterator[None]:
    # Millions of small acyclic records trigger one full collection after another, which
    # doubles the time of a 50,000-client clinic; none of them can form a cycle.
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def to_frames(demo: DemoClinic) -> dict[str, pd.DataFrame]:
    """One DataFrame per record type; ``administrations`` keeps ``answers`` as lists."""
    tables = {
        "teams": demo.teams,
        "staff": demo.staff,
        "clients": demo.clients,
        "episodes": demo.episodes,
        "sessions": demo.sessions,
        "events": demo.events,
        "administrations": demo.administrations,
        "missed_checkins": demo.missed_checkins,
    }
    frames = {}
    for name, records in tables.items():
        columns = _record_fields(name)
        frames[name] = pd.DataFrame(
            {column: [getattr(record, column) for record in records] for column in columns},
            columns=columns,
        )
    administrations = frames["administrations"]
    administrations["administered_at"] = pd.to_datetime(
        administrations["administered_at"], utc=True
    )
    missed = frames["missed_checkins"]
    missed["due_at"] = pd.to_datetime(missed["due_at"], utc=True)
    return frames


_RECORD_TYPES = {
    "teams": DemoTeam,
    "staff": DemoStaff,
    "clients": DemoClient,
    "episodes": DemoEpisode,
    "sessions": DemoSession,
    "events": DemoEvent,
    "administrations": DemoAdministration,
    "missed_checkins": DemoMissedCheckin,
}


def _record_fields(name: str) -> list[str]:
    return [field.name for field in fields(_RECORD_TYPES[name])]


def _team_names(count: int) -> list[str]:
    names = ["North team", "South team", "East team", "West team"]
    return [names[i] if i < len(names) else f"Team {i + 1}" for i in range(count)]


def _staff(therapists: int, teams: int) -> list[DemoStaff]:
    staff = [
        DemoStaff(f"therapist{i + 1}", f"Therapist {i + 1}", "therapist", i * teams // therapists)
        for i in range(therapists)
    ]
    staff.append(DemoStaff("supervisor", "Clinical Supervisor", "supervisor", None))
    staff.append(DemoStaff("clinicadmin", "Clinic Admin", "admin", None))
    return staff


def _allocate(total: int, shares: list[float]) -> np.ndarray:
    """Archetype codes with exact counts: largest remainder, each archetype at least once
    when there are enough clients."""
    shares_array = np.asarray(shares) / sum(shares)
    counts = np.floor(shares_array * total).astype(int)
    if total >= len(shares):
        counts = np.maximum(counts, 1)
    while counts.sum() > total:
        counts[np.argmax(counts)] -= 1
    remainder = shares_array * total - counts
    for code in np.argsort(-remainder, kind="stable")[: total - counts.sum()]:
        counts[code] += 1
    return np.repeat(np.arange(len(shares)), counts)


@dataclass(slots=True)
class _Plan:
    """One course of care per client, as arrays indexed by client."""

    n_weeks: np.ndarray
    ended: np.ndarray
    end_reason: np.ndarray  # object array of str | None
    gap_days: np.ndarray  # days from the last session to today
    transfer_week: np.ndarray  # week the second episode starts, or n_weeks when none
    therapist: np.ndarray  # therapist of the first episode
    second_therapist: np.ndarray
    timezone: np.ndarray
    checkin_minute: np.ndarray  # local minute of day the weekly reminder is due
    session_minute: np.ndarray  # clinic-local minute of day of the weekly session
    dropout_checkins: np.ndarray
    disengaged_misses: np.ndarray
    rupture_week: np.ndarray  # -1 when none


def _codes(*names: str) -> list[int]:
    order = list(ARCHETYPE_SHARES)
    return [order.index(name) for name in names]


def _is(archetype: np.ndarray, *names: str) -> np.ndarray:
    return np.isin(archetype, _codes(*names))


def _choose_exactly(
    rng: np.random.Generator, mask: np.ndarray, share: float, minimum: int = 0
) -> np.ndarray:
    """Mark round(share · count) of the True positions (at least ``minimum``), at random."""
    chosen = np.zeros(mask.size, dtype=bool)
    positions = np.flatnonzero(mask)
    count = min(max(round(share * positions.size), minimum), positions.size)
    chosen[rng.choice(positions, size=count, replace=False)] = True
    return chosen


def _plan_courses(
    rng: np.random.Generator,
    archetype: np.ndarray,
    min_weeks: int,
    max_weeks: int,
    therapists: int,
) -> _Plan:
    n = archetype.size
    n_weeks = rng.integers(min_weeks, max_weeks + 1, size=n)
    n_weeks[_is(archetype, DETERIORATOR, RUPTURE)] = np.maximum(
        n_weeks[_is(archetype, DETERIORATOR, RUPTURE)], 6
    )
    n_weeks[_is(archetype, DISENGAGED)] = np.maximum(n_weeks[_is(archetype, DISENGAGED)], 5)

    dropout = _is(archetype, DROPOUT)
    dropout_checkins = rng.integers(2, 5, size=n)
    n_weeks[dropout] = dropout_checkins[dropout] + rng.integers(1, 3, size=n)[dropout]

    disengaged_misses = rng.integers(2, 4, size=n)

    ended = dropout.copy()
    ended |= _choose_exactly(rng, _is(archetype, DETERIORATOR), 0.5)
    ended |= _choose_exactly(
        rng, _is(archetype, IMPROVER, WORSE_BEFORE_BETTER, NON_RESPONDER, RUPTURE, RISK), 0.3
    )
    # A finished course needs two attended sessions (the intake and the last), so two weeks.
    n_weeks[ended & ~dropout] = np.maximum(n_weeks[ended & ~dropout], 2)
    end_reason = np.full(n, None, dtype=object)
    end_reason[ended] = "planned"
    end_reason[_choose_exactly(rng, ended & ~dropout, 0.2)] = "unplanned"
    end_reason[dropout] = "dropout"
    # Active courses had their last session 2-6 days ago, so the next check-in is still ahead.
    gap_days = np.where(ended, rng.integers(7, 183, size=n), rng.integers(2, 7, size=n))

    # A few active improvers change therapist mid-course: two episodes, the first "transfer".
    transferable = _is(archetype, IMPROVER) & ~ended & (n_weeks >= 8)
    transfer = _choose_exactly(rng, transferable, 0.06, minimum=1)
    transfer_week = np.where(transfer, 3 + (rng.random(n) * (n_weeks - 5)).astype(int), n_weeks)

    therapist = rng.permutation(np.arange(n) % therapists)
    second_therapist = (therapist + rng.integers(1, max(therapists, 2), size=n)) % therapists

    timezone = rng.choice(len(TIMEZONES), size=n, p=_TIMEZONE_SHARES)
    checkin_minute = rng.choice([7 * 60, 8 * 60, 12 * 60, 18 * 60, 19 * 60, 20 * 60], size=n)
    checkin_minute += rng.choice([0, 15, 30, 45], size=n)
    session_minute = rng.integers(9, 18, size=n) * 60

    rupture_week = np.where(
        _is(archetype, RUPTURE), 2 + (rng.random(n) * (n_weeks - 4)).astype(int), -1
    )
    return _Plan(
        n_weeks=n_weeks,
        ended=ended,
        end_reason=end_reason,
        gap_days=gap_days,
        transfer_week=transfer_week,
        therapist=therapist,
        second_therapist=second_therapist,
        timezone=timezone,
        checkin_minute=checkin_minute,
        session_minute=session_minute,
        dropout_checkins=dropout_checkins,
        disengaged_misses=disengaged_misses,
        rupture_week=rupture_week,
    )


@dataclass(slots=True)
class _Grid:
    """Client × week matrices; cells at week >= n_weeks are padding."""

    week: np.ndarray  # (1, W)
    valid: np.ndarray
    completed: np.ndarray  # weekly PHQ-9 + GAD-7 check-in filled in
    attended: np.ndarray


def _weekly_grid(rng: np.random.Generator, archetype: np.ndarray, plan: _Plan) -> _Grid:
    n = archetype.size
    width = int(plan.n_weeks.max())
    week = np.arange(width)[None, :]
    last = (plan.n_weeks - 1)[:, None]
    valid = week <= last

    completed = rng.random((n, width)) < 0.9
    attended = rng.random((n, width)) < 0.9
    completed[:, 0] = True
    attended[:, 0] = True
    completed |= week == last
    # Finished courses need >= 2 attended sessions: the intake and the last one.
    attended |= (week == last) & plan.ended[:, None]

    deteriorator = _is(archetype, DETERIORATOR)[:, None]
    completed |= deteriorator & (week == 4)

    dropout = _is(archetype, DROPOUT)[:, None]
    completed = np.where(dropout, week < plan.dropout_checkins[:, None], completed)
    attended = np.where(dropout, week == 0, attended)

    disengaged = _is(archetype, DISENGAGED)[:, None]
    first_miss = (plan.n_weeks - plan.disengaged_misses)[:, None]
    completed = np.where(disengaged & (week >= first_miss), False, completed)
    completed |= disengaged & (week == first_miss - 1)
    attended = np.where(disengaged & (week >= first_miss), rng.random((n, width)) < 0.5, attended)

    rupture = plan.rupture_week[:, None]
    attended |= (rupture >= 0) & (np.abs(week - rupture) <= 1)
    return _Grid(week=week, valid=valid, completed=completed & valid, attended=attended & valid)


@dataclass(slots=True)
class _Scores:
    phq_total: np.ndarray  # (n, W) int
    gad_total: np.ndarray
    phq_item9: np.ndarray
    rating: np.ndarray  # (n, W, 4) int


def _scores(rng: np.random.Generator, archetype: np.ndarray, plan: _Plan, grid: _Grid) -> _Scores:
    n = archetype.size
    width = grid.week.shape[1]
    week = grid.week
    t = week + 1.0
    curve = np.log(np.minimum(t, 12.0)) / math.log(7.0)  # flat after t = 12 (CLINICAL.md §4)

    phq0, gad0 = _intakes(rng, archetype)
    phq_change = (_PHQ_CURVE[0] + _PHQ_CURVE[1] * phq0) - phq0
    gad_change = (_GAD_CURVE[0] + _GAD_CURVE[1] * gad0) - gad0

    response = np.clip(rng.normal(1.05, 0.25, n), 0.5, 1.6)
    response = np.where(_is(archetype, WORSE_BEFORE_BETTER), 1.15 * response, response)
    response = np.where(_is(archetype, NON_RESPONDER), rng.uniform(-0.15, 0.2, n), response)
    response = np.where(_is(archetype, DROPOUT), np.clip(rng.normal(0.8, 0.3, n), 0, 2), response)
    response = np.where(_is(archetype, RUPTURE), np.clip(rng.normal(0.95, 0.2, n), 0, 2), response)
    response = np.where(_is(archetype, DISENGAGED), rng.uniform(0.2, 0.7, n), response)
    response = np.where(_is(archetype, RISK), np.clip(rng.normal(1.0, 0.2, n), 0, 2), response)
    response = np.where(_is(archetype, DETERIORATOR), 0.0, response)[:, None]

    phq_mean = phq0[:, None] + response * phq_change[:, None] * curve
    gad_mean = gad0[:, None] + response * gad_change[:, None] * curve

    dip = np.where(_is(archetype, WORSE_BEFORE_BETTER), rng.uniform(3, 5, n), 0.0)[:, None]
    bump = np.exp(-(((week - 2) / 1.0) ** 2))
    phq_mean = phq_mean + dip * bump
    gad_mean = gad_mean + 0.7 * dip * bump

    worsening = np.where(_is(archetype, DETERIORATOR), rng.uniform(7, 10, n), 0.0)
    worsening = np.minimum(worsening, _PHQ_WITHOUT_ITEM9 - phq0)[:, None]
    rise = np.minimum(np.log(t) / math.log(5.0), 1.0)
    phq_mean = phq_mean + worsening * rise
    gad_mean = gad_mean + 0.6 * worsening * rise

    stall = (plan.rupture_week[:, None] >= 0) & (
        (week == plan.rupture_week[:, None]) | (week == plan.rupture_week[:, None] + 1)
    )
    phq_mean = phq_mean + 2.0 * stall
    gad_mean = gad_mean + 1.5 * stall

    phq_noise, gad_noise = _weekly_noise(rng, n, width)
    # Above 24 a PHQ-9 total needs item 9 (self-harm) answered; only the risk archetype goes
    # there, so risk answers stay rare outside it.
    phq_ceiling = np.where(_is(archetype, RISK), 27, _PHQ_WITHOUT_ITEM9)[:, None]
    phq = np.clip(np.rint(phq_mean + phq_noise), 0, phq_ceiling).astype(np.int64)
    gad = np.clip(np.rint(gad_mean + gad_noise), 0, 21).astype(np.int64)

    # Deteriorators: reliably worse (>= 6, NHS Talking Therapies) from week 4 on, and week 4
    # is always completed, so a red flag precedes the last score.
    floor = (phq0 + _PHQ_RELIABLE_CHANGE).astype(np.int64)[:, None]
    deteriorating = _is(archetype, DETERIORATOR)[:, None] & (week >= 4)
    phq = np.where(deteriorating, np.maximum(phq, floor), phq)

    item9 = _item9(rng, archetype, phq, week)
    # Worsening clients sometimes first disclose self-harm thoughts late: an active deteriorator
    # answers item 9 at their latest form, so the demo opens on a live risk alert, not only on
    # risk answered weeks ago and long since reviewed.
    latest = deteriorating & ~plan.ended[:, None] & (week == (plan.n_weeks - 1)[:, None])
    item9 = np.where(latest, np.maximum(item9, 1), item9)
    rating = _session_ratings(rng, n, width, plan)
    return _Scores(phq_total=phq, gad_total=gad, phq_item9=item9, rating=rating)


def _intakes(rng: np.random.Generator, archetype: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    n = archetype.size
    # Deteriorators start at PHQ-9 caseness (>= 10, NHS Talking Therapies) or above: below it the
    # expected-recovery curve does not watch a client, so only the reliable-change rule could flag.
    low = np.select(
        [_is(archetype, DETERIORATOR), _is(archetype, RISK)], [_PHQ_CASENESS, 18], default=3
    ).astype(float)
    high = np.select(
        [_is(archetype, DETERIORATOR), _is(archetype, RISK)], [16, 27], default=_PHQ_WITHOUT_ITEM9
    ).astype(float)
    phq0 = np.clip(np.rint(rng.normal(*_PHQ_INTAKE, n)), low, high)
    # Draw GAD-7 conditionally on the (clipped) PHQ-9 so the correlation survives clipping.
    z_phq = (phq0 - _PHQ_INTAKE[0]) / _PHQ_INTAKE[1]
    rho = _INTAKE_CORRELATION
    z_gad = rho * z_phq + math.sqrt(1 - rho**2) * rng.standard_normal(n)
    gad0 = np.clip(np.rint(_GAD_INTAKE[0] + _GAD_INTAKE[1] * z_gad), 0, 21)
    return phq0, gad0


def _weekly_noise(rng: np.random.Generator, n: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    """AR(1) week-to-week noise, correlated across PHQ-9 and GAD-7; zero at intake."""
    phi, rho = 0.4, 0.5
    shared = rng.standard_normal((n, width))
    own = rng.standard_normal((n, width))
    innovations_phq = 2.2 * math.sqrt(1 - phi**2) * shared
    innovations_gad = 1.9 * math.sqrt(1 - phi**2) * (rho * shared + math.sqrt(1 - rho**2) * own)
    phq = np.zeros((n, width))
    gad = np.zeros((n, width))
    for column in range(1, width):
        phq[:, column] = phi * phq[:, column - 1] + innovations_phq[:, column]
        gad[:, column] = phi * gad[:, column - 1] + innovations_gad[:, column]
    return phq, gad


def _item9(
    rng: np.random.Generator, archetype: np.ndarray, phq: np.ndarray, week: np.ndarray
) -> np.ndarray:
    """PHQ-9 item 9 (self-harm thoughts): 0 except for the risk archetype, rare when severe."""
    n, width = phq.shape
    item9 = np.zeros((n, width), dtype=np.int64)
    severe = (phq >= 20) & (rng.random((n, width)) < 0.02)
    item9[severe] = 1
    risk = _is(archetype, RISK)[:, None]
    at_intake = risk & (week == 0)
    item9 = np.where(at_intake, np.where(rng.random((n, 1)) < 0.6, 1, 2), item9)
    lingering = risk & (week >= 1) & (week <= 2) & (phq >= 10) & (rng.random((n, width)) < 0.5)
    item9[lingering] = 1
    # Items 1-8 hold at most 24 points; the rest has to be on item 9.
    return np.minimum(np.maximum(item9, phq - 24), phq)


def _session_ratings(rng: np.random.Generator, n: int, width: int, plan: _Plan) -> np.ndarray:
    """Four 0-10 items that mostly sit high and creep up, as alliance ratings do."""
    level = rng.normal(9.3, 0.5, n)[:, None]
    base = np.clip(np.rint(level + rng.normal(0, 0.4, (n, 4))), 5, 10)
    draws = rng.random((n, width, 4))
    steps = np.where(draws < 0.12, 1, np.where(draws > 0.97, -1, 0))
    steps[:, 0, :] = 0
    rating = np.clip(base[:, None, :] + np.cumsum(steps, axis=1), 0, 10)

    rows = np.flatnonzero(plan.rupture_week >= 0)
    if rows.size:
        weeks = plan.rupture_week[rows]
        drop = rng.integers(2, 5, size=(rows.size, 4))
        previous = rating[rows, weeks - 1, :]
        rating[rows, weeks, :] = np.maximum(previous - drop, 0)
        rating[rows, weeks + 1, :] = np.maximum(rating[rows, weeks + 1, :] - drop // 2, 0)
    return rating.astype(np.int64)


def _distribute(
    rng: np.random.Generator, totals: np.ndarray, weights: np.ndarray, profile: np.ndarray
) -> np.ndarray:
    """Spread each row's total over items scored 0-3, exactly.

    Each item's three levels are arrival times of a Poisson process whose rate is the item's
    weight; the ``total`` earliest arrivals across all items are taken. Within an item level 2
    always arrives after level 1, so the answers are valid and more endorsed items fill first.
    """
    rows, items = totals.size, weights.size
    rate = weights[None, :] * profile
    arrivals = np.cumsum(rng.exponential(size=(rows, items, 3)), axis=2) / rate[:, :, None]
    arrivals = arrivals.reshape(rows, items * 3)
    ordered = np.sort(arrivals, axis=1)
    threshold = np.where(totals > 0, ordered[np.arange(rows), np.maximum(totals - 1, 0)], -np.inf)
    taken = arrivals <= threshold[:, None]
    return taken.reshape(rows, items, 3).sum(axis=2)


def _local_to_utc(local: np.ndarray, timezone: np.ndarray) -> np.ndarray:
    """Naive local datetime64[s] → naive UTC datetime64[s], per time zone code."""
    utc = np.empty_like(local)
    for code in np.unique(timezone):
        mask = timezone == code
        zoned = pd.DatetimeIndex(local[mask]).tz_localize(
            TIMEZONES[code],
            ambiguous=np.ones(int(mask.sum()), dtype=bool),
            nonexistent="shift_forward",
        )
        utc[mask] = zoned.tz_convert("UTC").tz_localize(None).to_numpy().astype("datetime64[s]")
    return utc


def _as_utc_datetimes(values: np.ndarray) -> list[datetime]:
    return pd.DatetimeIndex(values).tz_localize(UTC).to_pydatetime().tolist()


def _as_dates(values: np.ndarray) -> list[date]:
    return values.astype("datetime64[D]").astype(object).tolist()


def _assemble(
    rng: np.random.Generator,
    seed: int,
    today: date,
    team_list: list[DemoTeam],
    staff: list[DemoStaff],
    archetype_names: list[str],
    archetype: np.ndarray,
    plan: _Plan,
    grid: _Grid,
    scores: _Scores,
) -> DemoClinic:
    n = archetype.size
    today64 = np.datetime64(today, "D")
    last_session = today64 - plan.gap_days.astype("timedelta64[D]")
    course_start = last_session - ((plan.n_weeks - 1) * 7).astype("timedelta64[D]")

    # Episodes: one per client, two for transfers (the second starts at the transfer week).
    transferred = plan.transfer_week < plan.n_weeks
    episodes_per_client = 1 + transferred
    first_episode = np.concatenate([[0], np.cumsum(episodes_per_client)[:-1]])

    width = len(str(n)) if n >= 10_000 else 4
    client_records = [
        DemoClient(
            index=i,
            label=f"C-{i + 1:0{width}d}",
            email=f"client{i + 1:0{width}d}@example.org",
            timezone=TIMEZONES[tz],
            language="en",
            therapist=int(second if moved else first),
            archetype=archetype_names[code],
        )
        for i, (tz, first, second, moved, code) in enumerate(
            zip(
                plan.timezone.tolist(),
                plan.therapist.tolist(),
                plan.second_therapist.tolist(),
                transferred.tolist(),
                archetype.tolist(),
                strict=True,
            )
        )
    ]

    starts = _as_dates(course_start)
    ends = _as_dates(last_session)
    transfer_dates = _as_dates(course_start + (plan.transfer_week * 7).astype("timedelta64[D]"))
    handover_dates = _as_dates(
        course_start + ((plan.transfer_week - 1) * 7).astype("timedelta64[D]")
    )
    episode_records: list[DemoEpisode] = []
    for i in range(n):
        if transferred[i]:
            episode_records.append(
                DemoEpisode(
                    len(episode_records),
                    i,
                    int(plan.therapist[i]),
                    starts[i],
                    handover_dates[i],
                    "transfer",
                )
            )
            episode_records.append(
                DemoEpisode(
                    len(episode_records),
                    i,
                    int(plan.second_therapist[i]),
                    transfer_dates[i],
                    None,
                    None,
                )
            )
        else:
            ended = bool(plan.ended[i])
            episode_records.append(
                DemoEpisode(
                    len(episode_records),
                    i,
                    int(plan.therapist[i]),
                    starts[i],
                    ends[i] if ended else None,
                    plan.end_reason[i] if ended else None,
                )
            )

    # Flatten the valid client × week cells (row-major: by client, then week).
    client_of, week_of = np.nonzero(grid.valid)
    episode_of = first_episode[client_of] + (week_of >= plan.transfer_week[client_of])
    session_day = course_start[client_of] + (week_of * 7).astype("timedelta64[D]")
    session_local = session_day.astype("datetime64[s]") + (
        plan.session_minute[client_of] * 60
    ).astype("timedelta64[s]")
    session_utc = _local_to_utc(
        session_local, np.full(client_of.size, TIMEZONES.index(CLINIC_TIMEZONE))
    )
    attended = grid.attended[client_of, week_of]
    session_records = [
        DemoSession(e, d, a)
        for e, d, a in zip(
            episode_of.tolist(), _as_dates(session_day), attended.tolist(), strict=True
        )
    ]

    # Weekly check-ins are due on the weekday the episode started, at the client's own fixed
    # local time; the intake forms are filled in the waiting room before the first session.
    due_local = session_day.astype("datetime64[s]") + (plan.checkin_minute[client_of] * 60).astype(
        "timedelta64[s]"
    )
    due_utc = _local_to_utc(due_local, plan.timezone[client_of])
    delay = np.minimum(rng.exponential(90.0, client_of.size), 8 * 60).astype(np.int64)
    filled_at = np.where(
        week_of == 0,
        session_utc - np.timedelta64(15 * 60, "s"),
        due_utc + (delay * 60).astype("timedelta64[s]"),
    )
    completed = grid.completed[client_of, week_of]
    missed = ~completed & (week_of > 0)
    missed_records = [
        DemoMissedCheckin(e, due)
        for e, due in zip(
            episode_of[missed].tolist(), _as_utc_datetimes(due_utc[missed]), strict=True
        )
    ]

    done = np.flatnonzero(completed)
    phq_total = scores.phq_total[client_of[done], week_of[done]]
    item9 = scores.phq_item9[client_of[done], week_of[done]]
    phq_profile = rng.gamma(4.0, 0.25, size=(n, 8))[client_of[done]]
    phq_items = _distribute(rng, phq_total - item9, _PHQ_ITEM_WEIGHTS, phq_profile)
    difficulty = np.clip(
        np.digitize(phq_total, [5, 15, 20]) + rng.choice([-1, 0, 0, 0, 1], done.size), 0, 3
    )
    phq_answers = np.column_stack([phq_items, item9, difficulty])

    gad_total = scores.gad_total[client_of[done], week_of[done]]
    gad_profile = rng.gamma(4.0, 0.25, size=(n, 7))[client_of[done]]
    gad_answers = _distribute(rng, gad_total, _GAD_ITEM_WEIGHTS, gad_profile)

    rated = np.flatnonzero(attended)
    rating_answers = scores.rating[client_of[rated], week_of[rated]]
    rating_at = session_utc[rated] + np.timedelta64(50 * 60, "s")

    administration_episode = np.concatenate([episode_of[done], episode_of[done], episode_of[rated]])
    # PHQ-9 and GAD-7 are one form, submitted together: same timestamp.
    administration_at = np.concatenate([filled_at[done], filled_at[done], rating_at])
    instrument_code = np.repeat([0, 1, 2], [done.size, done.size, rated.size])
    answers = phq_answers.tolist() + gad_answers.tolist() + rating_answers.tolist()
    order = np.lexsort((instrument_code, administration_at, administration_episode))
    instruments = (PHQ9, GAD7, SESSION_RATING)
    at_list = _as_utc_datetimes(administration_at[order])
    administration_records = [
        DemoAdministration(e, instruments[code], at, answers[position])
        for e, code, at, position in zip(
            administration_episode[order].tolist(),
            instrument_code[order].tolist(),
            at_list,
            order.tolist(),
            strict=True,
        )
    ]

    event_records = _events(rng, archetype, plan, first_episode, course_start, transferred)
    return DemoClinic(
        seed=seed,
        today=today,
        teams=team_list,
        staff=staff,
        clients=client_records,
        episodes=episode_records,
        sessions=session_records,
        events=event_records,
        administrations=administration_records,
        missed_checkins=missed_records,
    )


def _events(
    rng: np.random.Generator,
    archetype: np.ndarray,
    plan: _Plan,
    first_episode: np.ndarray,
    course_start: np.ndarray,
    transferred: np.ndarray,
) -> list[DemoEvent]:
    n = archetype.size
    medication = rng.random(n) < 0.15
    medication_week = (rng.random(n) * plan.n_weeks).astype(int)
    medication_note = rng.integers(0, len(_MEDICATION_NOTES), n)
    # Deteriorations often follow a life event; improvers have them too, less often.
    life_event = rng.random(n) < np.where(_is(archetype, DETERIORATOR), 0.6, 0.08)
    life_week = np.where(
        _is(archetype, DETERIORATOR), 1, (rng.random(n) * plan.n_weeks).astype(int)
    )
    life_note = rng.integers(0, len(_LIFE_EVENT_NOTES), n)
    days_before = rng.integers(0, 4, n)
    risk = _is(archetype, RISK)

    def on_week(client: int, week: int, shift: int = 0) -> tuple[int, date]:
        episode = int(first_episode[client]) + int(week >= plan.transfer_week[client])
        if week == plan.transfer_week[client]:
            shift = 0  # keep the event inside the second episode
        day = course_start[client] + np.timedelta64(7 * int(week) - shift, "D")
        return episode, day.astype(object)

    events = []
    for client in np.flatnonzero(medication | life_event | risk | transferred).tolist():
        if risk[client]:
            episode, day = on_week(client, 0)
            events.append(
                DemoEvent(
                    episode, day, "risk_review", "Risk assessed at intake; safety plan agreed"
                )
            )
        if medication[client]:
            week = int(medication_week[client])
            episode, day = on_week(client, week, int(days_before[client]) if week else 0)
            events.append(
                DemoEvent(
                    episode, day, "medication_change", _MEDICATION_NOTES[medication_note[client]]
                )
            )
        if life_event[client]:
            week = int(life_week[client])
            episode, day = on_week(client, week, int(days_before[client]) if week else 0)
            events.append(
                DemoEvent(episode, day, "life_event", _LIFE_EVENT_NOTES[life_note[client]])
            )
        if transferred[client]:
            episode, day = on_week(client, int(plan.transfer_week[client]))
            events.append(
                DemoEvent(episode, day, "therapist_change", "Care transferred to a new therapist")
            )
    events.sort(key=lambda event: (event.episode, event.date))
    return events
