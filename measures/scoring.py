"""Scoring one form (:func:`score_answers`) or a whole caseload (:func:`score_frame`).

Both paths implement the same rules and agree exactly (a hypothesis test holds them to it):

* Answers are the option values as printed on the form; reverse keying (CORE-10 items 2 and 3,
  Barkham et al. 2013) is applied here, from the instrument definition.
* A value that is not one of the item's printed options makes the form invalid, with an error
  naming the item.
* Missing items (CLINICAL.md §1): the form is scored only if at most ``instrument.max_missing``
  scored items are unanswered (PHQ-9: 1, GAD-7: 1), by prorating
  ``total = round(sum × n_items / n_answered)``. Rounding is half-up (x.5 goes up), done in exact
  integer arithmetic, ``(2·sum·n + a) // (2·a)``, so float error can never make the scalar and the
  vectorised paths disagree. Python's ``round`` (half-to-even) is deliberately not used.
* The total is multiplied by ``instrument.total_multiplier`` after prorating (WHO-5 raw × 4 = the
  percentage, Topp et al. 2015).
* Continuous (visual-analogue) items take any value from their minimum to their maximum in whole
  steps (ORS, SRS, session rating: 0–10 in 0.1, Miller et al. 2003; Duncan et al. 2003). Sums are
  taken in integer units of the step, so 8.6 + 8.6 + 8.6 + 9.6 is exactly 35.4 (an alliance
  concern, < 36) on both paths; rounding marks to whole points would make it 37 and hide it.
  Such totals are floats with the step's decimals; all-choice instruments keep integer totals.
* Risk is never imputed: any critical item answered above its threshold gives "yes" (PHQ-9 item 9
  > 0, Kroenke et al. 2001; CORE-10 item 6 > 0, Barkham et al. 2013); otherwise an unanswered or
  unreadable critical item gives "unknown"; only a fully answered set of critical items gives "no".
  Risk is reported even when the form has too many gaps to be scored.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from numbers import Integral, Real
from typing import Any, Literal

import numpy as np
import pandas as pd

from measures.instruments import Instrument, Item

Risk = Literal["yes", "no", "unknown"]


@dataclass(frozen=True)
class ScoreResult:
    """The outcome of scoring one administration.

    ``item_values`` has one entry per instrument item (None when not answered or unreadable);
    scored items are given after reverse keying. ``raw_total`` is before ``total_multiplier``.
    """

    instrument_code: str
    total: float | None
    band: str | None
    caseness: bool | None
    risk: Risk
    valid: bool
    errors: list[str] = field(default_factory=list)
    n_missing: int = 0
    prorated: bool = False
    item_values: tuple[float | None, ...] = ()
    raw_total: float | None = None
    subscales: dict[str, float | None] = field(default_factory=dict)
    flags: tuple[str, ...] = ()

    def as_dict(self) -> dict:
        """The public ``measures.api.score`` shape."""
        return {
            "total": self.total,
            "band": self.band,
            "caseness": self.caseness,
            "risk": self.risk,
            "valid": self.valid,
            "errors": list(self.errors),
            "flags": list(self.flags),
        }


def prorated_total(answered_sum: int, n_items: int, n_answered: int) -> int:
    """round(answered_sum × n_items / n_answered), half-up, in exact integer arithmetic."""
    return (2 * answered_sum * n_items + n_answered) // (2 * n_answered)


def _answer_count_bounds(instrument: Instrument) -> tuple[int, int]:
    # Trailing unscored items (the PHQ-9 difficulty question) may be left off the list.
    last_scored_position = max(
        position for position, item in enumerate(instrument.items, start=1) if item.scored
    )
    return last_scored_position, len(instrument.items)


def _is_missing(value: Any) -> bool:
    if value is None or value is pd.NA or value is pd.NaT:
        return True
    return isinstance(value, Real) and not isinstance(value, Integral) and math.isnan(value)


def _allowed_text(item: Item) -> str:
    if item.continuous:
        return f"{item.minimum}–{item.maximum} in steps of {item.step}"
    values = sorted(item.values)
    if values == list(range(values[0], values[-1] + 1)):
        return f"{values[0]}–{values[-1]}"
    return ", ".join(str(v) for v in values)


def _item_name(item: Item) -> str:
    return f"item {item.number} ({item.link_id})"


def _on_continuous_scale(item: Item, value: float) -> bool:
    scale = 10**item.decimals
    units = value * scale
    step_units = round(item.step * scale)
    return (
        item.minimum <= value <= item.maximum
        and abs(units - round(units)) < 1e-6
        and (round(units) - round(item.minimum * scale)) % step_units == 0
    )


def _read_value(item: Item, value: Any) -> tuple[float | None, str | None]:
    """(printed value, error); both None means the item was not answered."""
    if _is_missing(value):
        return None, None
    if isinstance(value, bool | np.bool_) or not isinstance(value, Real):
        return None, f"{_item_name(item)}: {value!r} is not a number"
    if item.continuous:
        if not _on_continuous_scale(item, float(value)):
            return None, (
                f"{_item_name(item)}: {value!r} is not one of its answer values "
                f"({_allowed_text(item)})"
            )
        return round(float(value), item.decimals), None
    whole = isinstance(value, Integral) or float(value).is_integer()
    number = int(value) if whole else None
    if number is None or number not in item.values:
        return None, (
            f"{_item_name(item)}: {value!r} is not one of its answer values ({_allowed_text(item)})"
        )
    return number, None


def _answers_by_position(
    instrument: Instrument, answers: Sequence[Any] | Mapping[Any, Any]
) -> tuple[list[Any], list[str]]:
    """Line answers up with the instrument's items; unknown keys and wrong lengths are errors."""
    n_items = len(instrument.items)
    if isinstance(answers, Mapping):
        by_position: list[Any] = [None] * n_items
        positions = {}
        for position, item in enumerate(instrument.items):
            positions[item.number] = position
            positions[item.link_id] = position
        errors = []
        for key, value in answers.items():
            if isinstance(key, bool) or key not in positions:
                errors.append(f"{instrument.code} has no item {key!r}")
                continue
            by_position[positions[key]] = value
        return by_position, errors
    if isinstance(answers, str | bytes) or not isinstance(answers, Sequence | np.ndarray):
        return [None] * n_items, ["answers must be a list in item order or a mapping by item"]
    fewest, most = _answer_count_bounds(instrument)
    if not fewest <= len(answers) <= most:
        expected = str(fewest) if fewest == most else f"{fewest} or {most}"
        if most - fewest > 1:
            expected = f"{fewest} to {most}"
        return [None] * n_items, [
            f"{instrument.code} expects {expected} answers in item order, got {len(answers)}"
        ]
    return list(answers) + [None] * (n_items - len(answers)), []


