"""Check that `measures.rules.evaluate` gives exactly the frames another version of it gives.

    PYTHONPATH=. .venv/bin/python bench/check_rules_identical.py [--ref REF] [--histories N]

A speed-up of the rules must not change one alert, message or status. This runs the version of
``measures/`` at the git revision REF (default: where this branch left main) in a subprocess and
this checkout's in this one, on the same inputs, and compares ``evaluate``'s alerts and status
frames (sorted, then ``assert_frame_equal``: values and dtypes) and the ``score_history`` frame
(which bench/bench_early_warning.py reads; its curve_source and intake_band compared as objects,
see ``_text_as_object``):

- bench/bench_rules.py's caseload: 50,000 episodes, 1,000,000 administrations, 400,000 check-ins;
- N random histories (default 400) in the shape of tests/unit/test_rules_properties.py, widened:
  every instrument of ``DEFAULT_PARAMS`` and one unknown code, missing and fractional totals, ties
  and shuffled rows, pending check-ins, each under one of several clinic settings (fitted curves,
  the other sudden-loss criteria, other z values, no warning for an unanswered risk item, issue
  16's first judged week, σ floor, not-improving share, early-in-care weeks and alliance window),
  each evaluated whole and episode by episode (the per-submission path);
- those histories pooled into one caseload, under each of the settings;
- for every case also ``trajectories.classify_administrations`` with reasons for PHQ-9 and WHO-5
  (the chart's and calibration's path).

Exits non-zero at the first difference and prints which case differed.
"""

from __future__ import annotations

import argparse
import dataclasses
import pickle
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

START = pd.Timestamp("2025-01-06 09:00", tz="UTC")
RANGES = {
    "phq9": 27,
    "gad7": 21,
    "who5": 100,
    "core10": 40,
    "ors": 40,
    "oq45": 180,
    "session_rating": 40,
    "srs": 40,
    "unknown_form": 10,
}

# Runs in the subprocess (reference) and in this process (this checkout) alike: only the names
# every version of measures.rules has, so any two versions can be compared.
RUNNER = """
import dataclasses, pickle, sys
import pandas as pd
from measures import rules, trajectories


def run(cases):
    results = []
    for case in cases:
        settings = dict(case["settings"])
        settings["curve_overrides"] = tuple(
            trajectories.BandCurve(**curve) for curve in settings.get("curve_overrides", ())
        )
        settings = rules.RuleSettings(**settings)
        params = rules.DEFAULT_PARAMS
        if case["instruments"] is not None:
            params = {code: params[code] for code in case["instruments"]}
        try:
            result = rules.evaluate(case["administrations"], case["checkins"], params,
                                    settings=settings)
            history = rules.score_history(case["administrations"], params, settings=settings)
            # The per-instrument path (charts, calibration) with its reasons, under the same
            # curve settings (only the names this version has).
            if hasattr(settings, "curve_options"):
                options = settings.curve_options()
            else:
                options = {"curves": settings.curve_overrides, "z_yellow": settings.z_yellow,
                           "z_red": settings.z_red}
            classified = []
            for code in ("phq9", "who5"):
                instrument = params.get(code)
                if instrument is None:
                    continue
                classified.append(trajectories.classify_administrations(
                    case["administrations"], instrument=code,
                    reliable_change=instrument.reliable_change, direction=instrument.direction,
                    functional_cutoff=instrument.functional_cutoff,
                    has_curve=instrument.has_curve, label=instrument.label, **options))
            results.append((result.alerts, result.status, history, classified))
        except Exception as error:  # the same input must fail the same way
            results.append(("error", type(error).__name__, str(error)))
    return results


if __name__ == "__main__":
    with open(sys.argv[1], "rb") as cases_file:
        cases = pickle.load(cases_file)
    with open(sys.argv[2], "wb") as results_file:
        pickle.dump(run(cases), results_file, protocol=pickle.HIGHEST_PROTOCOL)
"""


