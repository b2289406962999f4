"""Run the alert rules over episodes and store what they find: alerts, statuses, "evaluated".

The rules are pure (``measures.rules``); this module only loads, calls and saves, for one
episode (the task queued after each submission) or a chunk of thousands (the periodic sweeps),
with the same code path and a fixed number of queries per chunk, whatever its size:

1. lock the chunk's episode rows (``SELECT ... FOR NO KEY UPDATE`` in id order, so two sweeps
   or a sweep and a submission task take turns instead of interleaving; SQLite serialises
   writers anyway), and with ``only_changed`` drop those with nothing new since their last
   evaluation (see "The mark" below);
2. read, in this order, every administration of the episodes and check-in as DataFrames, then
   the alerts that already exist. The order matters:
   a risk alert is committed together with its administration (``administration_record``), so
   every administration read here has its alert visible to the later read, and the sweep never
   mistakes the submission's alert for its own;
3. per clinic, build ``RuleSettings`` from the Clinic row and its fitted curves, and call
   ``rules.evaluate``;
4. insert the alerts that did not exist with ``INSERT ... ON CONFLICT DO NOTHING RETURNING`` on
   the unique (episode, rule, trigger), audit and notify exactly the rows it returns (on
   PostgreSQL alerts and audit events are one statement), update the statuses that changed, and
   clear the episodes' mark (``rules_pending_since``) with their evaluation stamp.

The mark. Storing a form sets ``Episode.rules_pending_since`` in the form's own transaction with
an UPDATE of the episode row (``outcomes.services.administrations_store``); the evaluation clears
it while holding that row's lock from step 1, which conflicts with the UPDATE's. So either the
form's transaction updated the row first, and the evaluation's lock waited for it to commit and
every read after the lock sees the form; or the evaluation locked first, the form's UPDATE waited
for the evaluation to commit and set the mark again afterwards. No form is left unread with the
mark clear. The lock is FOR NO KEY UPDATE, not FOR UPDATE: it still conflicts with that UPDATE
(and with another evaluation's lock), but not with the FOR KEY SHARE lock a foreign-key check
takes, so inserting a check-in, session or audit row of a locked episode does not wait behind a
sweep chunk.

The reads and writes avoid a Python object per value where rows come by the hundred thousand (a
first sweep, a full re-run): on PostgreSQL the frames are read with ``COPY`` and parsed by pandas,
and many new alerts or statuses are written through a temporary table filled by ``COPY``.

Running it twice, or concurrently, creates nothing new: the trigger names the administration or
check-in that began the alert, so a new worsening after a resolved alert has a new trigger and
raises a new alert, while the same worsening never raises a second one.
"""

import hashlib
import io
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta

import numpy as np
import pandas as pd
from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone

from audit.models import AuditEvent
from clients.models import CheckIn, CheckInKind, CheckInStatus, Clinic, Episode, EpisodeStatus
from measures import rules
from measures.instruments import get_instrument
from outcomes.curves import clinics_curve_overrides, clinics_rule_inputs
from outcomes.models import Administration, Alert

# Episodes per sweep task: ~120,000 administrations, under a second of a full re-evaluation
# (the time a submission task for one of its episodes may wait on the lock; a cold chunk about
# 2 s) and some MB of memory, small enough that many workers share a sweep evenly. Not smaller:
# ``rules.evaluate`` has a fixed cost of 30-50 ms per call (pandas per operation, not per
# row), which at 2,000 episodes was 0.8 s of a 7.2 s full re-evaluation of 50,000
# (bench/sweep_phases.py full, alternated: rules 2.23-2.30 s at 2,000, 1.42-1.53 s at 6,000).
CHUNK_SIZE = 6000
STATUS_BATCH = 500
# New alerts are e-mailed when their event is at most this old: one weekly check-in cycle.
NOTIFY_EVENTS_WITHIN = timedelta(days=7)

# The rules speak of "missed"; a check-in that expired without answers is exactly that.
CHECKIN_STATUS_FOR_RULES = {
    CheckInStatus.COMPLETED: "completed",
    CheckInStatus.EXPIRED: "missed",
    CheckInStatus.PENDING: "pending",
}
# Disengagement is about the weekly symptom check-ins (issue 5): a session rating left unanswered
# after a session the client attended is not a sign of dropping out, and a cancelled check-in
# (plan paused, client opted out) was never the client's to miss.
DISENGAGEMENT_KINDS = (CheckInKind.SCHEDULED, CheckInKind.ONE_OFF)