def score_answers(
    instrument: Instrument, answers: Sequence[Any] | Mapping[Any, Any]
) -> ScoreResult:
    """Score one administration.

    ``answers`` lists the printed option value of each item in order (None when unanswered), or
    maps item numbers / link ids to values. PHQ-9 takes its 9 scored answers, optionally followed
    by the (never scored) difficulty answer.
    """
    by_position, errors = _answers_by_position(instrument, answers)
    answers_misaligned = bool(errors)

    item_values: list[float | None] = []
    unreadable: set[int] = set()
    for position, (item, value) in enumerate(zip(instrument.items, by_position, strict=True)):
        printed, error = _read_value(item, value)
        if error:
            errors.append(error)
            unreadable.add(position)
        if printed is not None and item.scored:
            printed = item.keyed(printed)
        item_values.append(printed)

    scored = [
        (item, value)
        for item, value, position in zip(
            instrument.items, item_values, range(len(item_values)), strict=True
        )
        if item.scored and position not in unreadable
    ]
    n_scored = len(instrument.scored_items)
    n_missing = sum(1 for _, value in scored if value is None)
    answered = [value for _, value in scored if value is not None]

    if n_missing > instrument.max_missing and not answers_misaligned:
        errors.append(
            f"{n_missing} of {n_scored} scored items are unanswered; "
            f"{instrument.code} allows at most {instrument.max_missing}"
        )
    valid = not errors

    raw_total = None
    scale = 10**instrument.decimals
    if valid:
        # Integer units of the smallest step: exact sums and proration, as in score_frame.
        units = sum(round(value * scale) for value in answered)
        raw_units = units if n_missing == 0 else prorated_total(units, n_scored, len(answered))
        raw_total = raw_units if scale == 1 else raw_units / scale
    total = None
    if raw_total is not None:
        total = raw_total * instrument.total_multiplier
        if scale != 1:
            total = round(total, instrument.decimals)

    return ScoreResult(
        instrument_code=instrument.code,
        total=total,
        band=instrument.band_for(total),
        caseness=instrument.is_case(total),
        risk=_risk(instrument, item_values),
        valid=valid,
        errors=errors,
        n_missing=n_missing,
        prorated=valid and n_missing > 0,
        item_values=tuple(item_values),
        raw_total=raw_total,
        subscales=_subscale_totals(instrument, item_values) if valid else {},
        flags=_flags(instrument, item_values),
    )


