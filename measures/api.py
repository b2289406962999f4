"""The public Python API for researchers (notebooks) and for external validation.

Every function here is a thin wrapper over :mod:`measures.scoring`, :mod:`measures.change` and
:mod:`measures.instruments`; the names and return shapes are a contract. Nothing here needs a
database or Django::

    >>> from measures import api
    >>> api.score("phq9", [1, 2, 3, 1, 2, 3, 1, 2, 0])["total"]
    15
    >>> api.classify_change("phq9", 18, 7)["category"]
    'recovered'

Instrument codes: ``phq9``, ``gad7``, ``who5``, ``k10``, ``session_rating``, ``ors``, ``srs``,
``core10``, ``oq45``. Sources for every threshold are in docs/instruments.md and in the
instrument definitions (``get_instrument(code).sources``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from measures import change as _change
from measures import rules as _rules
from measures.instruments import (
    Instrument,
    builtin_instruments,
    get_instrument,
    instrument_from_dict,
    instrument_to_dict,
    validate_definition,
)
from measures.scoring import ScoreResult, score_answers, score_frame

__all__ = [
    "Instrument",
    "ScoreResult",
    "builtin_instruments",
    "classify_change",
    "clinical_significance",
    "cutoffs",
    "evaluate_alerts",
    "get_instrument",
    "instrument_from_dict",
    "instrument_to_dict",
    "reliable_change",
    "score",
    "score_answers",
    "score_frame",
    "talking_therapies_outcome",
    "validate_definition",
]


def _instrument(instrument: str | Instrument) -> Instrument:
    return instrument if isinstance(instrument, Instrument) else get_instrument(instrument)


def score(instrument_code: str, answers: Sequence[Any] | Mapping[Any, Any]) -> dict:
    """Score one completed form.

    ``answers`` lists, in item order, the value of the option the client chose as printed on the
    form (``None`` for a missing answer). Reverse keying (CORE-10 items 2 and 3) is done here.
    PHQ-9 takes its 9 scored answers; the difficulty answer may follow as a 10th (never scored).

    Returns ``{"total", "band", "caseness", "risk", "valid", "errors", "flags"}``:

    * ``total``: number or None (WHO-5: the 0–100 percentage); prorated when at most the
      allowed number of items is missing (PHQ-9 and GAD-7: 1), rounding half up;
    * ``band``: severity band label or None; ``caseness``: bool or None (no cutoff / no total);
    * ``risk``: "yes" when a risk item is endorsed (PHQ-9 item 9 > 0, CORE-10 item 6 > 0),
      "unknown" when a risk item is unanswered (never imputed), otherwise "no";
    * ``valid``: False with ``errors`` naming the item when an answer is not an option on the
      form or too many items are missing;
    * ``flags``: item-level signals that the total hides, e.g. WHO-5 "an item answered 0 or 1:
      screen for depression" (Topp et al. 2015); an empty list when there are none.
    """
    return score_answers(_instrument(instrument_code), answers).as_dict()


def classify_change(instrument_code: str, pre_total: float, post_total: float) -> dict:
    """Change between two totals by the instrument's published numbers.

    Returns ``{"change", "reliable", "clinical_at_pre", "clinical_at_post", "category"}``:
    ``reliable`` is "improved" / "unchanged" / "deteriorated" by the fixed reliable-change value
    (a change of at least that many points: PHQ-9 6, GAD-7 4, WHO-5 10, ORS 5, CORE-10 6,
    OQ-45 14); clinical status is by the caseness cutoff; ``category`` is recovered, improved,
    unchanged, deteriorated or harmed (Jacobson & Truax 1991). Instruments without a published
    reliable-change value (K10, SRS, session rating) give None for ``reliable`` and
    ``category``.
    """
    return _change.classify_instrument_change(_instrument(instrument_code), pre_total, post_total)


def reliable_change(
    pre: float,
    post: float,
    *,
    sd: float,
    reliability: float,
    direction: str,
    critical: float = _change.Z_TWO_TAILED_5,
) -> dict:
    """Jacobson–Truax reliable change for one client.

    SEM = sd·√(1 − reliability); SE_diff = √2·SEM; RCI = (post − pre)/SE_diff. The change is
    reliable only if |RCI| > critical (strict; 1.959964 = qnorm .975). ``direction`` is
    "lower_is_better" or "higher_is_better".

    Returns ``{"se_measurement", "se_difference", "rci", "category"}`` with ``category``
    "improved" | "unchanged" | "deteriorated".
    """
    se_measurement = _change.standard_error_of_measurement(sd, reliability)
    se_difference = _change.standard_error_of_difference(se_measurement)
    rci = (post - pre) / se_difference
    return {
        "se_measurement": se_measurement,
        "se_difference": se_difference,
        "rci": rci,
        "category": _change.rci_category(rci, direction, critical),
    }


def cutoffs(
    *,
    clinical_mean: float,
    clinical_sd: float,
    functional_mean: float,
    functional_sd: float,
    direction: str,
) -> dict:
    """Jacobson & Truax (1991) cutoffs ``{"a", "b", "c"}``.

    a = clinical mean two SDs toward health; b = functional mean two SDs toward illness;
    c = (SD0·M1 + SD1·M0)/(SD0 + SD1), the point between the two distributions.
    """
    values = _change.jacobson_truax_cutoffs(
        clinical_mean=clinical_mean,
        clinical_sd=clinical_sd,
        functional_mean=functional_mean,
        functional_sd=functional_sd,
        direction=direction,
    )
    return {"a": values.a, "b": values.b, "c": values.c}


def clinical_significance(
    frame: pd.DataFrame,
    *,
    pre: str = "pre",
    post: str = "post",
    method: str = "JT",
    reliability: float,
    direction: str,
    reliability_post: float | None = None,
    cutoff: str | None = None,
    functional_mean: float | None = None,
    functional_sd: float | None = None,
    clinical_mean: float | None = None,
    clinical_sd: float | None = None,
) -> pd.DataFrame:
    """Reliable change and clinical significance for a sample, one output row per input row.

    ``method``: "JT" (Jacobson–Truax), "GLN" (Gulliksen–Lord–Novick), "HLL" (Hsu–Linn–Lord),
    "EN" (Edwards–Nunnally), "NK" (Nunnally–Kotsch; ``reliability_post`` defaults to
    ``reliability``) or "HA" (Hageman–Arrindell, one-tailed 1.645 with "true" cutoffs). Formulas
    follow the R package clinicalsignificance (Claus, Wager & Bonnet 2024).

    ``cutoff`` "a" uses only the clinical sample; "b" and "c" need ``functional_mean`` and
    ``functional_sd``. Without it: "c" when functional norms are given, otherwise "a" (the
    R package clinicalsignificance's default). The clinical mean/SD are the sample's pre scores
    (SD with n − 1) unless ``clinical_mean``/``clinical_sd`` give published norms.

    Columns: ``pre``, ``post``, ``change``, ``rci``, ``reliable``, ``clinical_pre``,
    ``functional_post``, ``category`` (recovered, improved, unchanged, deteriorated, harmed; None
    where pre or post is missing). ``result.attrs["cutoff"]`` is the cutoff used;
    ``result.attrs`` also holds the method, critical value and the statistics used.
    """
    return _change.clinical_significance_frame(
        frame,
        pre=pre,
        post=post,
        method=method,
        reliability=reliability,
        direction=direction,
        reliability_post=reliability_post,
        cutoff=cutoff,
        functional_mean=functional_mean,
        functional_sd=functional_sd,
        clinical_mean=clinical_mean,
        clinical_sd=clinical_sd,
    )


def talking_therapies_outcome(
    phq9_first: float | None,
    phq9_last: float | None,
    gad7_first: float | None,
    gad7_last: float | None,
    attended_sessions: int | None,
) -> dict:
    """NHS Talking Therapies paired outcome of one episode (PHQ-9 with GAD-7).

    Returns ``finished_course_of_treatment`` (at least 2 attended treatment sessions),
    ``case_at_start``, ``case_at_end`` (PHQ-9 >= 10 or GAD-7 >= 8), ``recovery`` (cases at the
    start only: not a case on both measures at the end), ``reliable_improvement`` (a drop of
    PHQ-9 >= 6 or GAD-7 >= 4 and no reliable rise on either), ``reliable_deterioration`` (the
    mirror image), ``reliable_recovery`` and ``no_reliable_change``. A metric that is undefined is
    None: everything but ``finished_course_of_treatment`` for an unfinished episode or a missing
    score, ``recovery`` and ``reliable_recovery`` for a client who was not a case at the start.
    Raises ValueError naming the argument for a score outside its instrument's range (PHQ-9
    0–27, GAD-7 0–21), anything that is not a number, or a negative or fractional session count.
    """
    return _change.talking_therapies_outcome(
        phq9_first, phq9_last, gad7_first, gad7_last, attended_sessions
    )


ALERT_FRAME_COLUMNS = [
    "episode_id",
    "administration_id",
    "rule",
    "severity",
    "instrument",
    "trigger",
    "reason",
]


def evaluate_alerts(
    administrations: pd.DataFrame,
    checkins: pd.DataFrame | None = None,
    *,
    settings: _rules.RuleSettings | None = None,
    curves=None,
) -> pd.DataFrame:
    """Every alert the shipped rules raise on a history, one row per alert (docs/alerts.md).

    ``administrations``: episode_id, administration_id, instrument, administered_at (tz-aware
    UTC), total (NaN when unscorable), risk ("yes" | "no" | "unknown"); each episode's full history.
    ``checkins`` (optional): episode_id, checkin_id, due_at, status ("completed" | "missed" |
    "pending"). ``settings``: ``measures.rules.RuleSettings`` (the shipped defaults when None);
    ``curves``: fitted ``measures.trajectories.BandCurve`` rows to use instead of the provisional
    defaults (replaces ``settings.curve_overrides``).

    Columns: episode_id, administration_id (None for a check-in alert), rule (risk_item,
    reliable_deterioration, not_on_track, sudden_loss, alliance_concern, disengagement), severity
    (urgent, high, warning; "warning" is a watch), instrument, trigger ("adm:<id>" or
    "checkin:<id>") and reason: the plain-language sentence staff see, which says why the severity
    is what it is (persistence, a steep rise, an alliance concern, early in care). Pure: no
    database, no Django. The rules behind it may change; these columns are the contract.
    """
    settings = settings or _rules.RuleSettings()
    if curves is not None:
        settings = dataclasses.replace(settings, curve_overrides=tuple(curves))
    if checkins is None:
        checkins = pd.DataFrame(
            {
                "episode_id": pd.Series(dtype="int64"),
                "checkin_id": pd.Series(dtype="int64"),
                "due_at": pd.Series(dtype="datetime64[ns, UTC]"),
                "status": pd.Series(dtype=object),
            }
        )
    alerts = _rules.evaluate(administrations, checkins, settings=settings).alerts
    return alerts.rename(columns={"message": "reason"})[ALERT_FRAME_COLUMNS]
