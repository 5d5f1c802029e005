#!/usr/bin/env python3
"""Benchmark: wall time of `harness gate --stack containers --phase smoke` (policies/smoke-only.toml), cold and warm.

cold: the app image is not built yet (it is built from deploy/Dockerfile during the run; the PostgreSQL,
      Redis and base images are present). warm: every image is built. Median of N warm runs.
Usage: DOCKER_HOST=... HARNESS_CONTAINERS_IMAGES=offline python scripts/bench_containers.py [--runs 5]
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


def gate(reports: str) -> float:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ORCHESTRA_")}
    t0 = time.perf_counter()
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "harness.cli",
            "gate",
            "--stack",
            "containers",
            "--phase",
            "smoke",
            "--policy-file",
            "policies/smoke-only.toml",
            "--reports-dir",
            reports,
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        sys.exit(f"gate exited {done.returncode}: {done.stdout[-1500:]}{done.stderr[-1500:]}")
    return time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    from harness.stack.containers import docker_client

    client = docker_client(timeout_s=300)  # removing a vfs image takes a while
    for image in client.images.list(name="ai-orchestra-harness/app"):
        client.images.remove(image.id, force=True)
    reports = tempfile.mkdtemp(prefix="bench-containers-")
    cold = gate(reports)
    warm = [gate(reports) for _ in range(args.runs)]
    print(f"# {os.cpu_count()} cores, images: {os.environ.get('HARNESS_CONTAINERS_IMAGES', 'official')}")
    print(f"containers smoke gate, cold (app image built in the run): {cold:.1f} s")
    print(
        f"containers smoke gate, warm: median {statistics.median(warm):.1f} s "
        f"(min {min(warm):.1f}, max {max(warm):.1f}, {args.runs} runs)"
    )
    shutil.rmtree(reports, ignore_errors=True)


if __name__ == "__main__":
    main()