def _risk(instrument: Instrument, item_values: Sequence[int | None]) -> Risk:
    any_unknown = False
    for item, value in zip(instrument.items, item_values, strict=True):
        if item.critical_above is None:
            continue
        if value is None:
            any_unknown = True
        elif value > item.critical_above:
            return "yes"
    return "unknown" if any_unknown else "no"


def _subscale_totals(instrument: Instrument, item_values: Sequence[int | None]) -> dict:
    # No published proration rule exists for subscales, so an incomplete subscale has no total.
    totals: dict[str, int | None] = {}
    for name in instrument.subscales:
        values = [
            value
            for item, value in zip(instrument.items, item_values, strict=True)
            if item.scored and item.subscale == name
        ]
        totals[name] = (
            None if any(v is None for v in values) else round(sum(values), instrument.decimals)
        )
    return totals


def _flags(instrument: Instrument, item_values: Sequence[int | None]) -> tuple[str, ...]:
    threshold = instrument.item_alert_at_or_below
    if threshold is None:
        return ()
    for item, value in zip(instrument.items, item_values, strict=True):
        if item.scored and value is not None and value <= threshold:
            return (instrument.item_alert_label or f"an item answered {threshold} or lower",)
    return ()


def worsened_since_previous(
    instrument: Instrument, previous_total: float | None, total: float | None
) -> bool | None:
    """True when the total moved at least ``drop_alert_points`` the wrong way since last time.

    Our session rating flags any drop of 1 point or more from the previous rating
    (CLINICAL.md §1, after the SRS practice of Duncan et al. 2003). None when the instrument has
    no such rule or a total is missing.
    """
    if instrument.drop_alert_points is None or previous_total is None or total is None:
        return None
    worsening = previous_total - total if instrument.higher_is_better else total - previous_total
    return worsening >= instrument.drop_alert_points


# --- vectorised path ----------------------------------------------------------------------------


def _item_columns(
    instrument: Instrument, frame: pd.DataFrame, item_columns: Sequence[str] | None
) -> list[Any]:
    fewest, most = _answer_count_bounds(instrument)
    if item_columns is None:
        link_ids = [item.link_id for item in instrument.items]
        if all(link_id in frame.columns for link_id in link_ids[:fewest]):
            item_columns = [link_id for link_id in link_ids if link_id in frame.columns]
            item_columns = link_ids[: len(item_columns)]
        else:
            item_columns = list(frame.columns)
    item_columns = list(item_columns)
    if not fewest <= len(item_columns) <= most:
        raise ValueError(
            f"{instrument.code} needs {fewest}–{most} item columns in item order "
            f"(or columns named by link_id), got {len(item_columns)}: {item_columns!r}"
        )
    return item_columns


