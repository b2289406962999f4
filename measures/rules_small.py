"""The rules of ``measures.rules`` for one small episode, on arrays (issue 18, item 3).

After each submitted check-in the worker evaluates one episode of a few dozen rows. On the
vectorised path every pandas operation has a fixed cost of tens of microseconds whatever the rows
(building the history frame, a dozen column reads per rule, boolean filters, a merge, a concat
and a sort of the alerts, the status' concat and sort): about 15 ms for 20 rows, where the
arithmetic takes well under one. Here the same rules run on the score history's columns as
numpy arrays (``rules.history_columns``), and the two result frames are built once at the end.

The output is IDENTICAL to the vectorised path: the same alerts and status, the same columns,
dtypes, order and index. tests/unit/test_rules_small.py checks it on random histories (every
instrument, risk answers, missing weeks, decimal totals, check-ins, every operating point and
setting); bench/check_rules_identical.py against main. Each function below mirrors the rule of
the same name in ``measures.rules`` and cites its clinical source there: a change to a rule
there must be made here too, and the identity test fails until it is.

``rules.evaluate`` takes this path for inputs of at most ``SMALL_ROWS`` rows.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from measures import rules
from measures.rules import (
    _FLOAT_TOLERANCE,
    ALERT_COLUMNS,
    STATUS_COLUMNS,
    TANG_DERUBEIS_SHARE_OF_PRE_SCORE,
    InstrumentParams,
    RuleResult,
    RuleSettings,
)
from measures.trajectories import (
    CURVE_LEVEL_NONE,
    CURVE_LEVEL_RED,
    STATUS_RANK,
    concat_text,
    datetime_values,
    format_scores,
    status_reasons,
)

# Administrations plus check-ins up to which ``rules.evaluate`` takes this path. Measured with
# bench/bench_rules.py's caseload (docs/alerts.md, "Performance"; best of 15, both paths in the same
# run): 28 rows (one episode) 3.9 ms against 16.3 ms vectorised, 1,120 rows 13.7 against 36.8 ms,
# 7,000 rows 51 against 58 ms, 14,000 rows 104 against 52 ms. Part of this path grows with the
# square of the episodes (the status, the alliance window), so the bound stays well below the
# crossing: a long episode or a few dozen short ones; a sweep's chunk goes the vectorised way.
SMALL_ROWS = 1000

_INT64 = np.dtype("int64")


def handles(administrations: pd.DataFrame, checkins: pd.DataFrame) -> bool:
    """True for small inputs whose keys are plain int64 columns (what outcomes.evaluation reads);
    anything else (nullable or object ids, a caseload) goes the vectorised way."""
    return (
        len(administrations) + len(checkins) <= SMALL_ROWS
        and len(administrations) > 0
        and administrations["episode_id"].dtype == _INT64
        and administrations["administration_id"].dtype == _INT64
        and checkins["episode_id"].dtype == _INT64
        and checkins["checkin_id"].dtype == _INT64
    )


class _Alerts:
    """The alerts found so far, as the columns of ``rules.ALERT_COLUMNS``, in the order the
    vectorised path concatenates its rules' frames (which decides ties of the final sort)."""

    def __init__(self):
        self.parts: list[dict] = []

    def add(self, *, episode, rule, triggers, administration, severity, instrument, messages):
        if len(triggers):
            self.parts.append(
                {
                    "episode_id": np.asarray(episode),
                    "rule": np.full(len(triggers), rule, dtype=object),
                    "trigger": triggers,
                    "administration": administration,
                    "severity": np.broadcast_to(np.asarray(severity, dtype=object), len(triggers)),
                    "instrument": instrument,
                    "messages": np.asarray(messages, dtype=object),
                }
            )

    def add_scores(self, history, positions, *, rule, severity, messages):
        """Alerts on score-history rows (by position), as ``rules._alerts`` makes them."""
        administration = history["administration_id"][positions]
        self.add(
            episode=history["episode_id"][positions],
            rule=rule,
            triggers=rules._triggers("adm:", administration),
            administration=administration,
            severity=severity,
            instrument=history["instrument"][positions],
            messages=messages,
        )

    def frame(self) -> pd.DataFrame:
        """The alerts in ``rules._sorted_alerts``' order and with its dtypes: each text column as
        pandas infers it from the rules' frames and their concat (a column holding a None, the
        instrument of a disengagement, is object; an all-text one is pandas' str)."""
        if not self.parts:
            return rules._no_alerts()

        def column(name):
            return np.concatenate([part[name] for part in self.parts])

        episode, trigger, rule = column("episode_id"), column("trigger"), column("rule")
        trigger_rank = np.empty(len(trigger), dtype=np.intp)
        trigger_rank[np.argsort(trigger.astype(str), kind="stable")] = np.arange(len(trigger))
        rule_rank = pd.factorize(rule, sort=True)[0]
        order = np.lexsort((trigger_rank, rule_rank, episode))
        administration = column("administration")[order]
        missing = np.array([value is None for value in administration.tolist()], dtype=bool)
        administration_id = pd.arrays.IntegerArray(
            np.where(missing, 0, administration).astype(np.int64), missing
        )
        instrument = column("instrument")[order]
        if any(part["rule"][0] == "disengagement" for part in self.parts):
            # A concat of text frames and the disengagement frame's column of None: object.
            instrument = pd.Series(instrument, dtype=object, copy=False)
        return pd.DataFrame(
            {
                "episode_id": episode[order],
                "rule": rule[order],
                "trigger": trigger[order],
                "administration_id": administration_id,
                "severity": column("severity")[order],
                "instrument": instrument,
                "message": column("messages")[order],
            },
            columns=ALERT_COLUMNS,
        )


