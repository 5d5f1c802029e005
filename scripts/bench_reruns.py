#!/usr/bin/env python3
"""Benchmark: what the re-runs of failing checks cost (issue: flaky checks are re-run once by default).

For each build (clean; chat_5xx: every chat call fails, so every chat check fails twice; fail_first=1: each
operation's first call fails, so checks come out flaky) runs `harness gate --phase pr` on the local stack N
times with the phase's re-runs on (the default, 1) and off (a team policy with `reruns = 0`), and prints the
median wall time, the re-runs the verdict counted, and the overhead of re-running. fail_first is switched on
through the app's admin endpoint by ORCHESTRA_FAULTS at start-up; its start-up calls (the readiness probe)
use up /health's first call, the other operations fail once in the suites.

Usage: python scripts/bench_reruns.py [--runs 3] [--builds clean,chat_5xx,fail_first=1]
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

ROOT = Path(__file__).resolve().parents[1]


def one_run(build: str, reruns_off: bool) -> tuple[float, int, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ORCHESTRA_", "HARNESS_"))}
    if build != "clean":
        env["ORCHESTRA_FAULTS"] = build
    with tempfile.TemporaryDirectory() as tmp:
        argv = [sys.executable, "-m", "harness.cli", "gate", "--phase", "pr", "--stack", "local", "--quiet"]
        argv += ["--reports-dir", str(Path(tmp) / "reports")]
        if reruns_off:
            policy = Path(tmp) / "no-reruns.toml"
            policy.write_text("[phases.pr]\nreruns = 0\n")
            argv += ["--policy-file", str(policy)]
        t0 = time.perf_counter()
        subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True, check=False)
        wall = time.perf_counter() - t0
        doc = json.loads((Path(tmp) / "reports" / "verdict.json").read_text())
    return wall, sum(s.get("reruns", 0) for s in doc["suites"].values()), doc["verdict"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--builds", default="clean,chat_5xx,fail_first=1")
    args = ap.parse_args()
    print("| build | verdict (re-runs on / off) | re-runs | median wall, re-runs on | off | overhead |")
    print("|---|---|---|---|---|---|")
    for build in args.builds.split(","):
        on = [one_run(build, False) for _ in range(args.runs)]
        off = [one_run(build, True) for _ in range(args.runs)]
        t_on, t_off = statistics.median(r[0] for r in on), statistics.median(r[0] for r in off)
        verdicts = f"{on[0][2]} / {off[0][2]}"
        reruns = statistics.median(r[1] for r in on)
        print(
            f"| {build} | {verdicts} | {reruns:g} | {t_on:.1f} s | {t_off:.1f} s | {100 * (t_on / t_off - 1):+.0f} % |"
        )


if __name__ == "__main__":
    main()
