#!/usr/bin/env python3
"""Scaling figures of the harness's load generator: req/s per generator core, and 1, 2, 4 Locust workers.

Usage: python scripts/bench_scaling.py [--duration 15] [--rounds 2] [--workers 1,2,4] [--users 48]
                                       [--mix-users 40] [--skip-mix] [--skip-workers]
(from the project root, with the project installed)

1. Per generator core, the reference mix. One local stack (PostgreSQL, Redis, the app); the load suite's
   locustfile (tests/load/locustfile.py: FastHttpUser chat and health users, WebSocket users) with the
   default mix chat:health:websocket 6:3:1, in one Locust process (--processes 1). The generator's CPU is
   the one the run records in reports/load/generators.json (Locust's own psutil figure, sampled every 2 s,
   averaged over the judged window). req/s per generator core = achieved req/s / (CPU % / 100).
2. Workers. A tiny HTTP server this script starts on loopback (asyncio + uvloop in a process of its own,
   keep-alive, a fixed `{"status": "healthy"}` for any request) so that the service is not the limit; the
   locustfile's health users only, on Locust's master + N worker processes (harness.load.runner, --workers N),
   N in 1, 2, 4. Throughput per N, the efficiency of each step (throughput(N) / (N x throughput(1))), the
   workers' and the master's CPU (generators.json) and the server's CPU (/proc/<pid>/stat).

The machine's 1-minute load average is sampled every second during each run (the machine may be shared).
Everything runs on loopback, bounded in time, and every process this script starts is stopped.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

# A keep-alive HTTP/1.1 responder: as cheap per request as Python gets, so the generator is the limit.
SERVER = r"""
import asyncio, sys
try:
    import uvloop
    uvloop.install()
except ImportError:
    pass
BODY = b'{"status": "healthy"}'
ANSWER = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s" % (len(BODY), BODY)
class Answer(asyncio.Protocol):
    def connection_made(self, transport):
        self.transport, self.buf = transport, b""
    def data_received(self, data):
        self.buf += data
        n = self.buf.count(b"\r\n\r\n")  # GET requests without a body: one answer per header block
        if n:
            self.buf = self.buf[self.buf.rfind(b"\r\n\r\n") + 4:]
            self.transport.write(ANSWER * n)
        elif len(self.buf) > 65536:
            self.transport.close()
async def main():
    server = await asyncio.get_running_loop().create_server(Answer, "127.0.0.1", int(sys.argv[1]), backlog=1024)
    async with server:
        await server.serve_forever()
asyncio.run(main())
"""


# -- the computations (tests/unit/test_bench_scaling.py) ----------------------------------------------------
def per_core(rps: float, cpu_pcts: Sequence[float]) -> float | None:
    """req/s per generator core: rps over the generators' CPU in cores (100 % = one core); None without CPU."""
    cores = sum(cpu_pcts) / 100.0
    return rps / cores if cores > 0 else None


def efficiency(n: int, rps_n: float, rps_1: float) -> float:
    """Scaling efficiency of n workers: throughput(n) / (n x throughput(1)); 1.0 is linear."""
    if n < 1 or rps_1 <= 0:
        raise ValueError(f"efficiency needs n >= 1 and a positive throughput(1), got n={n}, rps_1={rps_1}")
    return rps_n / (n * rps_1)


def ideal_efficiency(n: int, cores: int, other_cores: float = 0.0) -> float:
    """The best efficiency n CPU-bound workers can reach on `cores` cores when `other_cores` of them are taken by
    the rest (the server, the master): each worker gets at most min(1, (cores - other) / n) of a core."""
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    free = max(cores - other_cores, 0.0)
    return min(1.0, free / n) / min(1.0, free) if free > 0 else 0.0


def generator_cpu(record: dict[str, Any], roles: Sequence[str]) -> list[float]:
    """The mean CPU % in the judged window of each generator of these roles, from the run's generators record."""
    return [
        float(g["cpu_mean"])
        for g in record.get("generators") or ()
        if g.get("role") in roles and g.get("cpu_mean") is not None
    ]