def evaluate(
    administrations: pd.DataFrame,
    checkins: pd.DataFrame,
    params: Mapping[str, InstrumentParams] = rules.DEFAULT_PARAMS,
    *,
    settings: RuleSettings = RuleSettings(),  # noqa: B008 (frozen, so a shared default is safe)
) -> RuleResult:
    """``rules.evaluate`` on arrays, for inputs ``handles`` accepts (it does not check)."""
    history = _history(administrations, params, settings)
    alerts = _Alerts()
    _risk_item(alerts, administrations, params, settings)
    if history is not None:
        _reliable_deterioration(alerts, history)
        _not_on_track(alerts, history, settings)
        _sudden_loss(alerts, history, settings)
        _alliance_concern(alerts, history, settings)
    _disengagement(alerts, checkins, settings.missed_checkins_for_disengagement)
    episode_ids = np.concatenate(
        [administrations["episode_id"].to_numpy(), checkins["episode_id"].to_numpy()]
    )
    return RuleResult(
        alerts=alerts.frame(), status=_episode_status(history, params, np.unique(episode_ids))
    )


def _history(administrations, params, settings) -> dict | None:
    """``rules.score_history``'s columns as numpy arrays (None when no instrument is known)."""
    columns = rules.history_columns(administrations, params, settings=settings)
    if columns is None:
        return None
    at = columns["administered_at"]
    columns = {
        name: np.asarray(values, dtype=object)
        if name in ("instrument", "status")
        else np.asarray(values)
        for name, values in columns.items()
        if name != "administered_at"
    }
    columns["ticks"], columns["tick_unit"] = at.asi8, at.unit
    return columns