@dataclass(frozen=True)
class EvaluationSummary:
    episodes: int = 0
    administrations: int = 0
    alerts_created: int = 0
    statuses_changed: int = 0

    def __add__(self, other: "EvaluationSummary") -> "EvaluationSummary":
        return EvaluationSummary(
            episodes=self.episodes + other.episodes,
            administrations=self.administrations + other.administrations,
            alerts_created=self.alerts_created + other.alerts_created,
            statuses_changed=self.statuses_changed + other.statuses_changed,
        )


def episode_evaluate(*, episode_id: int, only_changed: bool = False) -> EvaluationSummary:
    """Evaluate one episode: what the task queued after each submission runs."""
    return episodes_evaluate(episode_ids=[episode_id], only_changed=only_changed)


def episodes_evaluate(
    *, episode_ids: Iterable[int], now=None, only_changed: bool = False
) -> EvaluationSummary:
    """Evaluate episodes in chunks of ``CHUNK_SIZE``, each chunk in its own transaction.

    ``only_changed`` skips, under the row lock, the episodes whose rule inputs did not change
    since their last evaluation (``episode_changed``): a backlog of submission tasks for one
    episode then costs one evaluation, and the tasks after it read nothing but the episode row.
    """
    ids = sorted({int(episode_id) for episode_id in episode_ids})
    summary = EvaluationSummary()
    for start in range(0, len(ids), CHUNK_SIZE):
        summary += _chunk_evaluate(
            ids[start : start + CHUNK_SIZE], now=now or timezone.now(), only_changed=only_changed
        )
    return summary


def episode_changed(episode: "_StoredEpisode", *, fingerprint: str) -> bool:
    """Whether the rules could find something new in the episode since its last evaluation: a
    form stored since (the mark), a check-in expired since or never evaluated (no stamp), or
    its clinic's settings or curves changed (another fingerprint). Nothing else changes what the
    rules return; ``episodes_to_evaluate`` selects by the same three conditions."""
    return episode.pending or not episode.evaluated or episode.rules_fingerprint != fingerprint


def _chunk_evaluate(episode_ids: list[int], *, now, only_changed: bool) -> EvaluationSummary:
    with transaction.atomic():
        episodes = _episodes_lock(episode_ids)
        if not episodes:
            return EvaluationSummary()
        clinics = clinics_rule_inputs(
            clinic_ids=sorted({episode.clinic_id for episode in episodes.values()})
        )
        settings_of = {
            clinic_id: rule_settings(clinic=clinic, curves=curves)
            for clinic_id, (clinic, curves) in clinics.items()
        }
        fingerprints = {
            clinic_id: settings_fingerprint(settings) for clinic_id, settings in settings_of.items()
        }
        if only_changed:
            episodes = {
                pk: episode
                for pk, episode in episodes.items()
                if episode_changed(episode, fingerprint=fingerprints[episode.clinic_id])
            }
            if not episodes:
                return EvaluationSummary()
            in_chunk = {episode.clinic_id for episode in episodes.values()}
            clinics = {pk: clinic for pk, clinic in clinics.items() if pk in in_chunk}
        ids = list(episodes)
        administrations = administrations_frame(episode_ids=ids)
        checkins = checkins_frame(episode_ids=ids)
        existing = _alert_keys(episode_ids=ids)

        alerts, statuses = [], []
        for clinic_id in clinics:
            settings = settings_of[clinic_id]
            clinic_administrations, clinic_checkins = administrations, checkins
            if len(clinics) > 1:
                in_clinic = [
                    pk for pk, episode in episodes.items() if episode.clinic_id == clinic_id
                ]
                clinic_administrations = administrations[
                    administrations["episode_id"].isin(in_clinic)
                ]
                clinic_checkins = checkins[checkins["episode_id"].isin(in_clinic)]
            result = rules.evaluate(
                clinic_administrations,
                clinic_checkins,
                instrument_params(codes=clinic_administrations["instrument"].unique()),
                settings=settings,
            )
            alerts.append(result.alerts)
            statuses.append(result.status)

        created = _alerts_create(
            alerts[0] if len(alerts) == 1 else pd.concat(alerts, ignore_index=True),
            episodes=episodes,
            existing=existing,
            event_times=_EventTimes(administrations, checkins),
            now=now,
        )
        # An episode whose status changed is stamped (and its mark cleared) in the same UPDATE;
        # only the rest need one.
        changed = _statuses_save(statuses, episodes=episodes, fingerprints=fingerprints, now=now)
        # The rest only when their stamp or mark says otherwise: a full re-run with unchanged
        # settings would rewrite every episode row for nothing.
        unstamped = {
            pk: episode
            for pk, episode in episodes.items()
            if pk not in changed
            and episode_changed(episode, fingerprint=fingerprints[episode.clinic_id])
        }
        _episodes_stamp(unstamped, fingerprints=fingerprints, now=now)
    return EvaluationSummary(
        episodes=len(episodes),
        administrations=len(administrations),
        alerts_created=created,
        statuses_changed=len(changed),
    )


