#!/usr/bin/env python3
"""Benchmark: cold wall time of the gates and of the selftest, median of N runs.

Usage: python scripts/bench_gate.py [--runs 5] [--selftest-runs 3]   (from the project root, harness on PATH,
tox's smoke env built). Every run starts its own throwaway stack (initdb, PostgreSQL, Redis, migrations,
app): that is "cold". Targets: the pr phase <= 45 s, its selftest (the whole fault matrix) <= 4 minutes.
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


def timed(argv: list[str], expect: int) -> float:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HARNESS_", "ORCHESTRA_"))}
    env["HARNESS_STACK"] = "local"
    t0 = time.perf_counter()
    done = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - t0
    if done.returncode != expect:
        sys.exit(
            f"{' '.join(argv)} exited {done.returncode}, expected {expect}:\n{done.stdout[-3000:]}{done.stderr[-3000:]}"
        )
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--selftest-runs", type=int, default=3, help="runs of `harness selftest --phase pr` (0: skip)")
    args = parser.parse_args()
    harness = shutil.which("harness") or sys.exit("harness is not on PATH: pip install -e . first")
    tox = shutil.which("tox") or sys.exit("tox is not on PATH")
    subprocess.run([tox, "-e", "smoke", "--notest"], cwd=ROOT, check=True, capture_output=True)
    reports = tempfile.mkdtemp(prefix="bench-reports-")
    smoke_phase = ["--phase", "smoke", "--policy-file", "policies/smoke-only.toml"]
    cases: dict[str, tuple[list[str], int, int]] = {
        "harness gate --phase pr (the quickstart)": (
            [harness, "gate", "--phase", "pr", "--reports-dir", reports],
            0,
            args.runs,
        ),
        "harness gate --phase smoke (policies/smoke-only.toml)": (
            [harness, "gate", *smoke_phase, "--reports-dir", reports],
            0,
            args.runs,
        ),
        "tox -e smoke (venv built)": ([tox, "-e", "smoke", "-qq"], 0, args.runs),
        "harness selftest --phase pr": (
            [harness, "selftest", "--phase", "pr", "--reports-dir", reports],
            0,
            args.selftest_runs,
        ),
    }
    print(f"# cold runs, {os.cpu_count()} cores")
    for name, (argv, expect, runs) in cases.items():
        if runs <= 0:
            continue
        times = [timed(argv, expect) for _ in range(runs)]
        print(
            f"{name}: median of {runs} {statistics.median(times):.2f} s  (min {min(times):.2f}, max {max(times):.2f})"
        )
    shutil.rmtree(reports, ignore_errors=True)


if __name__ == "__main__":
    main()
