"""Change statistics: reliable change, clinical significance, NHS Talking Therapies outcomes,
pre–post effect size and sudden gains/losses. Pure numpy/pandas; CLINICAL.md §2, §3 and §5.

Conventions used throughout:

* ``direction`` is ``"lower_is_better"`` or ``"higher_is_better"``. Internally a sign ``s`` of
  -1 or +1 turns every test into "larger is healthier", so ``s·RCI > z`` is reliable improvement.
* RCI tests are strict (Jacobson & Truax 1991): ``|RCI| > 1.959964`` is reliable; exactly at the
  critical value is not. Cutoff tests are strict as well: clinical at pre means ``s·pre < s·cutoff``
  and functional at post means ``s·post > s·cutoff``.
* A fixed published reliable-change value (PHQ-9 6, GAD-7 4, OQ-45 14 …) is used with ``>=``, as
  the NHS Talking Therapies Manual does.
* The alternative RCI methods follow the R package clinicalsignificance (Claus, Wager & Bonnet,
  J. Stat. Softw. 2024), the reference implementation named in CLINICAL.md §2.

Why one long module (~780 lines): each statistic is short, but they share the direction sign, the
critical values and the instrument norms above, and the scalar and vectorised paths sit side by side
so a reader can check one against the other.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from numbers import Real
from typing import Literal

import numpy as np
import pandas as pd

from measures.instruments import Instrument, get_instrument

#: qnorm(0.975): two-tailed 5 % critical value (Jacobson & Truax 1991).
Z_TWO_TAILED_5 = 1.959964
#: qnorm(0.95): one-tailed 5 % critical value used by Hageman & Arrindell (1999).
Z_ONE_TAILED_5 = 1.644854

RCI_METHODS: tuple[str, ...] = ("JT", "GLN", "HLL", "EN", "NK", "HA")
CUTOFF_TYPES: tuple[str, ...] = ("a", "b", "c")
CATEGORIES: tuple[str, ...] = ("recovered", "improved", "unchanged", "deteriorated", "harmed")

ReliableChange = Literal["improved", "unchanged", "deteriorated"]


def direction_sign(direction: str) -> int:
    """+1 when higher scores are healthier, -1 when lower scores are."""
    if direction == "higher_is_better":
        return 1
    if direction == "lower_is_better":
        return -1
    raise ValueError(
        f"direction must be 'lower_is_better' or 'higher_is_better', got {direction!r}"
    )


# --- Jacobson–Truax ----------------------------------------------------------------------------


def standard_error_of_measurement(sd: float, reliability: float) -> float:
    """SEM = SD · √(1 − r) (Jacobson & Truax 1991)."""
    _check_reliability(reliability)
    if not sd > 0:
        raise ValueError(f"sd must be positive, got {sd!r}")
    return sd * math.sqrt(1 - reliability)


def standard_error_of_difference(se_measurement: float) -> float:
    """SE_diff = √2 · SEM = √(2·SEM²) (Jacobson & Truax 1991)."""
    return math.sqrt(2) * se_measurement


def reliable_change_index(pre, post, *, sd: float, reliability: float):
    """RCI = (post − pre) / SE_diff; works on numbers and on numpy/pandas arrays."""
    se_difference = standard_error_of_difference(standard_error_of_measurement(sd, reliability))
    return (post - pre) / se_difference


def rci_category(rci: float, direction: str, critical: float = Z_TWO_TAILED_5) -> ReliableChange:
    """Improved / unchanged / deteriorated with the STRICT test |RCI| > critical."""
    healthier = direction_sign(direction) * rci
    if healthier > critical:
        return "improved"
    if healthier < -critical:
        return "deteriorated"
    return "unchanged"


def rci_categories(rci, direction: str, critical: float = Z_TWO_TAILED_5) -> np.ndarray:
    """Vectorised :func:`rci_category`; NaN gives None."""
    rci = np.asarray(rci, dtype=float)
    healthier = direction_sign(direction) * rci
    return _reliable_labels(healthier > critical, healthier < -critical, np.isnan(rci))


# Labels are taken from these small arrays by code, so a million rows share a few str objects.
_RELIABLE_LABELS = np.array(["improved", "unchanged", "deteriorated", None], dtype=object)
_CATEGORY_LABELS = np.array([*CATEGORIES, None], dtype=object)


def _reliable_labels(improved, deteriorated, undefined) -> np.ndarray:
    codes = np.where(improved, 0, np.where(deteriorated, 2, 1))
    codes[undefined] = 3
    return _RELIABLE_LABELS[codes]


# Decimal totals (ORS 3.2 → 8.2) differ by 4.999999999999999 in binary floating point; a change
# of exactly the published value must still count, so comparisons allow this much.
_FIXED_POINT_TOLERANCE = 1e-9


def fixed_point_category(
    pre: float, post: float, *, reliable_change: float, direction: str
) -> ReliableChange:
    """Reliable change by a fixed published value: a change of at least that size (``>=``).

    PHQ-9 6 and GAD-7 4 points (NHS Talking Therapies Manual), OQ-45 14 (Lambert et al.), ORS 5
    (Miller et al. 2003, on totals with one decimal).
    """
    healthier_change = direction_sign(direction) * (post - pre)
    if healthier_change >= reliable_change - _FIXED_POINT_TOLERANCE:
        return "improved"
    if healthier_change <= -reliable_change + _FIXED_POINT_TOLERANCE:
        return "deteriorated"
    return "unchanged"


def fixed_point_categories(pre, post, *, reliable_change: float, direction: str) -> np.ndarray:
    """Vectorised :func:`fixed_point_category`; NaN in either score gives None."""
    pre = np.asarray(pre, dtype=float)
    post = np.asarray(post, dtype=float)
    healthier_change = direction_sign(direction) * (post - pre)
    return _reliable_labels(
        healthier_change >= reliable_change - _FIXED_POINT_TOLERANCE,
        healthier_change <= -reliable_change + _FIXED_POINT_TOLERANCE,
        np.isnan(healthier_change),
    )


@dataclass(frozen=True)
class Cutoffs:
    """Jacobson & Truax (1991) cutoffs; ``b`` and ``c`` need functional norms."""

    a: float
    b: float | None
    c: float | None


def jacobson_truax_cutoffs(
    *,
    clinical_mean: float,
    clinical_sd: float,
    functional_mean: float | None = None,
    functional_sd: float | None = None,
    direction: str,
) -> Cutoffs:
    """a = M1 ∓ 2·SD1 (toward health); b = M0 ± 2·SD0 (toward illness);
    c = (SD0·M1 + SD1·M0) / (SD0 + SD1) (Jacobson & Truax 1991; CLINICAL.md §2).

    Note: clinicalsignificance 2.0.0 computes b with the clinical SD; we follow the paper.
    """
    sign = direction_sign(direction)
    a = clinical_mean + sign * 2 * clinical_sd
    if functional_mean is None or functional_sd is None:
        return Cutoffs(a=a, b=None, c=None)
    b = functional_mean - sign * 2 * functional_sd
    c = (functional_sd * clinical_mean + clinical_sd * functional_mean) / (
        functional_sd + clinical_sd
    )
    return Cutoffs(a=a, b=b, c=c)


def change_category(
    reliable: str | None, clinical_at_pre: bool | None, functional_at_post: bool | None
) -> str | None:
    """Recovered / improved / unchanged / deteriorated / harmed (Jacobson & Truax 1991).

    recovered: clinical at pre, functional at post, reliably improved; harmed: not clinical at pre,
    not functional at post, reliably worse. None when any input is unknown.
    """
    if reliable is None or clinical_at_pre is None or functional_at_post is None:
        return None
    if reliable == "improved":
        return "recovered" if clinical_at_pre and functional_at_post else "improved"
    if reliable == "deteriorated":
        return "harmed" if not clinical_at_pre and not functional_at_post else "deteriorated"
    return "unchanged"


def change_categories(reliable, clinical_at_pre, functional_at_post) -> np.ndarray:
    """Vectorised :func:`change_category` (reliable None gives None)."""
    reliable = np.asarray(reliable, dtype=object)
    clinical_at_pre = np.asarray(clinical_at_pre, dtype=bool)
    functional_at_post = np.asarray(functional_at_post, dtype=bool)
    improved = reliable == "improved"
    deteriorated = reliable == "deteriorated"
    return _category_labels(
        recovered=improved & clinical_at_pre & functional_at_post,
        improved=improved,
        harmed=deteriorated & ~clinical_at_pre & ~functional_at_post,
        deteriorated=deteriorated,
        undefined=pd.isna(reliable),
    )


def _category_labels(*, recovered, improved, harmed, deteriorated, undefined) -> np.ndarray:
    # Codes follow CATEGORIES: recovered, improved, unchanged, deteriorated, harmed; then None.
    codes = np.where(
        recovered,
        0,
        np.where(improved, 1, np.where(harmed, 4, np.where(deteriorated, 3, 2))),
    )
    codes[undefined] = 5
    return _CATEGORY_LABELS[codes]


def classify_instrument_change(instrument: Instrument, pre_total, post_total) -> dict:
    """Change between two totals of one instrument, by its published numbers.

    ``reliable`` uses the instrument's fixed reliable-change value (>=, NHS Talking Therapies
    Manual); clinical status uses its caseness cutoff (e.g. PHQ-9 >= 10). A client who is a case
    at pre, not a case at post and reliably improved has ``recovered``; not a case at pre, a case
    at post and reliably worse is ``harmed``. Values are None where the instrument has no
    published reliable-change value or no cutoff (K10, SRS, our session rating).
    """
    if pre_total is None or post_total is None:
        raise ValueError("classify_change needs both a pre and a post total")
    clinical_at_pre = instrument.is_case(pre_total)
    clinical_at_post = instrument.is_case(post_total)
    reliable = None
    if instrument.reliable_change is not None:
        reliable = fixed_point_category(
            pre_total,
            post_total,
            reliable_change=instrument.reliable_change,
            direction=instrument.direction,
        )
    functional_at_post = None if clinical_at_post is None else not clinical_at_post
    return {
        "change": post_total - pre_total,
        "reliable": reliable,
        "clinical_at_pre": clinical_at_pre,
        "clinical_at_post": clinical_at_post,
        "category": change_category(reliable, clinical_at_pre, functional_at_post),
    }


def classify_instrument_change_frame(
    instrument: Instrument, pre_totals, post_totals, index=None
) -> pd.DataFrame:
    """Vectorised :func:`classify_instrument_change` (missing totals give None)."""
    pre = np.asarray(pre_totals, dtype=float)
    post = np.asarray(post_totals, dtype=float)
    missing = np.isnan(pre) | np.isnan(post)
    sign = direction_sign(instrument.direction)
    if instrument.caseness_cutoff is None:
        clinical_pre = pd.array([pd.NA] * len(pre), dtype="boolean")
        clinical_post = clinical_pre.copy()
        category = np.full(len(pre), None, dtype=object)
    else:
        cutoff = instrument.caseness_cutoff
        case_pre = pre < cutoff if sign > 0 else pre >= cutoff
        case_post = post < cutoff if sign > 0 else post >= cutoff
        clinical_pre = pd.array(case_pre, dtype="boolean")
        clinical_post = pd.array(case_post, dtype="boolean")
        clinical_pre[np.isnan(pre)] = pd.NA
        clinical_post[np.isnan(post)] = pd.NA
    if instrument.reliable_change is None:
        reliable = np.full(len(pre), None, dtype=object)
    else:
        reliable = fixed_point_categories(
            pre, post, reliable_change=instrument.reliable_change, direction=instrument.direction
        )
    if instrument.caseness_cutoff is not None:
        category = change_categories(reliable, case_pre, ~case_post)
        category[missing] = None
    return pd.DataFrame(
        {
            "change": post - pre,
            "reliable": _labels(reliable, index),
            "clinical_at_pre": clinical_pre,
            "clinical_at_post": clinical_post,
            "category": _labels(category, index),
        },
        index=index,
    )


def _labels(values, index) -> pd.Series:
    # Object dtype keeps None for "undefined"; pandas 3 would otherwise infer str with NaN.
    return pd.Series(values, index=index, dtype=object)


def _check_reliability(reliability: float) -> None:
    if reliability is None or not 0 < reliability < 1:
        raise ValueError(f"reliability must lie strictly between 0 and 1, got {reliability!r}")


# --- clinical significance over a sample (all methods) -----------------------------------------


def clinical_significance_frame(
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
    """Reliable change and clinical significance for every row of ``frame``.

    Methods (CLINICAL.md §2, formulas as in the R package clinicalsignificance):

    * ``JT``  Jacobson & Truax (1991): RCI = (post − pre) / (√2 · SEM), SEM = SD·√(1 − r).
    * ``GLN`` Gulliksen, Lord & Novick: ((post − M) − r(pre − M)) / (SD·√(1 − r²)).
    * ``HLL`` Hsu, Linn & Lord: ((post − M_post) − r(pre − M)) / (SD·√(1 − r²)).
    * ``EN``  Edwards & Nunnally (Speer's form): (post − (r(pre − M) + M)) / SEM.
    * ``NK``  Nunnally & Kotsch: (post − (r(pre − M) + M)) / √(r²·SD²·(1 − r) + SD²·(1 − r_post)).
    * ``HA``  Hageman & Arrindell (1999): RCI_indiv with the reliability of the difference r_dd,
      one-tailed critical value 1.645; "true" cutoffs with each SD multiplied by √reliability, and
      a per-case test that post crossed that cutoff reliably.

    M and SD are the clinical norms when given (``clinical_mean``/``clinical_sd``), otherwise the
    mean and sample SD (n − 1) of the pre scores. Rows missing pre or post get NaN/None and do not
    enter the sample statistics. The result has columns ``pre``, ``post``, ``change``, ``rci``,
    ``reliable``, ``clinical_pre``, ``functional_post`` and ``category``; ``result.attrs`` holds
    the method, critical value, cutoff type and value, and the statistics used.
    """
    method = method.upper()
    if method not in RCI_METHODS:
        raise ValueError(f"method must be one of {', '.join(RCI_METHODS)}, got {method!r}")
    if cutoff is None:
        # Without a functional population only "a" can be computed; the R package
        # clinicalsignificance defaults to "a" as well (Claus, Wager & Bonnet 2024).
        has_functional_norms = functional_mean is not None and functional_sd is not None
        cutoff = "c" if has_functional_norms else "a"
    if cutoff not in CUTOFF_TYPES:
        raise ValueError(f"cutoff must be one of a, b, c, got {cutoff!r}")
    _check_reliability(reliability)
    sign = direction_sign(direction)

    pre_scores = pd.to_numeric(frame[pre], errors="coerce").to_numpy(dtype=float)
    post_scores = pd.to_numeric(frame[post], errors="coerce").to_numpy(dtype=float)
    complete = ~np.isnan(pre_scores) & ~np.isnan(post_scores)
    if complete.sum() < 2:
        raise ValueError("clinical significance needs at least two complete pre/post pairs")
    pre_complete, post_complete = pre_scores[complete], post_scores[complete]
    m_pre = float(pre_complete.mean()) if clinical_mean is None else float(clinical_mean)
    sd_pre = float(pre_complete.std(ddof=1)) if clinical_sd is None else float(clinical_sd)
    m_post = float(post_complete.mean())
    sd_post = float(post_complete.std(ddof=1))
    se_measurement = standard_error_of_measurement(sd_pre, reliability)
    attrs: dict = {
        "method": method,
        "direction": direction,
        "reliability": reliability,
        "m_pre": m_pre,
        "sd_pre": sd_pre,
        "m_post": m_post,
        "sd_post": sd_post,
        "se_measurement": se_measurement,
        "n_complete": int(complete.sum()),
    }

    critical = Z_ONE_TAILED_5 if method == "HA" else Z_TWO_TAILED_5
    if method == "JT":
        rci = (post_scores - pre_scores) / standard_error_of_difference(se_measurement)
    elif method in ("GLN", "HLL"):
        se_prediction = sd_pre * math.sqrt(1 - reliability**2)
        post_centre = m_pre if method == "GLN" else m_post
        rci = ((post_scores - post_centre) - reliability * (pre_scores - m_pre)) / se_prediction
        attrs["se_prediction"] = se_prediction
    elif method == "EN":
        true_pre = reliability * (pre_scores - m_pre) + m_pre
        rci = (post_scores - true_pre) / se_measurement
    elif method == "NK":
        if reliability_post is None:
            reliability_post = reliability
        _check_reliability(reliability_post)
        denominator = math.sqrt(
            reliability**2 * sd_pre**2 * (1 - reliability) + sd_pre**2 * (1 - reliability_post)
        )
        true_pre = reliability * (pre_scores - m_pre) + m_pre
        rci = (post_scores - true_pre) / denominator
        attrs["reliability_post"] = reliability_post
    else:  # HA
        rci, r_dd = _hageman_arrindell_rci(
            pre_scores, post_scores, complete, m_pre, sd_pre, m_post, sd_post, se_measurement
        )
        attrs["r_dd"] = r_dd
    attrs["critical"] = critical
    reliable = rci_categories(rci, direction, critical)

    cutoffs = jacobson_truax_cutoffs(
        clinical_mean=m_pre,
        clinical_sd=sd_pre,
        functional_mean=functional_mean,
        functional_sd=functional_sd,
        direction=direction,
    )
    if method == "HA":
        cutoffs = _true_cutoffs(
            m_pre, sd_pre, functional_mean, functional_sd, se_measurement, reliability, direction
        )
    cutoff_value = getattr(cutoffs, cutoff)
    if cutoff_value is None:
        raise ValueError(
            f"cutoff {cutoff!r} needs the functional population's norms: "
            "pass functional_mean and functional_sd (or use cutoff='a')"
        )
    attrs.update(
        cutoff_type=f"{cutoff}_true" if method == "HA" else cutoff,
        cutoff=cutoff_value,
        cutoffs={"a": cutoffs.a, "b": cutoffs.b, "c": cutoffs.c},
    )

    clinical_pre = sign * pre_scores < sign * cutoff_value
    if method == "HA":
        # Hageman & Arrindell judge the crossing per case: post, corrected towards the post mean
        # by its reliability, must lie beyond the true cutoff by the one-tailed critical value.
        reliability_post_ha = (sd_post**2 - se_measurement**2) / sd_post**2
        if not reliability_post_ha > 0:
            raise ValueError("HA: the post scores vary less than the measurement error allows")
        crossing = (m_post + (post_scores - m_post) * reliability_post_ha - cutoff_value) / (
            math.sqrt(reliability_post_ha) * se_measurement
        )
        functional_post = clinical_pre & (sign * crossing > critical)
        crossed_into_clinical = ~clinical_pre & (sign * crossing < -critical)
        category = _hageman_arrindell_categories(reliable, functional_post, crossed_into_clinical)
        attrs["reliability_post_ha"] = reliability_post_ha
    else:
        functional_post = sign * post_scores > sign * cutoff_value
        category = change_categories(reliable, clinical_pre, functional_post)

    category[~complete] = None
    result = pd.DataFrame(
        {
            "pre": pre_scores,
            "post": post_scores,
            "change": post_scores - pre_scores,
            "rci": rci,
            "reliable": _labels(reliable, frame.index),
            "clinical_pre": pd.array(np.where(complete, clinical_pre, False), dtype="boolean"),
            "functional_post": pd.array(
                np.where(complete, functional_post, False), dtype="boolean"
            ),
            "category": _labels(category, frame.index),
        },
        index=frame.index,
    )
    result.loc[~complete, ["clinical_pre", "functional_post"]] = pd.NA
    result.attrs.update(attrs)
    return result


def _hageman_arrindell_rci(pre, post, complete, m_pre, sd_pre, m_post, sd_post, sem):
    """RCI_indiv of Hageman & Arrindell (1999), with r_dd the reliability of the differences."""
    r_pre = (sd_pre**2 - sem**2) / sd_pre**2
    r_post = (sd_post**2 - sem**2) / sd_post**2
    correlation = float(np.corrcoef(pre[complete], post[complete])[0, 1])
    numerator = sd_pre**2 * r_pre + sd_post**2 * r_post - 2 * sd_pre * sd_post * correlation
    denominator = sd_pre**2 + sd_post**2 - 2 * sd_pre * sd_post * correlation
    r_dd = numerator / denominator
    if not r_dd > 0:
        raise ValueError(
            f"HA: the reliability of the difference scores is {r_dd:.3f}; it must be positive"
        )
    rci = ((post - pre) * r_dd + (m_post - m_pre) * (1 - r_dd)) / (
        math.sqrt(r_dd) * math.sqrt(2 * sem**2)
    )
    return rci, r_dd


def _true_cutoffs(m1, sd1, m0, sd0, sem, reliability, direction) -> Cutoffs:
    """Hageman & Arrindell "true" cutoffs: every SD multiplied by √(its reliability)."""
    sign = direction_sign(direction)
    a = m1 + sign * 2 * sd1 * math.sqrt(reliability)
    if m0 is None or sd0 is None:
        return Cutoffs(a=a, b=None, c=None)
    reliability_functional = (sd0**2 - sem**2) / sd0**2
    if not reliability_functional > 0:
        raise ValueError("HA: the functional SD is smaller than the standard error of measurement")
    true_sd1 = sd1 * math.sqrt(reliability)
    true_sd0 = sd0 * math.sqrt(reliability_functional)
    b = m0 - sign * 2 * true_sd0
    c = (true_sd1 * m0 + true_sd0 * m1) / (true_sd1 + true_sd0)
    return Cutoffs(a=a, b=b, c=c)


def _hageman_arrindell_categories(reliable, functional_post, crossed_into_clinical):
    # functional_post already requires clinical status at pre (see the crossing test).
    # clinicalsignificance 2.0.0 never reports "harmed" for HA; we apply the same crossing test in
    # the other direction so that the five categories mean the same for every method.
    reliable = np.asarray(reliable, dtype=object)
    improved = reliable == "improved"
    deteriorated = reliable == "deteriorated"
    return _category_labels(
        recovered=improved & functional_post,
        improved=improved,
        harmed=deteriorated & crossed_into_clinical,
        deteriorated=deteriorated,
        undefined=pd.isna(reliable),
    )


# --- effect size ----------------------------------------------------------------------------------


def pre_post_effect_size(pre, post, *, direction: str, sd_pre: float | None = None) -> float:
    """d = (mean_pre − mean_post) / SD_pre, signed so that improvement is positive (CLINICAL.md §5).

    Uses complete pairs; SD_pre is the sample SD (n − 1) of those pre scores unless given.
    """
    pre = np.asarray(pre, dtype=float)
    post = np.asarray(post, dtype=float)
    complete = ~np.isnan(pre) & ~np.isnan(post)
    if complete.sum() < 2:
        raise ValueError("an effect size needs at least two complete pre/post pairs")
    sd = float(pre[complete].std(ddof=1)) if sd_pre is None else float(sd_pre)
    if not sd > 0:
        raise ValueError("the pre scores have no spread; the effect size is undefined")
    healthier_shift = direction_sign(direction) * (post[complete].mean() - pre[complete].mean())
    return float(healthier_shift / sd)


# --- NHS Talking Therapies paired outcomes ------------------------------------------------------


def talking_therapies_outcome(
    phq9_first,
    phq9_last,
    gad7_first,
    gad7_last,
    attended_sessions,
    *,
    anxiety_instrument: Instrument | None = None,
) -> dict:
    """Paired outcome of one episode, per the NHS Talking Therapies Manual (CLINICAL.md §3).

    * Finished a course of treatment: at least 2 attended treatment sessions; the outcome
      metrics are defined only for such episodes (None otherwise).
    * Case at a time point: PHQ-9 >= 10 or the anxiety measure at/above its cutoff (GAD-7 >= 8).
    * Recovery (only for cases at the start): not a case on either measure at the end.
    * Reliable improvement: a reliable drop (PHQ-9 >= 6, GAD-7 >= 4 points) on at least one
      measure and no reliable rise on either; reliable deterioration is the mirror image; a
      reliable drop on one and a reliable rise on the other is no reliable change.
    * Reliable recovery: recovery and reliable improvement.

    Pass ``anxiety_instrument`` to use another anxiety measure in place of GAD-7. Impossible
    inputs (a score outside the measure's range, text, a negative or fractional session count)
    raise ValueError naming the argument: a typo must not become a "recovery".
    """
    anxiety = anxiety_instrument or get_instrument("gad7")
    for name, value, instrument in (
        ("phq9_first", phq9_first, get_instrument("phq9")),
        ("phq9_last", phq9_last, get_instrument("phq9")),
        ("gad7_first", gad7_first, anxiety),
        ("gad7_last", gad7_last, anxiety),
    ):
        _check_total(name, value, instrument)
    if attended_sessions is not None and not (
        _is_real(attended_sessions)
        and float(attended_sessions).is_integer()
        and attended_sessions >= 0
    ):
        raise ValueError(
            f"attended_sessions must be a whole number of sessions ≥ 0, got {attended_sessions!r}"
        )
    row = pd.DataFrame(
        {
            "phq9_first": [phq9_first],
            "phq9_last": [phq9_last],
            "gad7_first": [gad7_first],
            "gad7_last": [gad7_last],
            "attended_sessions": [attended_sessions],
        },
        dtype=float,
    )
    outcome = talking_therapies_frame(row, anxiety_instrument=anxiety_instrument).iloc[0]
    return {key: (None if pd.isna(value) else bool(value)) for key, value in outcome.items()}


def _is_real(value) -> bool:
    return isinstance(value, Real) and not isinstance(value, bool) and not math.isnan(value)


def _check_total(name: str, value, instrument: Instrument) -> None:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return  # missing, as in the vectorised path
    if not _is_real(value):
        raise ValueError(f"{name} must be a {instrument.code} total or None, got {value!r}")
    if not instrument.min_total <= value <= instrument.max_total:
        raise ValueError(
            f"{name} {value!r} is outside the {instrument.code} range "
            f"{instrument.min_total}–{instrument.max_total}"
        )


def talking_therapies_frame(
    frame: pd.DataFrame,
    *,
    phq9_first: str = "phq9_first",
    phq9_last: str = "phq9_last",
    gad7_first: str = "gad7_first",
    gad7_last: str = "gad7_last",
    attended_sessions: str = "attended_sessions",
    anxiety_instrument: Instrument | None = None,
) -> pd.DataFrame:
    """Vectorised :func:`talking_therapies_outcome`: one row per episode, nullable booleans."""
    depression = get_instrument("phq9")
    anxiety = anxiety_instrument or get_instrument("gad7")
    for instrument in (depression, anxiety):
        if instrument.caseness_cutoff is None or instrument.reliable_change is None:
            raise ValueError(f"{instrument.code} has no caseness cutoff or reliable change value")
        if instrument.higher_is_better:
            raise ValueError(f"{instrument.code}: Talking Therapies measures are lower-is-better")

    def column(name):
        return pd.to_numeric(frame[name], errors="coerce").to_numpy(dtype=float)

    d_first, d_last = column(phq9_first), column(phq9_last)
    a_first, a_last = column(gad7_first), column(gad7_last)
    sessions = column(attended_sessions)

    finished = sessions >= 2
    scores_present = ~(np.isnan(d_first) | np.isnan(d_last) | np.isnan(a_first) | np.isnan(a_last))
    defined = finished & scores_present

    case_start = (d_first >= depression.caseness_cutoff) | (a_first >= anxiety.caseness_cutoff)
    case_end = (d_last >= depression.caseness_cutoff) | (a_last >= anxiety.caseness_cutoff)
    d_drop = d_first - d_last >= depression.reliable_change
    d_rise = d_last - d_first >= depression.reliable_change
    a_drop = a_first - a_last >= anxiety.reliable_change
    a_rise = a_last - a_first >= anxiety.reliable_change
    any_drop, any_rise = d_drop | a_drop, d_rise | a_rise
    improvement = any_drop & ~any_rise
    deterioration = any_rise & ~any_drop
    recovery = case_start & ~case_end

    def nullable(values, where):
        array = pd.array(values, dtype="boolean")
        array[~where] = pd.NA
        return array

    finished_column = pd.array(finished, dtype="boolean")
    finished_column[np.isnan(sessions)] = pd.NA
    return pd.DataFrame(
        {
            "finished_course_of_treatment": finished_column,
            "case_at_start": nullable(case_start, defined),
            "case_at_end": nullable(case_end, defined),
            "recovery": nullable(recovery, defined & case_start),
            "reliable_improvement": nullable(improvement, defined),
            "reliable_deterioration": nullable(deterioration, defined),
            "reliable_recovery": nullable(recovery & improvement, defined & case_start),
            "no_reliable_change": nullable(~improvement & ~deterioration, defined),
        },
        index=frame.index,
    )


# --- sudden gains and losses ---------------------------------------------------------------------

#: Two-tailed 5 % Student t critical values by degrees of freedom (n_pre + n_post − 2): 2.776 for
#: 3 + 3 scores (Tang & DeRubeis 1999), 3.182 and 4.303 when one or two of the six are missing
#: (Lutz et al. 2013, as implemented in the R package suddengains, Wiedemann et al. 2020).
T_CRITICAL_5 = {4: 2.776, 3: 3.182, 2: 4.303}


@dataclass(frozen=True)
class SuddenChange:
    """A sudden gain or loss between ``scores[pregain_index]`` and the next score."""

    kind: Literal["gain", "loss"]
    pregain_index: int
    pregain_score: float
    postgain_score: float
    magnitude: float


def sudden_changes(
    scores: Sequence[float | None],
    *,
    reliable_change: float,
    direction: str = "lower_is_better",
    relative_threshold: float = 0.25,
) -> list[SuddenChange]:
    """Sudden gains and losses in one client's session-by-session series (Tang & DeRubeis 1999).

    A gain between session N and N+1 (both present) needs: (1) an improvement of at least the
    reliable change value; (2) at least 25 % of the pre-gain score; (3) the mean of sessions
    N-2..N exceeding the mean of N+1..N+3 (towards health) by more than t × pooled SD, t = 2.776
    for 3 + 3 scores (adjusted for one or two missing, Lutz et al. 2013; at least two scores on
    each side are needed). A loss is the mirror image and should raise an alert.
    """
    sign = direction_sign(direction)
    values = np.array([np.nan if s is None else float(s) for s in scores], dtype=float)
    found: list[SuddenChange] = []
    for n in range(len(values) - 1):
        before, after = values[n], values[n + 1]
        if np.isnan(before) or np.isnan(after):
            continue
        window_before = values[max(0, n - 2) : n + 1]
        window_after = values[n + 1 : n + 4]
        window_before = window_before[~np.isnan(window_before)]
        window_after = window_after[~np.isnan(window_after)]
        if len(window_before) < 2 or len(window_after) < 2:
            continue
        critical = T_CRITICAL_5[len(window_before) + len(window_after) - 2]
        pooled_sd = math.sqrt(
            (
                (len(window_before) - 1) * window_before.var(ddof=1)
                + (len(window_after) - 1) * window_after.var(ddof=1)
            )
            / (len(window_before) + len(window_after) - 2)
        )
        healthier_change = sign * (after - before)
        mean_shift = sign * (window_after.mean() - window_before.mean())
        for kind, direction_of_change in (("gain", 1), ("loss", -1)):
            change = direction_of_change * healthier_change
            if (
                change >= reliable_change
                and change >= relative_threshold * before
                and direction_of_change * mean_shift > critical * pooled_sd
            ):
                found.append(
                    SuddenChange(
                        kind=kind,
                        pregain_index=n,
                        pregain_score=float(before),
                        postgain_score=float(after),
                        magnitude=float(abs(after - before)),
                    )
                )
    return found


def sudden_changes_frame(
    frame: pd.DataFrame,
    *,
    episode: str = "episode",
    session: str = "session",
    score: str = "score",
    reliable_change: float,
    direction: str = "lower_is_better",
) -> pd.DataFrame:
    """:func:`sudden_changes` for every episode of a long frame (one row per score).

    Returns one row per sudden gain or loss: episode, kind, the sessions either side, the scores
    and the magnitude.
    """
    rows = []
    for episode_id, series in frame.sort_values([episode, session]).groupby(episode, sort=False):
        sessions = series[session].to_list()
        for change in sudden_changes(
            series[score].to_list(), reliable_change=reliable_change, direction=direction
        ):
            rows.append(
                {
                    episode: episode_id,
                    "kind": change.kind,
                    "pregain_session": sessions[change.pregain_index],
                    "postgain_session": sessions[change.pregain_index + 1],
                    "pregain_score": change.pregain_score,
                    "postgain_score": change.postgain_score,
                    "magnitude": change.magnitude,
                }
            )
    columns = [
        episode,
        "kind",
        "pregain_session",
        "postgain_session",
        "pregain_score",
        "postgain_score",
        "magnitude",
    ]
    return pd.DataFrame(rows, columns=columns)