def episodes_to_evaluate(*, full: bool = False) -> list[int]:
    """The active episodes whose rule inputs changed since their last evaluation, in clinic and
    id order; every active episode with ``full``.

    An episode's inputs are its administrations, its decided check-ins and its clinic's settings
    and curves. A stored form sets ``Episode.rules_pending_since`` (the mark); an expired
    check-in clears ``Episode.rules_evaluated_at`` in the transaction that expires it; a changed
    setting or refitted curve changes the clinic's fingerprint, so its episodes no longer match.
    Anything else leaves the rules' result as it was, so a steady sweep reads almost nothing.
    """
    active = Episode.objects.filter(ended_on__isnull=True)
    if full:
        return list(active.order_by("clinic_id", "pk").values_list("pk", flat=True))
    clinics = Clinic.objects.filter(pk__in=active.values("clinic_id"))
    curves = clinics_curve_overrides(clinics=clinics)
    # The mark in a query of its own: OR-ed into the other conditions it could not use its
    # partial index.
    stale = Q(rules_evaluated_at__isnull=True)
    for clinic in clinics:
        fingerprint = settings_fingerprint(rule_settings(clinic=clinic, curves=curves[clinic.pk]))
        stale |= Q(clinic_id=clinic.pk) & ~Q(rules_fingerprint=fingerprint)
    clinic_of = dict(active.filter(stale).values_list("pk", "clinic_id"))
    clinic_of.update(
        active.filter(rules_pending_since__isnull=False).values_list("pk", "clinic_id")
    )
    return sorted(clinic_of, key=lambda pk: (clinic_of[pk], pk))


def settings_fingerprint(settings: rules.RuleSettings) -> str:
    """A short digest of everything in the settings the rules read (a frozen dataclass of
    numbers, strings and tuples, so its repr is deterministic)."""
    return hashlib.sha256(repr(settings).encode()).hexdigest()[:32]


def _episodes_stamp(episodes: dict, *, fingerprints: dict, now) -> None:
    by_clinic: dict[int, list[int]] = {}
    for pk, episode in episodes.items():
        by_clinic.setdefault(episode.clinic_id, []).append(pk)
    for clinic_id, ids in by_clinic.items():
        Episode.objects.filter(pk__in=ids).update(
            rules_evaluated_at=now,
            rules_fingerprint=fingerprints[clinic_id],
            rules_pending_since=None,
        )


@dataclass(frozen=True)
class _StoredEpisode:
    pk: int
    clinic_id: int
    client_id: int
    ended: bool
    status: str
    status_reason: str
    evaluated: bool  # rules_evaluated_at is set
    rules_fingerprint: str
    pending: bool  # the mark, rules_pending_since, is set


def _episodes_lock(episode_ids: list[int]) -> dict[int, _StoredEpisode]:
    """Lock the episodes' rows in id order and read what the evaluation needs of them. Raw SQL
    with the ids formatted in and the dates as flags: the ORM's thousands of bound ids and
    per-value date converters were a tenth of a full re-evaluation's own time."""
    lock = " FOR NO KEY UPDATE" if connection.vendor == "postgresql" else ""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT id, clinic_id, client_id, ended_on IS NOT NULL, status, status_reason, "  # noqa: S608
            "rules_evaluated_at IS NOT NULL, rules_fingerprint, rules_pending_since IS NOT NULL "
            f"FROM {Episode._meta.db_table} WHERE {_in_ids('id', episode_ids)} "
            f"ORDER BY id{lock}"
        )
        rows = cursor.fetchall()
    return {
        row[0]: _StoredEpisode(
            *row[:3], bool(row[3]), *row[4:6], bool(row[6]), row[7], bool(row[8])
        )
        for row in rows
    }


def _columns(rows: list[tuple], count: int) -> list:
    # Column-wise, without a DataFrame per row: a chunk has tens of thousands of rows.
    return [list(column) for column in zip(*rows, strict=True)] if rows else [[]] * count


