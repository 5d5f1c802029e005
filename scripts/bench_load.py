#!/usr/bin/env python3
"""Benchmark the harness's load generator: against wrk on the same endpoint, and against a known truth.

Usage: python scripts/bench_load.py [--duration 15] [--connections 32] [--delay-ms 250] [--app-workers 1]
                                    [--processes 1] [--rounds 3] [--no-pin]
(from the project root, with the project installed and `wrk` on PATH: apt-get install -y wrk)

1. Throughput. One local stack (the app with --app-workers uvicorn workers, so the server is the
   bottleneck); for GET /health and POST /chat/v2/chat in turn, wrk and the harness's generator
   (Locust through harness.load.runner, the same closed model: N connections / N users, no think
   time) each load the endpoint for the same time. Passes when the harness reaches >= 0.9 x wrk.
2. Accuracy. A chat-only run against the clean stack, then against a stack started with
   ORCHESTRA_FAULTS=chat_delay_ms=D. Passes when the delayed run's chat p50 and p95 both lie in
   [D, 1.1 x D + the clean run's chat p95].

Everything runs on loopback, bounded in time, and every stack and Locust process is stopped.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from harness.config import load_settings  # noqa: E402
from harness.load.profiles import DEFAULT_PROFILES, Profile  # noqa: E402
from harness.load.runner import LocustRunner  # noqa: E402
from harness.stack import make_stack, running  # noqa: E402
from harness.target import Target  # noqa: E402

ENDPOINTS = {"health": ("GET /health", "/health"), "chat": ("POST /chat/v2/chat", "/chat/v2/chat")}
WRK_CHAT = """wrk.method = "POST"
wrk.body = '{{"message": "bench", "session_id": "bench-wrk"}}'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer {token}"
"""


def wrk(target: Target, kind: str, args: argparse.Namespace, tmp: Path) -> float:
    url = target.url(ENDPOINTS[kind][1])
    argv = ["wrk", "-t", "2", "-c", str(args.connections), "-d", f"{args.duration:g}s", "--latency"]
    if kind == "chat":
        script = tmp / "chat.lua"
        script.write_text(WRK_CHAT.format(token=target.token))
        argv += ["-s", str(script)]
    done = subprocess.run(argv + [url], capture_output=True, text=True, timeout=args.duration + 30, check=True)
    match = re.search(r"Requests/sec:\s+([\d.]+)", done.stdout)
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", done.stdout)
    if not match or non2xx:
        sys.exit(f"wrk output not usable:\n{done.stdout}")
    return float(match.group(1))


def harness(target: Target, kind: str, users: int, duration: float, tmp: Path, procs: int) -> dict[str, float]:
    weights = {"chat": 0, "health": 0, "websocket": 0, kind: 1}
    profile: Profile = replace(
        DEFAULT_PROFILES["smoke"],
        name=f"bench-{kind}",
        users=users,
        spawn_rate=users,
        duration_s=duration,
        weights=weights,
        min_requests=1,
        processes=procs,
    )
    out = tmp / f"locust-{kind}-{os.getpid()}-{len(list(tmp.iterdir()))}"
    run = LocustRunner(
        profile, target.base_url, locustfile=ROOT / "tests/load/locustfile.py", out_dir=out, token=target.token
    ).run()
    if run.summary.missing:
        sys.exit(f"the harness run cannot be judged: {run.summary.missing}")
    row = next(e for e in run.summary.endpoints if e.label.endswith(ENDPOINTS[kind][0]))
    if row.failures:
        sys.exit(f"the harness run had {row.failures} failures on {row.label}")
    return {"rps": row.rps, "p50": row.p50_ms or 0.0, "p95": row.p95_ms or 0.0, "requests": row.requests}


@contextmanager
def stack(app_workers: int, faults: str | None, pin: bool) -> Iterator[Target]:
    """A local stack; with pin, the app alone on CPU 0 and everything else (PostgreSQL, Redis, this
    script and so wrk and Locust) on the other cores, so the server's core is the bottleneck."""
    if faults:
        os.environ["ORCHESTRA_FAULTS"] = faults
    else:
        os.environ.pop("ORCHESTRA_FAULTS", None)
    st = make_stack(load_settings({"stack": "local", "app_workers": app_workers}, root=ROOT))
    with running(st) as target:
        if pin:
            rest = set(range(1, os.cpu_count() or 2))
            for service in st.services:
                for pid in [service.pid, *_children(service.pid)]:
                    os.sched_setaffinity(pid, {0} if service.name == "app" else rest)
            os.sched_setaffinity(0, rest)
        yield target


