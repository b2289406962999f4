"""Issue 18's table in one run: every measure against its floor taken in the same run.

    PYTHONPATH=. .venv/bin/python bench/bench_issue18.py [--episodes 50000] [--clients 3000]
        [--sweep-url postgres://…/outcomes_bench_sweep]
        [--caseload-url postgres://…/outcomes_bench_caseload] [--reseed] [--json PATH]

Runs the project's benches one after another, each in its own process (each sets up Django for
its own database), with ``--json`` so their figures come back machine-readable; their own output
is passed through as they print it, and at the end one table: measure | time | floor | ratio |
goal | met?. The goals are issue 18's.

- ``bench_rules.py``: ``rules.evaluate`` on ``--episodes`` × 20 administrations (1 M rows at the
  issue's size) against the numpy floor (lexsort, series bounds, shift), best of five in turns;
- ``bench_submission.py`` (SQLite in memory, a test database it makes and drops): one submitted
  check-in, the link's POST and the one evaluation it queues, against its own SQL (the time in the
  driver for every query of both), ``--runs`` × ``--rounds`` submissions pooled;
- ``bench_caseload.py --postgres --team``: the team/clinic caseload at ``--clients`` on PostgreSQL
  (its own database, made, migrated and emptied by it), server time per page against the page's
  own SQL, with the HTML size;
- ``bench_sweep.py`` (PostgreSQL, its own database, seeded once and kept): the reads, the cold,
  steady and full sweeps against ``COPY … TO STDOUT`` of the same rows and columns (the faster of
  the floors taken before and after the sweeps: the stricter ratio), the naive per-episode loop
  on ``--sample`` episodes, the per-submission task on ``--submissions``.

The machine is shared (2 cores): the load average is printed before and after; compare ratios.
``--episodes 2000 --clients 300 --sample 20 --submissions 10`` is a quick run of the same code.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
POSTGRES = "postgres://postgres@127.0.0.1:5432/"


def bench_run(script: str, arguments: list[str], environment: dict[str, str]) -> dict | list:
    """Run one bench with ``--json``, its output passed through; returns what it wrote."""
    with tempfile.TemporaryDirectory(prefix="bench-issue18-") as workdir:
        figures = Path(workdir) / "figures.json"
        command = [sys.executable, str(ROOT / "bench" / script), *arguments, "--json", str(figures)]
        print(f"\n$ {' '.join(command[1:])}", flush=True)
        started = time.perf_counter()
        subprocess.run(command, cwd=ROOT, env=environment, check=True)
        print(f"({script}: {time.perf_counter() - started:.0f} s)", flush=True)
        return json.loads(figures.read_text())


def percentile(values: list[float], share: float) -> float:
    import numpy as np

    return float(np.percentile(values, share))


def seconds(value: float) -> str:
    return f"{value * 1000:.0f} ms" if value < 1 else f"{value:.2f} s"


def rows_rules(figures: dict) -> list[tuple]:
    ratio = figures["evaluate_seconds"] / figures["floor_seconds"]
    return [
        (
            f"`rules.evaluate`, {figures['administrations']:,} administrations + "
            f"{figures['checkins']:,} check-ins (best of 5)",
            seconds(figures["evaluate_seconds"]),
            f"numpy lexsort + series bounds + shift: {seconds(figures['floor_seconds'])}",
            f"{ratio:.1f}×",
            "≤ 4×",
            ratio <= 4,
        )
    ]


def rows_submission(figures: dict) -> list[tuple]:
    total, sql, health = figures["total"], figures["sql"], figures["healthz"]
    p50, p95 = statistics.median(total), percentile(total, 95)
    sql_p50, health_p50 = statistics.median(sql), statistics.median(health)
    queries = max(figures["queries"])
    return [
        (
            f"one submission, view + evaluation ({figures['database']}, {len(total)} submissions, "
            f"{queries} queries at most)",
            f"p50 {p50:.1f} ms, p95 {p95:.1f} ms",
            f"its SQL p50 {sql_p50:.1f} ms (GET /healthz p50 {health_p50:.1f} ms)",
            f"p50 {p50 / sql_p50:.1f}× its SQL "
            f"({p50 / (sql_p50 + health_p50):.1f}× SQL + /healthz)",
            "p95 ≤ 40 ms, ≤ 20 queries",
            p95 <= 40 and queries <= 20,
        )
    ]


def rows_caseload(figures: list) -> list[tuple]:
    rows = []
    for size in figures:
        server, sql = statistics.median(size["server_ms"]), statistics.median(size["sql_ms"])
        paginated = size["rows_shown"] <= size["page_size"] < size["clients"]
        rows.append(
            (
                f"{size['view']} caseload at {size['clients']:,} clients ({size['database']}; "
                f"{size['rows_shown']} rows shown, {size['queries']} queries, "
                f"{size['html_bytes'] / 1000:,.0f} kB of HTML)",
                f"{server:.0f} ms (median of {len(size['server_ms'])})",
                f"its SQL: {sql:.0f} ms",
                f"{server / sql:.1f}×",
                "≤ 400 ms server time, paginated",
                server <= 400 and paginated,
            )
        )
    return rows


def rows_sweep(figures: dict) -> list[tuple]:
    floor = min(figures["floor_before"], figures["floor_after"])
    copy = (
        f"COPY: {seconds(floor)} (before {seconds(figures['floor_before'])}, "
        f"after {seconds(figures['floor_after'])})"
    )
    submissions = figures["submissions"]
    p95 = statistics.quantiles(submissions, n=20)[18]  # as bench_sweep prints it
    full_faster = figures["naive_scaled"] / figures["full"]
    cold_faster = figures["naive_scaled"] / figures["cold"]
    return [
        (
            f"read the sweep's {figures['rows_read']:,} rows, ORM `values_list`",
            seconds(figures["read_orm"]),
            copy,
            f"{figures['read_orm'] / floor:.1f}×",
            "(the old reference; the floor is COPY)",
            None,
        ),
        (
            "read the same rows, the sweep's frame readers",
            seconds(figures["read_frames"]),
            copy,
            f"{figures['read_frames'] / floor:.1f}×",
            "raw speed",
            None,
        ),
        (
            f"steady sweep, nothing new ({figures['steady_episodes_read']:,} episodes read)",
            seconds(figures["steady"]),
            copy,
            f"{figures['steady'] / floor:.2f}×",
            "≤ 0.5 s",
            figures["steady"] <= 0.5,
        ),
        (
            f"full re-evaluation, {figures['episodes']:,} episodes",
            seconds(figures["full"]),
            copy,
            f"{figures['full'] / floor:.1f}×",
            "≤ 3× COPY",
            figures["full"] / floor <= 3,
        ),
        (
            f"cold sweep ({figures['cold_alerts_created']:,} alerts created)",
            seconds(figures["cold"]),
            copy,
            f"{figures['cold'] / floor:.1f}×",
            "≤ 10× COPY",
            figures["cold"] / floor <= 10,
        ),
        (
            f"naive per-episode ORM loop ({figures['naive_sample']:,} episodes, scaled)",
            f"{figures['naive_scaled']:,.0f} s",
            f"the full sweep {seconds(figures['full'])}, the cold one {seconds(figures['cold'])}",
            f"full {full_faster:.0f}×, cold {cold_faster:.0f}× faster",
            "full sweep ≥ 50× faster",
            # Judged against the full sweep, as bench_sweep does: the loop runs after the sweeps,
            # finds every alert there already and creates none, so it does a full run's work.
            full_faster >= 50,
        ),
        (
            f"per-submission task, {figures['episodes']:,} episodes in the database "
            f"({len(submissions)} submissions)",
            f"p50 {statistics.median(submissions) * 1000:.0f} ms, p95 {p95 * 1000:.0f} ms",
            "—",
            "—",
            "p95 < 200 ms",
            p95 < 0.2,
        ),
    ]


def table_rows(figures: dict) -> list[tuple]:
    """In the issue's order: reads, sweeps, rules, one submission, the caseload."""
    return [
        *rows_sweep(figures["sweep"]),
        *rows_rules(figures["rules"]),
        *rows_submission(figures["submission"]),
        *rows_caseload(figures["caseload"]),
    ]