def _epoch_us_sql(column: str) -> str:
    """SQL for a timestamp column as integer microseconds since 1970-01-01 UTC, computed by the
    database.

    Why: Django turns every timestamp it reads into a Python datetime through a per-value converter
    (on PostgreSQL derived from psycopg's pure-Python loader), which was 29.5 % of a steady
    sweep's time; an integer column has no converter, and numpy turns a million of them into
    datetimes at once. Exact on both backends: PostgreSQL's ``extract`` returns numeric, and on
    SQLite (where Django stores UTC as "YYYY-MM-DD HH:MM:SS[.ffffff]") whole seconds come from
    ``julianday`` rounded and the microseconds from the text.
    """
    if connection.vendor == "postgresql":
        return f"(EXTRACT(EPOCH FROM {column}) * 1000000)::bigint"
    return (
        f"(CAST(ROUND((julianday(substr({column}, 1, 19)) - 2440587.5) * 86400) AS INTEGER) "
        f"* 1000000 + CAST(substr({column} || '.000000', 21, 6) AS INTEGER))"
    )


def _utc_times(microseconds) -> pd.DatetimeIndex:
    # The integers viewed as datetime64[us] and marked UTC: the same index as
    # ``pd.to_datetime(..., unit="us", utc=True)`` at a quarter of its fixed cost.
    return pd.DatetimeIndex(np.asarray(microseconds, dtype="int64").view("M8[us]")).tz_localize(
        "UTC"
    )


# From this many episodes on, PostgreSQL sends the frames by COPY (no Python object per value,
# parsed by pandas' C reader); below it, as for one submission's episode, plain rows cost less
# than COPY's and the CSV reader's fixed cost (about a millisecond).
COPY_FROM_EPISODES = 50


# Episodes per read statement. A sweep chunk is read in pieces of at most this many: with 2,000
# ids PostgreSQL reads administrations through the episode index, with 5,000 it switched to a
# scan of the whole table (1 M rows, 0.15-0.23 s a statement on the bench's database), so a
# larger chunk cost more to read than the rule time it saved (bench/sweep_phases.py).
READ_BATCH = 2000


def _frame_columns(select_sql, *, episode_ids: list[int], dtypes: list[str]) -> list:
    """The columns of a frame's query (``select_sql(ids)`` for a batch of ids) over every
    ``READ_BATCH`` of the episodes: by COPY for a PostgreSQL chunk, else from plain rows (raw
    SQL both ways: the ORM's query compiling was most of a small read's time)."""
    if len(episode_ids) <= READ_BATCH:
        return _batch_columns(select_sql(episode_ids), episode_ids, dtypes)
    batches = [
        _batch_columns(select_sql(batch), batch, dtypes)
        for batch in _batches(episode_ids, READ_BATCH)
    ]
    # Each piece in its column's type first: plain rows are lists (an empty one reads as float).
    types = [object if dtype == "str" else dtype for dtype in dtypes]
    return [
        np.concatenate([np.asarray(batch[column], dtype=types[column]) for batch in batches])
        for column in range(len(dtypes))
    ]


def _batches(values: list, size: int):
    return (values[start : start + size] for start in range(0, len(values), size))


def _batch_columns(sql: str, episode_ids: list[int], dtypes: list[str]) -> list:
    if connection.vendor == "postgresql" and len(episode_ids) >= COPY_FROM_EPISODES:
        return _copy_frame(sql, dtypes=dtypes)
    with connection.cursor() as cursor:
        cursor.execute(sql)
        return _columns(cursor.fetchall(), len(dtypes))


def administrations_frame(*, episode_ids: list[int]) -> pd.DataFrame:
    """Every administration of the episodes (the rules need each episode's full history)."""
    episode, pk, instrument, administered_at, total, risk = _frame_columns(
        lambda ids: (
            f"SELECT episode_id, id, instrument, {_epoch_us_sql('administered_at')}, total, "  # noqa: S608
            f"risk FROM {Administration._meta.db_table} WHERE {_in_ids('episode_id', ids)}"
        ),
        episode_ids=episode_ids,
        dtypes=["int64", "int64", "str", "int64", "float64", "str"],
    )
    return pd.DataFrame(
        {
            "episode_id": np.asarray(episode, dtype="int64"),
            "administration_id": np.asarray(pk, dtype="int64"),
            "instrument": np.asarray(instrument, dtype=object),
            "administered_at": _utc_times(administered_at),
            "total": np.asarray(total, dtype=float),
            "risk": np.asarray(risk, dtype=object),
        },
        # The arrays are this frame's own: copying them was 40 % of its constructor's time.
        copy=False,
    )