def _risk_item(alerts: _Alerts, administrations, params, settings) -> None:
    """``rules.risk_item``: endorsed risk items (urgent), then unanswered ones (warning)."""
    risk = administrations["risk"].to_numpy()
    instrument = administrations["instrument"].to_numpy(dtype=object)
    episode = administrations["episode_id"].to_numpy()
    administration = administrations["administration_id"].to_numpy()

    def describe(code, what):
        instrument_params = params.get(code)
        item = instrument_params.risk_item if instrument_params else ""
        return f"{rules._label(params, code)} {item or 'risk item'} {what}"

    def add(rows, severity, what):
        codes = instrument[rows].tolist()
        messages = {code: describe(code, what) for code in set(codes)}
        alerts.add(
            episode=episode[rows],
            rule="risk_item",
            triggers=rules._triggers("adm:", administration[rows]),
            administration=administration[rows],
            severity=severity,
            instrument=instrument[rows],
            messages=[messages[code] for code in codes],
        )

    add(np.flatnonzero(risk == "yes"), "urgent", "was endorsed: review risk today")
    if settings.alert_on_unanswered_risk_item:
        with_risk_item = {code for code, p in params.items() if p.risk_item}
        unanswered = np.flatnonzero(risk == "unknown")
        unanswered = unanswered[[code in with_risk_item for code in instrument[unanswered]]]
        add(unanswered, "warning", "was left unanswered: ask directly")


def _reliable_deterioration(alerts: _Alerts, history: dict) -> None:
    """``rules.reliable_deterioration``: onsets, then further reliable steps."""
    worse = history["reliably_worse"]
    if not worse.any():
        return
    begins = worse & ~history["previous_reliably_worse"]
    onset = np.flatnonzero(begins)
    h = {name: history[name][onset] for name in ("label", "moved", "intake", "total", "week")}
    messages = concat_text(
        h["label"], h["moved"], format_scores(h["intake"]), " at intake to ",
        format_scores(h["total"]), " at week ", format_scores(h["week"]),
        ": a reliable worsening (at least ", format_scores(history["reliable_change"][onset]),
        " points)",
    )  # fmt: skip
    alerts.add_scores(
        history, onset, rule="reliable_deterioration", severity="high", messages=messages
    )
    again, from_total, from_week, worsening = _further_worsening(history, worse, begins)
    again_messages = concat_text(
        history["label"][again], history["moved"][again], format_scores(from_total), " at week ",
        format_scores(from_week), ", where the reliable worsening began, to ",
        format_scores(history["total"][again]), " at week ",
        format_scores(history["week"][again]), ": ", format_scores(worsening),
        " points worse since (reliable change ",
        format_scores(history["reliable_change"][again]), ")",
    )  # fmt: skip
    alerts.add_scores(
        history, again, rule="reliable_deterioration", severity="high", messages=again_messages
    )


def _further_worsening(history: dict, in_state: np.ndarray, anchor: np.ndarray):
    """``rules._further_worsening``: (positions, from_total, from_week, worsening) of the scores
    a further whole reliable-change step worse than where their run in the state began."""
    positions = np.flatnonzero(in_state)
    if not len(positions):
        empty = np.zeros(0)
        return positions, empty, empty, empty
    total = history["total"][positions].astype(float)
    week = history["week"][positions].astype(float)
    run = np.cumsum(anchor[positions])
    new_run = np.ones(len(positions), dtype=bool)
    new_run[1:] = run[1:] != run[:-1]
    place = np.arange(len(positions))
    first = np.maximum.accumulate(np.where(new_run, place, 0))
    anchored = run > 0
    from_total = np.where(anchored, total[first], np.nan)
    from_week = np.where(anchored, week[first], np.nan)
    worsening = history["worse_sign"][positions] * (total - from_total)
    steps = np.floor(worsening / history["reliable_change"][positions] + _FLOAT_TOLERANCE)
    # The running maximum of steps within each run, NaN skipped (pandas' grouped cummax).
    reached = np.full(len(steps), np.nan)
    best = np.nan
    for row, (step, starts) in enumerate(zip(steps.tolist(), new_run.tolist(), strict=True)):
        if starts:
            best = np.nan
        if step == step:  # not NaN
            best = step if best != best else max(best, step)
            reached[row] = best
    reached_before = np.empty_like(reached)
    reached_before[1:] = reached[:-1]
    reached_before[new_run] = np.nan
    with np.errstate(invalid="ignore"):
        further = (steps >= 1) & (steps > reached_before)
    return positions[further], from_total[further], from_week[further], worsening[further]