def table_print(rows: list[tuple]) -> None:
    print("\n| measure | time | floor (same run) | ratio | goal | met? |")
    print("|---|---|---|---|---|---|")
    for measure, time_, floor, ratio, goal, met in rows:
        mark = "—" if met is None else ("✓" if met else "✗")
        print(f"| {measure} | {time_} | {floor} | {ratio} | {goal} | {mark} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--episodes", type=int, default=50_000, help="sweep and rules size")
    parser.add_argument("--clients", type=int, default=3000, help="caseload size")
    parser.add_argument("--sample", type=int, default=100, help="naive loop's episodes")
    parser.add_argument("--submissions", type=int, default=30, help="per-submission tasks")
    parser.add_argument("--runs", type=int, default=30, help="bench_submission's per round")
    parser.add_argument("--rounds", type=int, default=3, help="bench_submission's rounds")
    parser.add_argument("--sweep-url", default=POSTGRES + "outcomes_bench_sweep")
    parser.add_argument("--caseload-url", default=POSTGRES + "outcomes_bench_caseload")
    parser.add_argument("--reseed", action="store_true", help="re-seed the sweep's database")
    parser.add_argument("--json", help="write every bench's figures here")
    parser.add_argument(
        "--from-json", help="print the table again from figures a run wrote with --json"
    )
    options = parser.parse_args()
    if options.from_json:
        figures = json.loads(Path(options.from_json).read_text())
        table_print(table_rows(figures))
        load = {when: " ".join(f"{value:.2f}" for value in values)
                for when, values in figures["load_average"].items()}  # fmt: skip
        print(f"\nload average before {load['before']}, after {load['after']}")
        return

    commit = subprocess.run(
        ["git", "describe", "--always", "--dirty"], cwd=ROOT, capture_output=True, text=True
    ).stdout.strip()
    print(f"issue 18's table, code at {commit or 'an unknown commit'}")
    environment = {**os.environ, "PYTHONPATH": str(ROOT)}
    environment.pop("DATABASE_URL", None)
    load_before = os.getloadavg()
    started = time.perf_counter()
    figures = {
        "rules": bench_run("bench_rules.py", [str(options.episodes)], environment),
        # SQLite in memory: bench_submission makes its test database from DATABASE_URL if set.
        "submission": bench_run(
            "bench_submission.py",
            ["--runs", str(options.runs), "--rounds", str(options.rounds)],
            environment,
        ),
        "caseload": bench_run(
            "bench_caseload.py",
            ["--postgres", "--team", "--sizes", str(options.clients)],
            {**environment, "DATABASE_URL": options.caseload_url},
        ),
        "sweep": bench_run(
            "bench_sweep.py",
            [
                "--episodes",
                str(options.episodes),
                "--sample",
                str(options.sample),
                "--submissions",
                str(options.submissions),
                *(["--reseed"] if options.reseed else []),
            ],  # fmt: skip
            {**environment, "DATABASE_URL": options.sweep_url},
        ),
    }
    load_after = os.getloadavg()
    table_print(table_rows(figures))
    print(
        f"\n{time.perf_counter() - started:.0f} s in all; load average before "
        f"{' '.join(f'{load:.2f}' for load in load_before)}, after "
        f"{' '.join(f'{load:.2f}' for load in load_after)} ({os.cpu_count()} cores)"
    )
    if options.json:
        figures["load_average"] = {"before": load_before, "after": load_after}
        Path(options.json).write_text(json.dumps(figures))


if __name__ == "__main__":
    main()