def random_caseload(rng: np.random.Generator, *, n_series: int):
    """Several series per episode, as the property tests make them, plus check-ins."""
    frames, next_id = [], 1
    n_episodes = max(1, n_series // 2)
    for _ in range(n_series):
        instrument = rng.choice(sorted(RANGES))
        episode_id = int(rng.integers(1, n_episodes + 1)) * 7  # ids need not be dense
        length = int(rng.integers(1, 12))
        totals = rng.integers(0, RANGES[instrument] + 1, length).astype(float)
        totals[rng.random(length) < 0.1] = np.nan
        fractional = rng.random(length) < 0.1
        totals[fractional] += 0.5  # prorated totals
        # Mostly weekly, sometimes a day or three off, sometimes the same moment as another form.
        days = np.cumsum(rng.choice([0, 1, 3, 6, 7, 7, 7, 8, 14], size=length))
        hours = rng.integers(0, 24, length) * (rng.random(length) < 0.5)
        frames.append(
            pd.DataFrame(
                {
                    "episode_id": episode_id,
                    "administration_id": np.arange(next_id, next_id + length),
                    "instrument": instrument,
                    "administered_at": START
                    + pd.to_timedelta(days, unit="D")
                    + pd.to_timedelta(hours, unit="h"),
                    "total": totals,
                    "risk": rng.choice(["no", "no", "no", "yes", "unknown"], size=length).astype(
                        object
                    ),
                }
            )
        )
        next_id += length
    administrations = pd.concat(frames, ignore_index=True)
    administrations = administrations.sample(frac=1, random_state=int(rng.integers(0, 2**31)))
    administrations = administrations.reset_index(drop=True)
    episodes = administrations["episode_id"].unique()
    if rng.random() < 0.3:  # an episode with check-ins and no forms
        episodes = np.append(episodes, episodes.max() + 7)
    n_checkins = rng.integers(0, 9, len(episodes))
    episode = np.repeat(episodes, n_checkins)
    week = np.concatenate([rng.permutation(n) for n in n_checkins]) if len(episode) else []
    checkins = pd.DataFrame(
        {
            "episode_id": episode.astype("int64"),
            "checkin_id": np.arange(1, len(episode) + 1, dtype="int64"),
            "due_at": START + pd.to_timedelta(np.asarray(week, dtype=int) * 7, unit="D"),
            "status": rng.choice(["missed", "missed", "completed", "pending"], size=len(episode)),
        }
    )
    checkins["status"] = checkins["status"].astype(object)
    return administrations, checkins


def fitted_curves() -> list[dict]:
    """Curves fitted on a synthetic caseload, so the fitted-curve path is compared too."""
    from bench.bench_rules import synthetic_caseload
    from measures.trajectories import fit_curves

    administrations, _ = synthetic_caseload(600, seed=11)
    curves = fit_curves(administrations, min_episodes=30)
    return [dataclasses.asdict(curve) for curve in curves if curve.source == "fitted"]


def settings_variants() -> list[dict]:
    return [
        {},
        {"curve_overrides": fitted_curves()},
        {"sudden_loss_criteria": "reliable_change", "missed_checkins_for_disengagement": 3},
        {"z_yellow": 1.0, "z_red": 1.3, "alert_on_unanswered_risk_item": False},
        {"alliance_cutoff": 30.0, "alliance_drop": 3.0},
        # Issue 16's curve settings (main's ew branch): the first week judged, the σ floor, the
        # not-improving share (0 = off), the early-in-care weeks and the alliance window.
        {"first_limit_week": 2, "sigma_floor": "sem", "not_improving_share": 0.0},
        {"first_limit_week": 3, "not_improving_share": 0.5, "early_in_care_weeks": 2},
        {"first_limit_week": 2, "not_improving_share": 0.5, "alliance_window_days": 7},
        {"first_limit_week": 3, "sigma_floor": "sem", "alliance_window_days": 1},
        {"sigma_floor": "sem", "not_improving_share": 0.05, "early_in_care_weeks": 0},
        {"z_yellow": 1.2816, "alliance_window_days": 10, "early_in_care_weeks": 6},
        {
            "curve_overrides": fitted_curves(),
            "first_limit_week": 2,
            "not_improving_share": 0.5,
            "alliance_window_days": 21,
        },
    ]


def cases(n_histories: int, *, seed: int = 18) -> list[dict]:
    from bench.bench_rules import synthetic_caseload

    administrations, checkins = synthetic_caseload(50_000)
    found = [
        {
            "name": "bench caseload, 50,000 episodes",
            "administrations": administrations,
            "checkins": checkins,
            "settings": {},
            "instruments": None,
        }
    ]
    rng = np.random.default_rng(seed)
    variants = settings_variants()
    for number in range(n_histories):
        administrations, checkins = random_caseload(rng, n_series=int(rng.integers(1, 9)))
        settings = variants[number % len(variants)]
        instruments = None
        if number % 7 == 3:  # a clinic that uses only some instruments
            instruments = ["phq9", "session_rating", "who5"]
        found.append(
            {
                "name": f"random history {number}",
                "administrations": administrations,
                "checkins": checkins,
                "settings": settings,
                "instruments": instruments,
            }
        )
        for episode_id in administrations["episode_id"].unique()[:3]:
            found.append(
                {
                    "name": f"random history {number}, episode {episode_id} alone",
                    "administrations": administrations[
                        administrations["episode_id"] == episode_id
                    ].reset_index(drop=True),
                    "checkins": checkins[checkins["episode_id"] == episode_id].reset_index(
                        drop=True
                    ),
                    "settings": settings,
                    "instruments": instruments,
                }
            )
    # The random histories pooled (episode ids apart) under each settings variant: a caseload
    # large enough that status reasons are written once per distinct combination and spread.
    pooled = [case for case in found[1:] if "alone" not in case["name"]]
    administrations = pd.concat(
        [
            case["administrations"].assign(
                episode_id=case["administrations"]["episode_id"] + 100_000 * number,
                administration_id=case["administrations"]["administration_id"] + 1_000_000 * number,
            )
            for number, case in enumerate(pooled)
        ],
        ignore_index=True,
    )
    checkins = pd.concat(
        [
            case["checkins"].assign(
                episode_id=case["checkins"]["episode_id"] + 100_000 * number,
                checkin_id=case["checkins"]["checkin_id"] + 1_000_000 * number,
            )
            for number, case in enumerate(pooled)
        ],
        ignore_index=True,
    )
    for number, settings in enumerate(variants):
        found.append(
            {
                "name": f"random histories pooled, settings variant {number}",
                "administrations": administrations,
                "checkins": checkins,
                "settings": settings,
                "instruments": None,
            }
        )
    found.append(
        {
            "name": "check-ins only",
            "administrations": found[0]["administrations"].iloc[:0],
            "checkins": found[0]["checkins"].iloc[:50],
            "settings": {},
            "instruments": None,
        }
    )
    return found


def reference_results(ref: str, cases_path: Path, workdir: Path) -> list:
    archive = workdir / "measures.tar"
    subprocess.run(
        ["git", "archive", "--output", str(archive), ref, "measures"], check=True, cwd=Path.cwd()
    )
    source = workdir / "reference"
    with tarfile.open(archive) as tar:
        tar.extractall(source, filter="data")
    runner = workdir / "runner.py"
    runner.write_text(RUNNER)
    results_path = workdir / "reference.pickle"
    subprocess.run(
        [sys.executable, str(runner), str(cases_path), str(results_path)],
        check=True,
        env={"PYTHONPATH": str(source), "PATH": "/usr/bin:/bin"},
    )
    with results_path.open("rb") as results_file:
        return pickle.load(results_file)


def sorted_frame(frame: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    return frame.sort_values(keys, kind="stable", ignore_index=True)


def compare(case: dict, reference, mine) -> None:
    if isinstance(reference[0], str) or isinstance(mine[0], str):
        assert reference == mine, (reference, mine)
        return
    ref_alerts, ref_status, ref_history, ref_classified = reference
    alerts, status, history, classified = mine
    # Identical order too: evaluate promises a fixed order.
    pd.testing.assert_frame_equal(alerts, ref_alerts)
    pd.testing.assert_frame_equal(
        sorted_frame(alerts, ["episode_id", "rule", "trigger"]),
        sorted_frame(ref_alerts, ["episode_id", "rule", "trigger"]),
    )
    pd.testing.assert_frame_equal(status, ref_status)
    pd.testing.assert_frame_equal(
        sorted_frame(status, ["episode_id"]), sorted_frame(ref_status, ["episode_id"])
    )
    pd.testing.assert_frame_equal(_text_as_object(history), _text_as_object(ref_history))
    assert len(classified) == len(ref_classified)
    for frame, ref_frame in zip(classified, ref_classified, strict=True):
        pd.testing.assert_frame_equal(_text_as_object(frame), _text_as_object(ref_frame))


def _text_as_object(history: pd.DataFrame) -> pd.DataFrame:
    """The history's optional text columns as objects, None where missing. main's history
    had them as pandas strings (NaN where missing) or objects (None) depending on which
    instruments a caseload held, an accident of concatenating per-instrument frames; the
    rules only compare them with "default"."""
    history = history.copy()
    for name in ("curve_source", "intake_band"):
        values = history[name].astype(object)
        history[name] = values.where(values.notna(), None).astype(object)
    return history


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ref", help="git revision (default: merge-base with main)")
    parser.add_argument("--histories", type=int, default=400)
    parser.add_argument("--without-bench", action="store_true", help="skip the 1 M-row caseload")
    arguments = parser.parse_args()
    ref = arguments.ref or (
        subprocess.run(
            ["git", "merge-base", "HEAD", "main"], check=True, capture_output=True, text=True
        ).stdout.strip()
    )
    started = time.perf_counter()
    all_cases = cases(arguments.histories)
    if arguments.without_bench:
        all_cases = all_cases[1:]
    namespace: dict = {"__name__": "runner"}
    exec(compile(RUNNER, "runner", "exec"), namespace)  # noqa: S102 (our own text, above)
    with tempfile.TemporaryDirectory() as directory:
        workdir = Path(directory)
        cases_path = workdir / "cases.pickle"
        with cases_path.open("wb") as cases_file:
            pickle.dump(all_cases, cases_file, protocol=pickle.HIGHEST_PROTOCOL)
        reference = reference_results(ref, cases_path, workdir)
    mine = namespace["run"](all_cases)
    alerts = 0
    for case, theirs, ours in zip(all_cases, reference, mine, strict=True):
        try:
            compare(case, theirs, ours)
        except AssertionError:
            print(f"DIFFERENT: {case['name']} (settings {list(case['settings'])})")
            raise
        alerts += 0 if isinstance(ours[0], str) else len(ours[0])
    errors = sum(isinstance(result[0], str) for result in mine)
    print(
        f"identical to {ref[:12]}: {len(all_cases)} cases ({arguments.histories} random histories "
        f"and their single episodes{'' if arguments.without_bench else ', the 1 M-row caseload'}"
        f"), {alerts:,} alerts, "
        f"{errors} cases failing the same way in both; {time.perf_counter() - started:.0f} s"
    )


if __name__ == "__main__":
    main()
