"""Time the demo clinic generator at scale.

.venv/bin/python bench/bench_demo_data.py [--clients 50000] [--seed 0]
"""

import argparse
import time
from datetime import date

from demo.demo_data import generate_clinic, to_frames


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--clients", type=int, default=50_000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    started = time.perf_counter()
    demo = generate_clinic(clients=args.clients, seed=args.seed, start=date(2025, 6, 2))
    generated = time.perf_counter()
    frames = to_frames(demo)
    framed = time.perf_counter()

    print(f"generate_clinic(clients={args.clients}): {generated - started:.1f} s")
    print(f"to_frames: {framed - generated:.1f} s")
    for name, frame in frames.items():
        print(f"  {name:16} {len(frame):>10,} rows")


if __name__ == "__main__":
    main()