def _column_values(column: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """(float values with NaN for missing, mask of present but non-numeric cells)."""
    if pd.api.types.is_bool_dtype(column.dtype):
        present = column.notna().to_numpy()
        return np.full(len(column), np.nan), present
    if pd.api.types.is_numeric_dtype(column.dtype):
        return column.to_numpy(dtype=float, na_value=np.nan), np.zeros(len(column), dtype=bool)
    is_bool = column.map(lambda v: isinstance(v, bool | np.bool_)).to_numpy(dtype=bool)
    numeric = pd.to_numeric(column.where(~is_bool), errors="coerce")
    values = numeric.to_numpy(dtype=float, na_value=np.nan)
    not_numeric = column.notna().to_numpy() & np.isnan(values)
    return values, not_numeric


def score_frame(
    instrument: Instrument,
    frame: pd.DataFrame,
    *,
    item_columns: Sequence[str] | None = None,
) -> pd.DataFrame:
    """Score many administrations at once; one output row per input row, same index.

    Item columns are, in order of preference: ``item_columns``; columns named by the items'
    ``link_id``; otherwise all columns of ``frame`` in item order. Output columns: ``total``
    (Int64; Float64 for instruments with continuous items), ``band``, ``caseness`` (boolean),
    ``risk``, ``valid``, ``n_missing``, ``prorated``. Row by row the result equals
    :func:`score_answers` (hypothesis-tested).
    """
    columns = _item_columns(instrument, frame, item_columns)
    n_rows = len(frame)

    invalid_row = np.zeros(n_rows, dtype=bool)
    n_unreadable_scored = np.zeros(n_rows, dtype=np.int64)
    n_answered = np.zeros(n_rows, dtype=np.int64)
    answered_sum = np.zeros(n_rows, dtype=np.int64)  # in units of the smallest step
    scale = 10**instrument.decimals
    risk_endorsed = np.zeros(n_rows, dtype=bool)
    risk_unknown = np.zeros(n_rows, dtype=bool)
    for position, item in enumerate(instrument.items):
        if position >= len(columns):
            # A trailing unscored item left off (PHQ-9 difficulty): unanswered.
            risk_unknown |= item.critical_above is not None
            continue
        values, not_numeric = _column_values(frame[columns[position]])
        missing = np.isnan(values)
        if item.continuous:
            item_scale = 10**item.decimals
            units = values * item_scale
            on_grid = np.abs(units - np.rint(units)) < 1e-6
            step_units = round(item.step * item_scale)
            offset = np.where(on_grid, np.rint(units) - round(item.minimum * item_scale), 1)
            allowed = (
                (values >= item.minimum)
                & (values <= item.maximum)
                & on_grid
                & (np.fmod(np.nan_to_num(offset, nan=1.0), step_units) == 0)
            )
            values = np.where(allowed, np.rint(units) / item_scale, values)
        else:
            allowed = np.isin(values, np.asarray(item.values, dtype=float))
        unreadable = (~missing & ~allowed) | not_numeric
        invalid_row |= unreadable
        answered = ~missing & ~unreadable
        keyed = values
        if item.scored:
            if item.reverse:
                keyed = item.min_value + item.max_value - values
            n_unreadable_scored += unreadable
            n_answered += answered
            answered_sum += np.rint(np.where(answered, keyed, 0) * scale).astype(np.int64)
        if item.critical_above is not None:
            # Unreadable counts as unanswered: risk is never read from a value off the form.
            risk_unknown |= ~answered
            risk_endorsed |= answered & (keyed > item.critical_above)

    n_scored = len(instrument.scored_items)
    # As in the scalar path, an unreadable answer makes the form invalid but is not "missing".
    n_missing = n_scored - n_answered - n_unreadable_scored

    valid = ~invalid_row & (n_missing <= instrument.max_missing)
    safe_answered = np.maximum(n_answered, 1)
    prorated = (2 * answered_sum * n_scored + safe_answered) // (2 * safe_answered)
    raw_total = np.where(n_missing == 0, answered_sum, prorated)
    total_values = raw_total * instrument.total_multiplier
    if scale == 1:
        total = pd.array(total_values, dtype="Int64")
    else:
        total_values = np.round(total_values / scale, instrument.decimals)
        total = pd.array(total_values, dtype="Float64")
    total[~valid] = pd.NA

    # Labels are picked from a small object array by code, so 1,000,000 rows share a handful
    # of str objects instead of creating one per row.
    band_codes = np.full(n_rows, len(instrument.bands), dtype=np.int64)
    for code, instrument_band in enumerate(instrument.bands):
        inside = (total_values >= instrument_band.low) & (total_values <= instrument_band.high)
        band_codes[valid & inside] = code
    band = np.array([b.label for b in instrument.bands] + [None], dtype=object)[band_codes]
    risk_codes = np.where(risk_endorsed, 0, np.where(risk_unknown, 2, 1))
    risk = np.array(["yes", "no", "unknown"], dtype=object)[risk_codes]

    if instrument.caseness_cutoff is None:
        caseness = pd.array([pd.NA] * n_rows, dtype="boolean")
    else:
        if instrument.higher_is_better:
            case_values = total_values < instrument.caseness_cutoff
        else:
            case_values = total_values >= instrument.caseness_cutoff
        caseness = pd.array(case_values, dtype="boolean")
        caseness[~valid] = pd.NA

    return pd.DataFrame(
        {
            "total": total,
            "band": pd.Series(band, index=frame.index, dtype=object),
            "caseness": caseness,
            "risk": pd.Series(risk, index=frame.index, dtype=object),
            "valid": valid,
            "n_missing": n_missing.astype(np.int64),
            "prorated": valid & (n_missing > 0),
        },
        index=frame.index,
    )