def checkins_frame(*, episode_ids: list[int]) -> pd.DataFrame:
    """The symptom check-ins that the disengagement rule reads, with the rules' status names."""
    episode, pk, due_at, status = _frame_columns(
        lambda ids: (
            f"SELECT episode_id, id, {_epoch_us_sql('due_at')}, status "  # noqa: S608
            f"FROM {CheckIn._meta.db_table} WHERE {_in_ids('episode_id', ids)} "
            f"AND kind IN ({_literals(DISENGAGEMENT_KINDS)}) "
            f"AND status IN ({_literals(CHECKIN_STATUS_FOR_RULES)})"
        ),
        episode_ids=episode_ids,
        dtypes=["int64", "int64", "int64", "str"],
    )
    return pd.DataFrame(
        {
            "episode_id": np.asarray(episode, dtype="int64"),
            "checkin_id": np.asarray(pk, dtype="int64"),
            "due_at": _utc_times(due_at),
            "status": np.asarray(
                [CHECKIN_STATUS_FOR_RULES[value] for value in status], dtype=object
            ),
        },
        copy=False,
    )


def _in_ids(column: str, values) -> str:
    """SQL for "column is one of these ids". On PostgreSQL as ``= ANY(ARRAY(SELECT unnest(...)))``:
    the same index scan as ``IN (...)``, but planned without estimating each of the thousands of
    values (EXPLAIN, 2,000 ids: planning 5-9 ms against 0.6 ms, execution alike)."""
    if connection.vendor == "postgresql":
        return f"{column} = ANY(ARRAY(SELECT unnest('{{{_integers(values)}}}'::bigint[])))"
    return f"{column} IN ({_integers(values)})"


def _integers(values) -> str:
    # COPY takes no bound parameters; int() makes each id a plain number.
    return ", ".join(str(int(value)) for value in values) or "NULL"


def _literals(values) -> str:
    # Fixed choice values of the models (letters and underscores), checked before quoting.
    assert all(str(value).replace("_", "").isalnum() for value in values)
    return ", ".join(f"'{value}'" for value in values)


def _copy_frame(select_sql: str, *, dtypes: list[str]) -> list[np.ndarray]:
    """The columns of a query's rows, read by COPY in PostgreSQL's text format (tab-separated,
    ``\\N`` for null); text columns must hold no tab, newline or backslash (codes and ids)."""
    buffer = io.BytesIO()
    with (
        connection.cursor() as cursor,
        cursor.copy(f"COPY ({select_sql}) TO STDOUT") as copy,
    ):
        for block in copy:
            buffer.write(block)
    if not buffer.tell():
        return [np.array([], dtype=dtype if dtype != "str" else object) for dtype in dtypes]
    text = buffer.getvalue()
    if text.count(b"\\") != text.count(b"\\N"):
        # An escaped tab, newline or backslash: pandas would read it wrongly, so say so loudly.
        raise ValueError("COPY returned escaped text where codes and ids were expected")
    buffer.seek(0)
    frame = pd.read_csv(
        buffer,
        sep="\t",
        header=None,
        names=list(range(len(dtypes))),
        dtype={column: object if dtype == "str" else dtype for column, dtype in enumerate(dtypes)},
        na_values={column: ["\\N"] for column, dtype in enumerate(dtypes) if dtype == "float64"},
        keep_default_na=False,
        quoting=3,  # csv.QUOTE_NONE: the text format has no quotes
        engine="c",
    )
    return [frame[column].to_numpy() for column in range(len(dtypes))]


def _alert_keys(*, episode_ids: list[int]) -> set[tuple[int, str, str]]:
    """The (episode, rule, trigger) of every alert the episodes already have.

    Plain rows straight into a set: no converters, and one bound-free id list instead of
    thousands of parameters (faster here than COPY, whose rows come one call each). The
    redundant range makes PostgreSQL use the episode index: on the IN list alone it scanned the
    whole alert table once per chunk (3,309 pages for 4,600 rows, 33 ms against 3.4 ms at
    111,000 alerts), a cost that grows with every chunk and alert."""
    keys = set()
    with connection.cursor() as cursor:
        for batch in _batches(episode_ids, READ_BATCH):
            cursor.execute(
                f"SELECT episode_id, rule, trigger FROM {Alert._meta.db_table} "  # noqa: S608
                f"WHERE episode_id BETWEEN {int(min(batch))} AND {int(max(batch))} "
                f"AND {_in_ids('episode_id', batch)}"
            )
            keys.update(cursor.fetchall())
    return keys


def rule_settings(*, clinic: Clinic, curves=()) -> rules.RuleSettings:
    """The clinic's own settings for the rules (edited in the admin; defaults in CLINICAL.md)."""
    return rules.RuleSettings(
        **clinic.curve_limits(),
        missed_checkins_for_disengagement=clinic.missed_checkins_for_alert,
        early_in_care_weeks=clinic.early_in_care_weeks,
        alliance_window_days=clinic.alliance_window_days,
        not_on_track_rearm_scores=clinic.not_on_track_rearm_scores,
        curve_overrides=tuple(curves),
    )


