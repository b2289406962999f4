"""Where a sweep spends its time, phase by phase, on the database ``bench_sweep.py`` seeded.

    DATABASE_URL=postgres://... PYTHONPATH=. .venv/bin/python bench/sweep_phases.py full|cold

Times each step of ``outcomes.evaluation`` (the reads, ``rules.evaluate``, the writes) over every
active episode of the bench clinic, and prints each against ``COPY ... TO STDOUT`` of the same rows
measured just before, as ``bench_sweep.py`` does. ``cold`` first resets the database to "never
evaluated" (``bench_sweep.state_reset``). Run ``bench_sweep.py`` once first to seed it.
"""

from __future__ import annotations

import collections
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/outcomes_bench_sweep")
os.environ["CELERY_BROKER_URL"] = "memory://"
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

PHASES = [
    "administrations_frame",
    "checkins_frame",
    "_alert_keys",
    "_alerts_create",
    "_statuses_save",
    "_episodes_stamp",
]
# Inside _alerts_create; reported, not added to the total twice.
NESTED = ["_alerts_insert_postgresql", "_alerts_insert", "_alerts_audit"]


def main() -> None:
    kind = sys.argv[1] if len(sys.argv) > 1 else "full"
    if kind not in ("full", "cold"):
        raise SystemExit("usage: sweep_phases.py full|cold")
    import django

    django.setup()
    import bench_sweep

    from clients.models import Episode
    from outcomes import evaluation, notifications

    episode_ids = list(
        Episode.objects.filter(clinic__slug=bench_sweep.SLUG, ended_on__isnull=True)
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    if kind == "cold":
        bench_sweep.state_reset()
    floor = bench_sweep.copy_rows(episode_ids)
    seconds: collections.Counter = collections.Counter()

    def timed(module, name, label):
        function = getattr(module, name)

        def wrapper(*args, **kwargs):
            started = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                seconds[label] += time.perf_counter() - started

        setattr(module, name, wrapper)

    for name in PHASES + NESTED:
        timed(evaluation, name, name)
    timed(evaluation.rules, "evaluate", "rules.evaluate")
    timed(notifications, "alerts_notify_new", "alerts_notify_new (in _alerts_create)")

    started = time.perf_counter()
    evaluation.episodes_evaluate(episode_ids=evaluation.episodes_to_evaluate(full=kind == "full"))
    total = time.perf_counter() - started
    load = os.getloadavg()[0]
    print(f"{kind}: {total:.2f} s = {total / floor:.1f}× COPY ({floor:.2f} s), load {load:.1f}")
    for label, value in seconds.most_common():
        print(f"  {label:40s} {value:6.2f} s  {value / floor:5.2f}×")
    counted = sum(
        value for label, value in seconds.items() if label in PHASES or label == "rules.evaluate"
    )
    rest = total - counted
    print(f"  {'locking, settings, glue, commit':40s} {rest:6.2f} s  {rest / floor:5.2f}×")


if __name__ == "__main__":
    main()
