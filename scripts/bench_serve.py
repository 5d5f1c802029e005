"""Benchmark of `harness serve` (not a test): what the server adds to a gate run, and how fast it answers
a cached verdict.

1. Overhead: for each of --runs distinct checksums, GET /gates/smoke (smoke-only example policy, a local
   stack per run) every --poll-s until the 200; request-to-verdict time minus the gate run's own time
   (the `harness gate` child's wall time, from the server's run record: started_at -> finished_at). What is
   left is the server's share: queueing, starting the child, reading the verdict, storing it, and on average
   half a poll interval of the client's. Also shown: the child's wall time minus the verdict's own
   duration_s (the child's Python start-up and report writing, which any `harness gate` pays too).
2. Throughput: `wrk` on GET /gates/smoke for a verdict the server has (SQLite lookup, JSON answer):
   requests/s and latency, with every answer checked to be a 2xx.

    python scripts/bench_serve.py [--runs 5] [--duration 10] [--connections 16]

Needs wrk (`apt-get install -y wrk`). Prints a Markdown table for docs/guides/rollout-controllers.md.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[1]
TOKEN = "bench-serve-token-" + os.urandom(8).hex()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _ts(iso: str) -> float:
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--poll-s", type=float, default=0.05)
    ap.add_argument("--duration", type=int, default=10, help="wrk seconds")
    ap.add_argument("--connections", type=int, default=16)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    if shutil.which("wrk") is None:
        print("bench_serve: wrk is not installed (apt-get install -y wrk)", file=sys.stderr)
        return 64

    tmp = Path(tempfile.mkdtemp(prefix="bench-serve-"))
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HARNESS_", "ORCHESTRA_"))}
    env.update(
        HARNESS_SERVE_TOKEN=TOKEN,
        HARNESS_SERVE_DB=str(tmp / "serve.db"),
        HARNESS_POLICY_FILE="policies/smoke-only.toml",
        HARNESS_STACK="local",
    )
    log = open(tmp / "serve.log", "wb")  # noqa: SIM115 - closed below
    proc = subprocess.Popen(
        [sys.executable, "-m", "harness.cli", "serve", "--port", str(port)],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    auth = {"Authorization": f"Bearer {TOKEN}"}
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if requests.get(f"{url}/healthz", timeout=1).ok:
                    break
            except requests.RequestException:
                pass
            if time.monotonic() > deadline or proc.poll() is not None:
                print("bench_serve: harness serve did not come up", file=sys.stderr)
                return 2
            time.sleep(0.1)

        overheads, startups, totals = [], [], []
        for i in range(args.runs):
            checksum = f"bench{i}-{os.urandom(3).hex()}"
            t0 = time.time()
            while (
                r := requests.get(f"{url}/gates/smoke", params={"checksum": checksum}, headers=auth, timeout=10)
            ).status_code != 200:
                time.sleep(args.poll_s)
            t1 = time.time()
            body = r.json()
            run = requests.get(f"{url}/runs/{body['run_id']}", headers=auth, timeout=10).json()
            started = run.get("started_at")
            if started is None:  # a run read back from the store has no in-memory record: never here
                print("bench_serve: run record without started_at", file=sys.stderr)
                return 2
            child = _ts(run["finished_at"]) - _ts(started)
            overheads.append((t1 - t0) - child)
            startups.append(child - float(run["document"]["duration_s"]))
            totals.append(t1 - t0)
            print(f"run {i}: {body['verdict']} request->verdict {t1 - t0:.2f} s, child {child:.2f} s", file=sys.stderr)

        wrk = subprocess.run(
            [
                "wrk",
                f"-t{args.threads}",
                f"-c{args.connections}",
                f"-d{args.duration}s",
                "--latency",
                "-H",
                f"Authorization: Bearer {TOKEN}",
                f"{url}/gates/smoke?checksum={checksum}",
            ],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)
        log.close()
        shutil.rmtree(tmp, ignore_errors=True)

    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", wrk).group(1))
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", wrk)
    p50 = re.search(r"^\s+50%\s+(\S+)", wrk, re.M).group(1)
    p99 = re.search(r"^\s+99%\s+(\S+)", wrk, re.M).group(1)
    print("| figure | value |")
    print("|---|---|")
    print(f"| gate runs (smoke-only policy, local stack each) | {args.runs} |")
    print(f"| request -> verdict, median | {statistics.median(totals):.2f} s |")
    print(
        f"| server overhead (request -> verdict minus the child's wall time), median / max | "
        f"{statistics.median(overheads) * 1000:.0f} ms / {max(overheads) * 1000:.0f} ms "
        f"(client polls every {args.poll_s * 1000:.0f} ms) |"
    )
    print(
        "| child start-up + reports (child wall time minus verdict duration_s), median | "
        f"{statistics.median(startups):.2f} s |"
    )
    print(
        f"| cached GET /gates (wrk -t{args.threads} -c{args.connections} -d{args.duration}s) | "
        f"{rps:.0f} req/s, p50 {p50}, p99 {p99}, non-2xx {non2xx.group(1) if non2xx else 0} |"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
