#!/usr/bin/env python3
"""Benchmark: wall time of the rollback rehearsal and of the flags suite over 10,000 users.

Runs `harness gate --phase internal --suites rollback,flags --stack <stack>` N times per stack and reads
the measurements the suites recorded (reports/evidence.json): rollback_duration_s (flags off -> downgrade
0002 -> 0001 -> data read back -> cache invalidated -> flags checked), its steps, the whole rollback suite
(pytest-alembic's four checks on scratch databases + the rehearsal + re-upgrade), and the flags sample.
Medians over the runs. The containers stack is measured only when a Docker engine answers (DOCKER_HOST).

Usage: python scripts/bench_rollback.py [--runs 3] [--stacks local,containers]
       (containers: DOCKER_HOST=$(bash scripts/docker-up.sh) HARNESS_CONTAINERS_IMAGES=offline ...)
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
GATES = ("rollback.migrations", "rollback.data", "rollback.cache", "rollback.flags", "rollback.duration_s")
GATES += ("flags.semantics", "flags.phase_rollout")


def one_run(stack: str) -> dict[str, float]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ORCHESTRA_", "HARNESS_FLAGS_"))}
    with tempfile.TemporaryDirectory() as reports:
        argv = [sys.executable, "-m", "harness.cli", "gate", "--phase", "internal", "--suites", "rollback,flags"]
        t0 = time.perf_counter()
        done = subprocess.run(
            [*argv, "--stack", stack, "--reports-dir", reports],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        wall = time.perf_counter() - t0
        verdict = json.loads((Path(reports) / "verdict.json").read_text())
        statuses = {g["id"]: g["status"] for g in verdict["gates"] if g["id"] in GATES}
        if set(statuses.values()) != {"pass"}:
            sys.exit(f"{stack}: not every rollback/flags gate passed ({statuses}): {done.stdout[-1500:]}")
        records = json.loads((Path(reports) / "evidence.json").read_text())["records"]
    measured: dict[str, float] = {"gate_wall_s": wall}
    for record in records:
        measured.update(record.get("measurements") or {})
    for suite in ("rollback", "flags"):
        measured[f"{suite}_suite_s"] = verdict["suites"][suite]["duration_s"]
    return measured


def docker_answers() -> bool:
    if not os.environ.get("DOCKER_HOST"):
        return False
    try:
        from harness.stack.containers import docker_client

        docker_client(timeout_s=10).ping()
        return True
    except Exception:  # noqa: BLE001 - no engine: the containers stack is not measured
        return False


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--stacks", default="local,containers")
    args = parser.parse_args()
    keys = (
        "rollback_duration_s",
        "rollback_flags_off_s",
        "rollback_downgrade_s",
        "rollback_data_s",
        "rollback_cache_s",
        "rollback_flags_s",
        "rollback_reupgrade_s",
        "rollback_suite_s",
        "flags_sample_s",
        "flags_users",
        "flags_suite_s",
        "gate_wall_s",
    )
    for stack in args.stacks.split(","):
        if stack == "containers" and not docker_answers():
            print(f"{stack}: not measured (no Docker engine answers at DOCKER_HOST)")
            continue
        runs = [one_run(stack) for _ in range(args.runs)]
        print(f"{stack}: median of {args.runs} runs (cpu count {os.cpu_count()})")
        for key in keys:
            values = [r[key] for r in runs if key in r]
            if values:
                print(f"  {key:24s} {statistics.median(values):9.3f}   (min {min(values):.3f}, max {max(values):.3f})")


if __name__ == "__main__":
    main()