def _alliance_concerns(history: dict, settings: RuleSettings) -> tuple[np.ndarray, np.ndarray]:
    """(positions of alliance ratings, whether each is a concern): below the cutoff, or dropped
    since the previous rating (``rules.alliance_concern``)."""
    ratings = np.flatnonzero(history["measures"] == "alliance")
    worse, total = history["worse_sign"][ratings], history["total"][ratings]
    below_cutoff = worse * (total - settings.alliance_cutoff) > 0
    dropped = (
        worse * (total - history["previous_total"][ratings])
        >= settings.alliance_drop - _FLOAT_TOLERANCE
    )
    return ratings, below_cutoff, dropped


def _not_on_track(alerts: _Alerts, history: dict, settings: RuleSettings) -> None:
    """``rules.not_on_track``: first scores off the curve, second ones, further steps."""
    off = history["curve_level"] > CURVE_LEVEL_NONE
    if not off.any():
        return
    onset = off & (history["previous_curve_level"] == CURVE_LEVEL_NONE)
    off_rows = np.flatnonzero(off)
    onset_of_off = onset[off_rows]
    run_of_off = np.cumsum(onset_of_off)
    new_run = np.ones(len(off_rows), dtype=bool)
    new_run[1:] = run_of_off[1:] != run_of_off[:-1]
    steps = np.arange(len(off_rows))
    position = steps - np.maximum.accumulate(np.where(new_run, steps, 0))
    chosen = onset_of_off | (position == 1)
    rows = off_rows[chosen]
    is_onset = onset_of_off[chosen]
    red = history["curve_level"][rows] == CURVE_LEVEL_RED
    rise = history["worse_sign"][rows] * (history["total"][rows] - history["previous_total"][rows])
    week = history["week"][rows]
    steep = (
        red
        & (rise >= history["reliable_change"][rows] / 2 - _FLOAT_TOLERANCE)
        & (week > settings.early_in_care_weeks)
    )
    alliance = _alliance_concern_before(rows, history, settings)
    onset_high = is_onset & (steep | alliance)
    run_of_row = run_of_off[chosen]
    keep = is_onset | ~np.isin(run_of_row, run_of_row[onset_high])
    if settings.not_on_track_rearm_scores > 1:
        keep &= ~is_onset | _rearmed(rows, history, off, settings)
    rows, is_onset, red, rise = rows[keep], is_onset[keep], red[keep], rise[keep]
    steep, alliance, week = steep[keep], alliance[keep], week[keep]
    h = {
        name: history[name][rows]
        for name in ("label", "total", "worse_side", "expected", "red_limit", "yellow_limit")
        + ("curve_source", "yellow_by_intake", "intake")
    }
    severity = np.where(is_onset & ~steep & ~alliance, "warning", "high")
    messages = rules._not_on_track_messages(h, week, red, rise, is_onset, steep, alliance, settings)
    again, from_total, from_week, worsening = _further_worsening(history, off, onset)
    # One alert per score: the run's second score is already alerted above.
    single = ~np.isin(history["administration_id"][again], history["administration_id"][rows])
    again, from_total = again[single], from_total[single]
    from_week, worsening = from_week[single], worsening[single]
    again_rows = {
        name: history[name][again]
        for name in ("label", "total", "week", "reliable_change", "expected")
    }
    again_messages = rules._worse_again_messages(again_rows, from_total, from_week, worsening)
    alerts.add_scores(history, rows, rule="not_on_track", severity=severity, messages=messages)
    alerts.add_scores(history, again, rule="not_on_track", severity="high", messages=again_messages)