def instrument_params(*, codes: Iterable[str]) -> dict[str, rules.InstrumentParams]:
    """The rules' parameters for the built-in instruments, plus any other registered instrument
    found in the data that publishes a reliable-change value (its direction and caseness cutoff
    come from its definition, CLINICAL.md §1)."""
    params = dict(rules.DEFAULT_PARAMS)
    for code in codes:
        if code in params:
            continue
        try:
            instrument = get_instrument(code)
        except KeyError:
            continue
        if instrument.reliable_change is None:
            continue
        params[code] = rules.InstrumentParams(
            reliable_change=instrument.reliable_change,
            direction=instrument.direction,
            functional_cutoff=instrument.caseness_cutoff,
            label=instrument.name,
        )
    return params


def _alerts_create(alerts: pd.DataFrame, *, episodes: dict, existing, event_times, now) -> int:
    if alerts.empty:
        return 0
    keys = zip(
        alerts["episode_id"].tolist(),
        alerts["rule"].tolist(),
        alerts["trigger"].tolist(),
        strict=True,
    )
    new = alerts[[key not in existing for key in keys]]
    if new.empty:
        return 0
    rows = [
        (
            int(episode_id),
            episodes[episode_id].clinic_id,
            rule,
            trigger,
            severity,
            instrument if isinstance(instrument, str) else "",
            None if pd.isna(administration_id) else int(administration_id),
            message,
        )
        for episode_id, rule, trigger, severity, instrument, administration_id, message in zip(
            new["episode_id"].tolist(),
            new["rule"].tolist(),
            new["trigger"].tolist(),
            new["severity"].tolist(),
            new["instrument"].tolist(),
            new["administration_id"].tolist(),
            new["message"].tolist(),
            strict=True,
        )
    ]
    if connection.vendor == "postgresql":
        created = _alerts_insert_postgresql(rows, now=now)
    else:
        created = _alerts_insert(rows, now=now)
        _alerts_audit(created, episodes=episodes, now=now)
    from outcomes.notifications import alerts_notify_new

    # Tell the therapist about what just happened. Alerts on older events (history imported or
    # seeded, a changed clinic setting or a refitted curve moving where a worsening "began") and on
    # ended episodes are listed in the app without a mail storm about the past.
    active = {pk for pk, episode in episodes.items() if not episode.ended}
    recent = event_times.since(now - NOTIFY_EVENTS_WITHIN, triggers=[a.trigger for a in created])
    alerts_notify_new(alerts=[a for a in created if a.episode_id in active and a.trigger in recent])
    return len(created)


@dataclass(frozen=True)
class _CreatedAlert:
    pk: int
    episode_id: int
    clinic_id: int
    rule: str
    trigger: str
    severity: str


# The columns an alert row is inserted with; the rest take the model's defaults, prepared once.
_ALERT_COLUMNS = (
    "episode_id",
    "clinic_id",
    "rule",
    "trigger",
    "severity",
    "instrument",
    "administration_id",
    "message",
)
_RETURNED = "id, episode_id, clinic_id, rule, trigger, severity"
# Rows per INSERT on SQLite: 8 values each, well under its 32,766 bound variables.
_INSERT_BATCH = 1000


def _alert_defaults(*, now) -> tuple[list[str], list]:
    """The other columns of a new alert and their values: ``created_at`` is the run's time (it
    tells this run's rows from another's), every other field its model default."""
    columns, values = [], []
    for field in Alert._meta.concrete_fields:
        if field.primary_key or field.column in _ALERT_COLUMNS:
            continue
        value = now if field.name == "created_at" else field.get_default()
        columns.append(field.column)
        values.append(field.get_db_prep_save(value, connection))
    return columns, values


def _alerts_insert(rows: list[tuple], *, now) -> list[_CreatedAlert]:
    """Insert the alerts that do not exist yet (one per episode, rule and trigger) and return
    exactly those, in multi-row INSERT ... ON CONFLICT DO NOTHING RETURNING statements."""
    columns, defaults = _alert_defaults(now=now)
    quote = connection.ops.quote_name
    table = quote(Alert._meta.db_table)
    names = ", ".join(quote(column) for column in (*_ALERT_COLUMNS, *columns))
    row_sql = "(" + ", ".join(["%s"] * (len(_ALERT_COLUMNS) + len(columns))) + ")"
    created = []
    with connection.cursor() as cursor:
        for start in range(0, len(rows), _INSERT_BATCH):
            batch = rows[start : start + _INSERT_BATCH]
            # Only quoted names and placeholders are formatted in; values are bound.
            cursor.execute(
                f"INSERT INTO {table} ({names}) VALUES {', '.join([row_sql] * len(batch))} "  # noqa: S608
                f"ON CONFLICT (episode_id, rule, trigger) DO NOTHING RETURNING {_RETURNED}",
                [value for row in batch for value in (*row, *defaults)],
            )
            created.extend(_CreatedAlert(*row) for row in cursor.fetchall())
    return created


