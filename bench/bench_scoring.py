"""Benchmark: PHQ-9 scoring plus Jacobson–Truax over 1,000,000 administrations.

Issue 3 asks the vectorised path (used by the Celery jobs for whole caseloads) to be at least 50×
faster than looping the scalar path over the same rows. Looping 1,000,000 forms through the
scalar path would take minutes, so the scalar timing is measured on a random sample of 20,000
rows (10,000 pre/post pairs) and scaled up linearly; the output says so.

The 1,000,000 administrations are 500,000 clients with a pre and a post PHQ-9 (about 3 % of
answers missing, so proration and invalid forms are exercised). Each path: score every form,
then per client the Jacobson–Truax RCI (SD of the pre totals, reliability .89 from Kroenke et al.
2001), its reliable-change category and the five clinical-significance categories with the PHQ-9
caseness cutoff of 10.

Run: ``.venv/bin/python bench/bench_scoring.py [--rows 1000000] [--sample 20000]``
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

# Run as a plain script from anywhere: make the repository root importable.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from measures.change import (  # noqa: E402
    change_categories,
    change_category,
    rci_categories,
    rci_category,
    reliable_change_index,
)
from measures.instruments import get_instrument  # noqa: E402
from measures.scoring import score_answers, score_frame  # noqa: E402

RELIABILITY = 0.89  # PHQ-9 internal consistency, Kroenke, Spitzer & Williams 2001


def make_answers(n_rows: int, seed: int = 2024) -> np.ndarray:
    """Random PHQ-9 answers (9 items, values 0–3) with about 3 % missing as NaN."""
    rng = np.random.default_rng(seed)
    answers = rng.integers(0, 4, size=(n_rows, 9)).astype(float)
    answers[rng.random((n_rows, 9)) < 0.03] = np.nan
    return answers


def vectorised(instrument, answers: np.ndarray) -> pd.DataFrame:
    scored = score_frame(instrument, pd.DataFrame(answers))
    totals = scored["total"].to_numpy(dtype=float, na_value=np.nan)
    pre, post = totals[0::2], totals[1::2]
    sd_pre = np.nanstd(pre, ddof=1)
    rci = reliable_change_index(pre, post, sd=sd_pre, reliability=RELIABILITY)
    reliable = rci_categories(rci, instrument.direction)
    cutoff = instrument.caseness_cutoff
    category = change_categories(reliable, pre >= cutoff, post < cutoff)
    return pd.DataFrame({"rci": rci, "category": pd.Series(category, dtype=object)})


def scalar_loop(instrument, rows: list[list[float | None]], sd_pre: float) -> list:
    totals = [score_answers(instrument, row).total for row in rows]
    results = []
    for pre, post in zip(totals[0::2], totals[1::2], strict=True):
        if pre is None or post is None:
            results.append((float("nan"), None))
            continue
        rci = reliable_change_index(pre, post, sd=sd_pre, reliability=RELIABILITY)
        reliable = rci_category(rci, instrument.direction)
        cutoff = instrument.caseness_cutoff
        results.append((rci, change_category(reliable, pre >= cutoff, post < cutoff)))
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--sample", type=int, default=20_000)
    arguments = parser.parse_args()
    rows, sample = arguments.rows, min(arguments.sample, arguments.rows)
    if rows % 2 or sample % 2:
        parser.error("--rows and --sample must be even (pre/post pairs)")

    phq9 = get_instrument("phq9")
    answers = make_answers(rows)

    started = time.perf_counter()
    result = vectorised(phq9, answers)
    vectorised_seconds = time.perf_counter() - started

    # The scalar loop runs on a random sample of whole pairs; answers become Python lists of
    # int/None first, as a view would receive them (not timed).
    rng = np.random.default_rng(7)
    pairs = rng.choice(rows // 2, size=sample // 2, replace=False)
    positions = np.column_stack([2 * pairs, 2 * pairs + 1]).ravel()
    sample_rows = [
        [None if np.isnan(value) else int(value) for value in answers[position]]
        for position in positions
    ]
    totals = score_frame(phq9, pd.DataFrame(answers[0::2]))["total"]
    sd_pre = float(totals.astype(float).std(ddof=1))
    started = time.perf_counter()
    scalar = scalar_loop(phq9, sample_rows, sd_pre)
    sample_seconds = time.perf_counter() - started
    scalar_seconds = sample_seconds * rows / sample

    # The two paths must agree on the sampled pairs (the vectorised SD is the same here).
    expected = result.iloc[pairs]
    agree = [category for _, category in scalar] == expected["category"].tolist() and np.allclose(
        [rci for rci, _ in scalar], expected["rci"], equal_nan=True
    )
    counts = result["category"].value_counts().to_dict()

    print(f"PHQ-9 scoring + Jacobson–Truax, {rows:,} administrations ({rows // 2:,} pairs)")
    print(f"  vectorised (score_frame + RCI/categories):     {vectorised_seconds:8.2f} s")
    print(
        f"  scalar loop, measured on a {sample:,}-row sample: {sample_seconds:8.2f} s, "
        f"scaled ×{rows / sample:g} to {scalar_seconds:8.2f} s"
    )
    print(f"  speed-up: {scalar_seconds / vectorised_seconds:.0f}× (target ≥ 50×)")
    print(f"  scalar and vectorised categories agree on the sample: {agree}")
    print(f"  categories: {counts}")


if __name__ == "__main__":
    main()
