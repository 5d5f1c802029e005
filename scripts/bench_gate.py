#!/usr/bin/env python3
"""Benchmark: cold wall time of the smoke gate, `tox -e smoke` (venv built) and the contract gate, median of N.

Usage: python scripts/bench_gate.py [--runs 5]   (from the project root, with tox's smoke env built)
Every run starts its own throwaway stack (initdb, PostgreSQL, Redis, migrations, app): that is "cold".
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def timed(argv: list[str]) -> float:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HARNESS_", "ORCHESTRA_"))}
    t0 = time.perf_counter()
    done = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - t0
    if done.returncode != 0:
        sys.exit(f"{' '.join(argv)} exited {done.returncode}:\n{done.stdout[-2000:]}{done.stderr[-2000:]}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    harness = shutil.which("harness") or sys.exit("harness is not on PATH: pip install -e . first")
    tox = shutil.which("tox") or sys.exit("tox is not on PATH")
    subprocess.run([tox, "-e", "smoke", "--notest"], cwd=ROOT, check=True, capture_output=True)
    reports = tempfile.mkdtemp(prefix="bench-reports-")
    cases = {
        "harness gate --phase internal --suites smoke": [
            harness,
            "gate",
            "--phase",
            "internal",
            "--suites",
            "smoke",
            "--reports-dir",
            reports,
        ],
        "tox -e smoke (venv built)": [tox, "-e", "smoke", "-qq"],
        "harness gate --phase internal --suites contract": [
            harness,
            "gate",
            "--phase",
            "internal",
            "--suites",
            "contract",
            "--reports-dir",
            reports,
        ],
    }
    print(f"# {args.runs} runs each, {os.cpu_count()} cores")
    for name, argv in cases.items():
        times = [timed(argv) for _ in range(args.runs)]
        print(f"{name}: median {statistics.median(times):.2f} s  (min {min(times):.2f}, max {max(times):.2f})")
    shutil.rmtree(reports, ignore_errors=True)


if __name__ == "__main__":
    main()