def _alerts_insert_postgresql(rows: list[tuple], *, now) -> list[_CreatedAlert]:
    """``_alerts_insert`` and ``_alerts_audit`` in one statement: one INSERT ... SELECT ... ON
    CONFLICT DO NOTHING RETURNING inserts the new alerts and, in the same statement, their
    "alert.create" audit events, as ``audit_record`` writes them for ``alert_raise``. A first
    sweep over a clinic creates hundreds of thousands, which go into a temporary table by COPY
    first (no Python per value; the ORM spent seconds per ten thousand building them); the
    few of one submission go in as VALUES."""
    columns, defaults = _alert_defaults(now=now)
    quote = connection.ops.quote_name
    names = ", ".join(quote(column) for column in (*_ALERT_COLUMNS, *columns))
    with connection.cursor() as cursor:
        if len(rows) > _INSERT_BATCH:
            cursor.execute(
                "CREATE TEMPORARY TABLE sweep_new_alert (episode_id bigint, clinic_id bigint, "
                "rule text, trigger text, severity text, instrument text, "
                "administration_id bigint, message text) ON COMMIT DROP"
            )
            with cursor.copy(
                f"COPY sweep_new_alert ({', '.join(_ALERT_COLUMNS)}) FROM STDIN"
            ) as copy:
                for row in rows:
                    copy.write_row(row)
            source, source_values = "sweep_new_alert", []
        else:
            row_sql = "(" + ", ".join(["%s"] * len(_ALERT_COLUMNS)) + ")"
            source = (
                f"(VALUES {', '.join([row_sql] * len(rows))}) "
                f"AS new_alert ({', '.join(_ALERT_COLUMNS)})"
            )
            source_values = [value for row in rows for value in row]
        # Only quoted names and placeholders are formatted in; values are bound.
        cursor.execute(
            f"WITH created AS (INSERT INTO {quote(Alert._meta.db_table)} ({names}) "  # noqa: S608
            "SELECT episode_id::bigint, clinic_id::bigint, rule, trigger, severity, instrument, "
            f"administration_id::bigint, message, {', '.join(['%s'] * len(columns))} "
            f"FROM {source} ORDER BY episode_id, rule, trigger "
            f"ON CONFLICT (episode_id, rule, trigger) DO NOTHING RETURNING {_RETURNED}), "
            f"audited AS (INSERT INTO {quote(AuditEvent._meta.db_table)} (at, actor_id, "
            "actor_label, action, object_type, object_id, clinic_id, client_id, ip_address, "
            "details) SELECT %s, NULL, 'system', 'alert.create', %s, created.id::text, "
            "created.clinic_id, episode.client_id, NULL, jsonb_build_object('rule', created.rule, "
            "'severity', created.severity) FROM created "
            f"JOIN {quote(Episode._meta.db_table)} AS episode ON episode.id = created.episode_id) "
            f"SELECT {_RETURNED} FROM created",
            [
                *defaults,
                *source_values,
                defaults[columns.index("created_at")],
                Alert._meta.label_lower,
            ],
        )
        created = [_CreatedAlert(*row) for row in cursor.fetchall()]
        if source == "sweep_new_alert":
            cursor.execute("DROP TABLE sweep_new_alert")
    return created


class _EventTimes:
    """When the event behind a trigger happened: the administration's time for "adm:<id>", the
    check-in's due time for "checkin:<id>"."""

    def __init__(self, administrations: pd.DataFrame, checkins: pd.DataFrame):
        self.administrations = administrations
        self.checkins = checkins

    def since(self, cutoff, *, triggers) -> set[str]:
        kinds = {"adm": set(), "checkin": set()}
        for trigger in triggers:
            kind, _, number = trigger.partition(":")
            if kind in kinds and number.isdigit():
                kinds[kind].add(int(number))
        administrations = self.administrations[
            self.administrations["administration_id"].isin(kinds["adm"])
            & (self.administrations["administered_at"] >= cutoff)
        ]
        checkins = self.checkins[
            self.checkins["checkin_id"].isin(kinds["checkin"]) & (self.checkins["due_at"] >= cutoff)
        ]
        return {f"adm:{pk}" for pk in administrations["administration_id"]} | {
            f"checkin:{pk}" for pk in checkins["checkin_id"]
        }