def spread(values: Sequence[float]) -> str:
    """'7.9 (6.1-9.8)': the mean and range of the load-average samples."""
    if not values:
        return "-"
    return f"{statistics.fmean(values):.1f} ({min(values):.1f}-{max(values):.1f})"


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f} %"


# -- measuring -------------------------------------------------------------------------------------------
@dataclass(slots=True)
class Loadavg:
    """The 1-minute load average, sampled every second while a run lasts."""

    samples: list[float] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)

    @contextmanager
    def during(self) -> Iterator[Loadavg]:
        def sample() -> None:
            while not self._stop.is_set():
                self.samples.append(os.getloadavg()[0])
                self._stop.wait(1.0)

        thread = threading.Thread(target=sample, daemon=True)
        thread.start()
        try:
            yield self
        finally:
            self._stop.set()
            thread.join(timeout=5)


def _cpu_seconds(pid: int) -> float:
    """utime + stime of a process, in seconds (/proc/<pid>/stat)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@contextmanager
def cheap_server() -> Iterator[tuple[str, int]]:
    """The tiny server on a free loopback port: (base URL, pid); stopped on the way out."""
    from harness.stack.local import free_port

    port = free_port()
    proc = subprocess.Popen([sys.executable, "-c", SERVER, str(port)], start_new_session=True)
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 15
        while True:
            try:
                with urllib.request.urlopen(f"{url}/health", timeout=1) as resp:
                    resp.read()
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    sys.exit("the tiny server did not come up")
                time.sleep(0.1)
        yield url, proc.pid
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)


def locust(url: str, token: str | None, tmp: Path, **shape: Any) -> Any:
    """One harness Locust run (harness.load.runner, the load suite's locustfile); its LoadSummary."""
    from dataclasses import replace

    from harness.load.profiles import DEFAULT_PROFILES
    from harness.load.runner import LocustRunner

    profile = replace(DEFAULT_PROFILES["smoke"], min_requests=1, **shape)
    out = tmp / f"{profile.name}-{len(list(tmp.iterdir()))}"
    run = LocustRunner(profile, url, locustfile=ROOT / "tests/load/locustfile.py", out_dir=out, token=token).run()
    if run.summary.missing:
        sys.exit(f"the run cannot be read: {run.summary.missing}")
    return run.summary


def mix(args: argparse.Namespace, tmp: Path) -> None:
    """Part 1: the reference mix on a local stack, one Locust process; req/s per generator core."""
    from harness.config import load_settings
    from harness.stack import make_stack, running

    print(f"\n## Per generator core: the reference mix (chat:health:websocket 6:3:1), {args.mix_users} users\n")
    print("| round | req/s (HTTP req/s) | generator CPU (mean, max) | waited for a CPU | req/s per core | load avg |")
    print("|---|---|---|---|---|---|")
    rates = []
    with running(make_stack(load_settings({"stack": "local"}, root=ROOT))) as target:
        for i in range(args.rounds):
            with Loadavg().during() as la:
                s = locust(
                    target.base_url,
                    target.token,
                    tmp,
                    name="bench-mix",
                    users=args.mix_users,
                    spawn_rate=args.mix_users,
                    duration_s=args.duration,
                    processes=1,
                )
            gen = next(g for g in s.generators["generators"] if g["role"] == "local")
            rps, http = s.measurements["rps"], s.measurements["http_rps"]
            rate = per_core(rps, generator_cpu(s.generators, ["local"]))
            if rate is not None:
                rates.append(rate)
            print(
                f"| {i + 1} | {rps:.0f} ({http:.0f}) | {_pct(gen['cpu_mean'])}, {_pct(gen['cpu_max'])} "
                f"| {_pct(gen['waited_pct'])} | {'-' if rate is None else f'{rate:.0f}'} | {spread(la.samples)} |"
            )
    print(f"\nmedian req/s per generator core: {statistics.median(rates):.0f}" if rates else "\nno CPU reading")


def workers(args: argparse.Namespace, tmp: Path) -> None:
    """Part 2: 1, 2, 4 worker processes against the tiny server; efficiency of each step."""
    counts = [int(n) for n in args.workers.split(",")]
    cores = os.cpu_count() or 1
    print(f"\n## Workers against a cheap endpoint (GET /health of a tiny loopback server), {args.users} users\n")
    runs: dict[int, list[dict[str, float]]] = {n: [] for n in counts}
    with cheap_server() as (url, server_pid):
        for _ in range(args.rounds):  # alternate, so a noisy neighbour hits every N alike
            for n in counts:
                c0, t0 = _cpu_seconds(server_pid), time.monotonic()
                with Loadavg().during() as la:
                    s = locust(
                        url,
                        None,
                        tmp,
                        name=f"bench-workers-{n}",
                        users=args.users,
                        spawn_rate=args.users,
                        duration_s=args.duration,
                        weights={"chat": 0, "health": 1, "websocket": 0},
                        processes=1,
                        workers=n,
                    )
                server = 100 * (_cpu_seconds(server_pid) - c0) / (time.monotonic() - t0)  # over the whole run
                worker_cpu = generator_cpu(s.generators, ["worker"])
                runs[n].append(
                    {
                        "rps": s.measurements["rps"],
                        "workers_cpu": sum(worker_cpu),
                        "master_cpu": sum(generator_cpu(s.generators, ["master"])),
                        "server_cpu": server,
                        "failures": s.measurements["failures"],
                        "load_mean": statistics.fmean(la.samples) if la.samples else 0.0,
                        "load_min": min(la.samples, default=0.0),
                        "load_max": max(la.samples, default=0.0),
                    }
                )
    med = {n: {k: statistics.median(r[k] for r in runs[n]) for k in runs[n][0]} for n in counts}
    base = med[counts[0]]["rps"] if counts[0] == 1 else None
    print(
        "| workers | req/s (median; each round) | efficiency | workers' CPU (sum) | master CPU | server CPU "
        "| req/s per worker core | best efficiency on this box | load avg (mean, min-max) |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for n in counts:
        m = med[n]
        eff = f"{efficiency(n, m['rps'], base):.2f}" if base else "-"
        best = ideal_efficiency(n, cores, (m["server_cpu"] + m["master_cpu"]) / 100)
        rate = per_core(m["rps"], [m["workers_cpu"]])
        each = ", ".join(f"{r['rps']:.0f}" for r in runs[n])
        lows, highs = min(r["load_min"] for r in runs[n]), max(r["load_max"] for r in runs[n])
        print(
            f"| {n} | {m['rps']:.0f} ({each}) | {eff} | {m['workers_cpu']:.0f} % | {m['master_cpu']:.0f} % "
            f"| {m['server_cpu']:.0f} % | {rate:.0f} | {best:.2f} | {m['load_mean']:.1f} ({lows:.1f}-{highs:.1f}) |"
            if rate is not None
            else f"| {n} | {m['rps']:.0f} ({each}) | {eff} | - | - | - | - | {best:.2f} | - |"
        )
    failures = sum(r["failures"] for rs in runs.values() for r in rs)
    print(f"\n{cores} cores; failed requests over every run: {failures:.0f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--duration", type=float, default=15.0, help="seconds of steady load per run")
    parser.add_argument("--rounds", type=int, default=2, help="rounds of each measurement (medians reported)")
    parser.add_argument("--workers", default="1,2,4", help="worker process counts, comma-separated (start with 1)")
    parser.add_argument("--users", type=int, default=48, help="users of the worker runs (split over the workers)")
    parser.add_argument("--mix-users", type=int, default=40, help="users of the reference-mix runs")
    parser.add_argument("--skip-mix", action="store_true", help="leave out part 1 (the local stack)")
    parser.add_argument("--skip-workers", action="store_true", help="leave out part 2 (the workers)")
    args = parser.parse_args()
    for key in [k for k in os.environ if k.startswith(("HARNESS_", "ORCHESTRA_"))]:
        del os.environ[key]
    print(
        f"# {os.cpu_count()} cores; {args.duration:g} s of steady load per run, median of {args.rounds} rounds; "
        f"load average (1 min) at start {os.getloadavg()[0]:.1f}"
    )
    with tempfile.TemporaryDirectory(prefix="bench-scaling-") as tmp_name:
        if not args.skip_mix:
            mix(args, Path(tmp_name))
        if not args.skip_workers:
            workers(args, Path(tmp_name))


if __name__ == "__main__":
    main()