def _rearmed(onsets: np.ndarray, history: dict, off: np.ndarray, settings) -> np.ndarray:
    """``rules._rearmed``: each onset's series was never off the curve before it, or has been
    back on track for ``settings.not_on_track_rearm_scores`` scores."""
    positions = np.arange(len(off))
    last_off = np.maximum.accumulate(np.where(off, positions, -1))
    series = history["series"]
    first = np.ones(len(off), dtype=bool)
    first[1:] = series[1:] != series[:-1]
    series_start = np.maximum.accumulate(np.where(first, positions, 0))
    previous_off = np.where(onsets > 0, last_off[np.maximum(onsets - 1, 0)], -1)
    never_off = previous_off < series_start[onsets]
    return never_off | (onsets - previous_off - 1 >= settings.not_on_track_rearm_scores)


def _alliance_concern_before(rows: np.ndarray, history: dict, settings) -> np.ndarray:
    """``rules._alliance_concern_before``: an alliance concern in the same episode at most
    ``settings.alliance_window_days`` before the row (or at the same time), as pandas'
    ``merge_asof`` backward with that tolerance finds it."""
    ratings, below_cutoff, dropped = _alliance_concerns(history, settings)
    concerns = ratings[below_cutoff | dropped]
    if not len(concerns) or not len(rows):
        return np.zeros(len(rows), dtype=bool)
    window = np.timedelta64(settings.alliance_window_days, "D")
    window = window.astype(f"m8[{history['tick_unit']}]").astype(np.int64)
    ticks, episode = history["ticks"], history["episode_id"]
    since = ticks[rows][:, None] - ticks[concerns][None, :]
    same_episode = episode[rows][:, None] == episode[concerns][None, :]
    return (same_episode & (since >= 0) & (since <= window)).any(axis=1)


def _sudden_loss(alerts: _Alerts, history: dict, settings: RuleSettings) -> None:
    """``rules.sudden_loss``: Tang & DeRubeis 1999 mirrored, or any reliable worsening."""
    worse = history["worse_sign"]
    previous_total = history["previous_total"]
    total = history["total"]
    worsening = worse * (total - previous_total)
    is_loss = worsening >= history["reliable_change"] - _FLOAT_TOLERANCE
    if settings.sudden_loss_criteria == "tang_derubeis":
        is_loss &= worsening >= TANG_DERUBEIS_SHARE_OF_PRE_SCORE * previous_total
        if is_loss.any():
            is_loss &= rules._lasting_loss(history, worse, is_loss)
    elif settings.sudden_loss_criteria != "reliable_change":
        raise ValueError(f"unknown sudden_loss_criteria {settings.sudden_loss_criteria!r}")
    losses = np.flatnonzero(is_loss)
    if not len(losses):
        return
    messages = concat_text(
        "Sudden loss: ", history["label"][losses], history["moved"][losses],
        format_scores(previous_total[losses]), " at week ",
        format_scores(history["previous_week"][losses]), " to ", format_scores(total[losses]),
        " at week ", format_scores(history["week"][losses]),
    )  # fmt: skip
    alerts.add_scores(history, losses, rule="sudden_loss", severity="high", messages=messages)


def _alliance_concern(alerts: _Alerts, history: dict, settings: RuleSettings) -> None:
    """``rules.alliance_concern``: a rating below the cutoff or dropped since the previous one."""
    ratings, below_cutoff, dropped = _alliance_concerns(history, settings)
    concern = below_cutoff | dropped
    if not concern.any():
        return
    flagged = ratings[concern]
    below_cutoff, dropped = below_cutoff[concern], dropped[concern]
    label = np.asarray(history["label"][flagged], dtype=object)
    total = format_scores(history["total"][flagged])
    messages = rules._alliance_messages(
        label, total, history["worse_side"][flagged], history["previous_total"][flagged],
        below_cutoff, dropped, settings,
    )  # fmt: skip
    alerts.add_scores(
        history, flagged, rule="alliance_concern", severity="warning", messages=messages
    )