def _alerts_audit(created, *, episodes: dict, now) -> None:
    """One "alert.create" audit event per new alert, as ``audit_record`` writes them for
    ``alert_raise``, but in one insert: a first sweep over a clinic creates thousands."""
    AuditEvent.objects.bulk_create(
        [
            AuditEvent(
                at=now,
                actor=None,
                actor_label="system",
                action="alert.create",
                object_type=Alert._meta.label_lower,
                object_id=str(alert.pk),
                clinic_id=alert.clinic_id,
                client_id=episodes[alert.episode_id].client_id,
                details={"rule": alert.rule, "severity": alert.severity},
            )
            for alert in created
        ],
        batch_size=1000,
    )


def _statuses_save(statuses: list[pd.DataFrame], *, episodes: dict, fingerprints: dict, now) -> set:
    """Store the status of the episodes whose status or reason changed, stamped as evaluated with
    their clinic's settings fingerprint and their mark cleared; ``status_updated_at`` says when it
    last changed, so an unchanged status costs no write. Returns the ids of the episodes written."""
    computed = {}
    for status in statuses:
        computed.update(
            zip(
                status["episode_id"].tolist(),
                zip(status["status"].tolist(), status["reason"].tolist(), strict=True),
                strict=True,
            )
        )
    changed = []
    for pk, episode in episodes.items():
        status, reason = computed.get(pk, (EpisodeStatus.NONE, "No valid scores yet"))
        reason = str(reason)  # whole: a reason cut mid-sentence misleads
        if (status, reason) != (episode.status, episode.status_reason):
            changed.append((pk, status, reason, fingerprints[episode.clinic_id]))
    _episodes_status_write(changed, now=now)
    return {row[0] for row in changed}


def _episodes_status_write(changed: list[tuple], *, now) -> None:
    """One UPDATE ... FROM a temporary table filled by COPY on PostgreSQL, one UPDATE ... FROM
    (VALUES ...) per batch on SQLite (3.33+).

    ``bulk_update`` builds a CASE WHEN per row and field, which costs seconds per thousand rows
    in expression building alone; a first sweep over a clinic writes every status once.
    """
    if connection.vendor not in ("postgresql", "sqlite"):
        Episode.objects.bulk_update(
            [
                Episode(
                    pk=pk,
                    status=status,
                    status_reason=reason,
                    status_updated_at=now,
                    rules_evaluated_at=now,
                    rules_fingerprint=fingerprint,
                    rules_pending_since=None,
                )
                for pk, status, reason, fingerprint in changed
            ],
            ["status", "status_reason", "status_updated_at", "rules_evaluated_at"]
            + ["rules_fingerprint", "rules_pending_since"],
            batch_size=500,
        )
        return
    table = connection.ops.quote_name(Episode._meta.db_table)
    stamp = Episode._meta.get_field("status_updated_at").get_db_prep_save(now, connection)
    if connection.vendor == "postgresql" and len(changed) > STATUS_BATCH:
        # Thousands of rows: COPY them into a temporary table (no Python per value) and update
        # from it in one statement.
        with connection.cursor() as cursor:
            cursor.execute(
                "CREATE TEMPORARY TABLE sweep_status (id bigint, status text, reason text, "
                "fingerprint text) ON COMMIT DROP"
            )
            with cursor.copy("COPY sweep_status FROM STDIN") as copy:
                for row in changed:
                    copy.write_row(row)
            cursor.execute(
                f"UPDATE {table} SET status = v.status, status_reason = v.reason, "  # noqa: S608
                "status_updated_at = %s, rules_evaluated_at = %s, rules_pending_since = NULL, "
                f"rules_fingerprint = v.fingerprint FROM sweep_status AS v WHERE {table}.id = v.id",
                [stamp, stamp],
            )
            cursor.execute("DROP TABLE sweep_status")
        return
    with connection.cursor() as cursor:
        for start in range(0, len(changed), STATUS_BATCH):
            batch = changed[start : start + STATUS_BATCH]
            rows = ", ".join(["(%s, %s, %s, %s)"] * len(batch))
            # Only the quoted table name and placeholders are formatted in; values are bound.
            cursor.execute(
                f"UPDATE {table} SET status = v.column2, status_reason = v.column3, "  # noqa: S608
                f"status_updated_at = %s, rules_evaluated_at = %s, rules_pending_since = NULL, "
                f"rules_fingerprint = v.column4 FROM (VALUES {rows}) AS v "
                f"WHERE {table}.id = v.column1",
                [stamp, stamp, *(value for row in batch for value in row)],
            )