def _children(pid: int | None) -> list[int]:
    """Descendants of pid (uvicorn workers, postgres backends) from /proc."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parents[int(entry.name)] = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue
    found, frontier = [], [pid]
    while frontier:
        current = frontier.pop()
        kids = [p for p, pp in parents.items() if pp == current]
        found += kids
        frontier += kids
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=15.0, help="seconds of load per measurement")
    parser.add_argument("--connections", type=int, default=32, help="wrk connections = harness users")
    parser.add_argument("--delay-ms", type=float, default=250.0, help="the known delay D for the accuracy check")
    parser.add_argument("--accuracy-users", type=int, default=20, help="users of the accuracy runs")
    parser.add_argument("--app-workers", type=int, default=1, help="uvicorn workers of the app under test")
    parser.add_argument("--processes", type=int, default=1, help="Locust --processes of the harness runs")
    parser.add_argument("--rounds", type=int, default=3, help="alternating wrk/harness rounds (medians reported)")
    parser.add_argument("--no-pin", dest="pin", action="store_false", help="do not pin the app to its own core")
    args = parser.parse_args()
    if not shutil.which("wrk"):
        sys.exit("wrk is not on PATH: apt-get install -y wrk")
    for key in [k for k in os.environ if k.startswith(("HARNESS_", "ORCHESTRA_"))]:
        del os.environ[key]
    ok = True
    with tempfile.TemporaryDirectory(prefix="bench-load-") as tmp_name:
        tmp = Path(tmp_name)
        print(
            f"# {os.cpu_count()} cores; app: {args.app_workers} uvicorn worker(s)"
            f"{' pinned to CPU 0, the rest on the other cores' if args.pin else ''}; harness: Locust --processes "
            f"{args.processes}; {args.duration:g} s per run, median of {args.rounds} alternating rounds"
        )
        print(f"\n## Throughput, {args.connections} connections (wrk) / users (harness), no think time\n")
        print("| endpoint | wrk req/s | harness req/s | harness / wrk |")
        print("|---|---|---|---|")
        with stack(args.app_workers, None, args.pin) as target:
            for kind in ("health", "chat"):
                ws, hs = [], []
                for _ in range(args.rounds):  # alternate, so a noisy neighbour hits both alike
                    ws.append(wrk(target, kind, args, tmp))
                    hs.append(harness(target, kind, args.connections, args.duration, tmp, args.processes)["rps"])
                w, h = statistics.median(ws), {"rps": statistics.median(hs)}
                print(f"<!-- {kind}: wrk {[round(x) for x in ws]}, harness {[round(x) for x in hs]} -->")
                ratio = h["rps"] / w
                ok &= ratio >= 0.9
                verdict = "ok" if ratio >= 0.9 else "LOW"
                print(f"| {ENDPOINTS[kind][0]} | {w:.0f} | {h['rps']:.0f} | {ratio:.2f} {verdict} |")
            clean = harness(target, "chat", args.accuracy_users, args.duration, tmp, args.processes)
        d = args.delay_ms
        with stack(args.app_workers, f"chat_delay_ms={d:g}", args.pin) as target:
            delayed = harness(target, "chat", args.accuracy_users, args.duration, tmp, args.processes)
        high = 1.1 * d + clean["p95"]
        print(f"\n## Accuracy: chat with a known delay D = {d:g} ms, {args.accuracy_users} users\n")
        print("| run | chat p50 ms | chat p95 ms | requests |")
        print("|---|---|---|---|")
        print(f"| clean | {clean['p50']:g} | {clean['p95']:g} | {clean['requests']} |")
        print(f"| chat_delay_ms={d:g} | {delayed['p50']:g} | {delayed['p95']:g} | {delayed['requests']} |")
        inside = all(d <= delayed[k] <= high for k in ("p50", "p95"))
        ok &= inside
        print(f"\nexpected window [D, 1.1 x D + clean p95] = [{d:g}, {high:g}] ms: {'ok' if inside else 'OUTSIDE'}")
    print("\nresult:", "PASS" if ok else "FAIL")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