def _disengagement(alerts: _Alerts, checkins: pd.DataFrame, missed_in_a_row: int) -> None:
    """``rules.disengagement``: the check-in that makes a run of missed ones reach N."""
    status = checkins["status"].to_numpy(dtype=object)
    decided = np.flatnonzero(status != "pending")
    if not len(decided):
        return
    episode = checkins["episode_id"].to_numpy()[decided]
    due_at = datetime_values(checkins["due_at"])
    due = due_at.asi8[decided]
    checkin_id = checkins["checkin_id"].to_numpy()[decided]
    order = rules._series_order(np.zeros(len(decided), dtype=np.int64), episode, due, checkin_id)
    episode, due, checkin_id = episode[order], due[order], checkin_id[order]
    missed = status[decided[order]] == "missed"
    new_episode = np.ones(len(decided), dtype=bool)
    new_episode[1:] = episode[1:] != episode[:-1]
    run_starts = new_episode | ~missed
    missed_count = np.cumsum(missed)
    before_run = np.maximum.accumulate(np.where(run_starts, missed_count - missed, 0))
    reached = np.flatnonzero(missed & (missed_count - before_run == missed_in_a_row))
    days = np.datetime_as_string(due[reached].view(f"M8[{due_at.unit}]"), unit="D")
    alerts.add(
        episode=episode[reached],
        rule="disengagement",
        triggers=rules._triggers("checkin:", checkin_id[reached]),
        administration=np.full(len(reached), None, dtype=object),
        severity="warning",
        instrument=np.full(len(reached), None, dtype=object),
        messages=concat_text(
            f"{missed_in_a_row} check-ins missed in a row (the last due ", days, ")"
        ),
    )


def _episode_status(history: dict | None, params, episode_ids: np.ndarray) -> pd.DataFrame:
    """``rules.episode_status`` with ``rules._with_unscored``: one row per episode, in id order,
    the worst status of the latest score of each outcome instrument; "none" without one."""
    episodes, statuses, reasons = [], [], []
    if history is not None:
        outcome = np.flatnonzero(history["measures"] == "outcome")
        series = history["series"][outcome]
        is_latest = np.ones(len(outcome), dtype=bool)
        is_latest[:-1] = series[:-1] != series[1:]
        latest = outcome[is_latest]
        # By episode, then instrument (the history is in instrument name order).
        latest = latest[np.lexsort((latest, history["episode_id"][latest]))]
        status = history["status"][latest]
        rank = np.array([STATUS_RANK.get(value, 0) for value in status.tolist()], dtype=np.int64)
        episode = history["episode_id"][latest]
        for this_episode in dict.fromkeys(episode.tolist()):
            in_episode = episode == this_episode
            worst = latest[in_episode & (rank == rank[in_episode].max())]
            texts = []
            for row in worst.tolist():
                instrument = history["instrument"][row]
                instrument_params = params[instrument]
                one_row = {name: history[name][row : row + 1] for name in rules._STATUS_READS}
                texts.extend(
                    status_reasons(
                        one_row,
                        label=rules._label(params, instrument),
                        reliable_change=instrument_params.reliable_change,
                        direction=instrument_params.direction,
                        functional_cutoff=instrument_params.functional_cutoff,
                    ).tolist()
                )
            episodes.append(this_episode)
            statuses.append(history["status"][worst[0]])
            reasons.append("; ".join(texts))
    scored = len(episodes)
    for episode_id in episode_ids.tolist():
        if episode_id not in episodes[:scored]:
            episodes.append(episode_id)
            statuses.append("none")
            reasons.append("No valid scores yet")
    order = np.argsort(np.asarray(episodes, dtype=np.int64), kind="stable")
    status_column = np.asarray(statuses, dtype=object)[order]
    reason_column = np.asarray(reasons, dtype=object)[order]
    if not scored:
        # The vectorised path's empty status frame is object-typed, and so is its concat.
        status_column = pd.Series(status_column, dtype=object, copy=False)
        reason_column = pd.Series(reason_column, dtype=object, copy=False)
    return pd.DataFrame(
        {
            "episode_id": np.asarray(episodes, dtype=np.int64)[order],
            "status": status_column,
            "reason": reason_column,
        },
        columns=STATUS_COLUMNS,
    )
