"""Whether the machine, not the build, bounded a load run on a stack the harness started here.

On the local stack the service, its database, its cache and the load generator share this machine with whatever
else runs on it. When other processes take a real share of the CPUs while Locust runs, a low throughput or a high
P95 measures the neighbours: blaming the build for it is a false rollback. The sampler reads, every INTERVAL_S, the
machine's busy CPU time (/proc/stat) and the CPU time of the run's own process tree (the harness process that
started the stack: the app, PostgreSQL, Redis, the suites and Locust are its descendants; a descendant that ended
is counted through its parent's reaped-children times). What is left is the neighbours' share.

A number the neighbours could only have made worse (throughput down, latency up) still passes when it holds; when
it fails while the neighbours took more than FOREIGN_LIMIT % of the machine in the judged window, the gate is
`missing` with that share, never a fail (verdict.py reads the check's caveat). A target on another machine (or in
containers, whose processes are not the harness's descendants) is not sampled: the caveat is never set there.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import psutil

INTERVAL_S = 2.0
FOREIGN_LIMIT = 25.0  # % of the whole machine (all its CPUs) used by processes outside the run


def _tree_cpu_s(root: psutil.Process) -> float:
    """CPU seconds of root and its live descendants, each with the children it reaped."""
    total = 0.0
    for proc in [root, *root.children(recursive=True)]:
        try:
            t = proc.cpu_times()
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            continue
        total += t.user + t.system + t.children_user + t.children_system
    return total


def _machine_busy_s() -> float:
    t = psutil.cpu_times()
    return sum(t) - t.idle - getattr(t, "iowait", 0.0)


class MachineSampler:
    """Samples (seconds since start, machine busy %, the run's own %, the neighbours' %) until stopped; each %
    is of the whole machine (100 = every CPU busy for the interval)."""

    def __init__(self, root_pid: int, interval_s: float = INTERVAL_S) -> None:
        self.root = psutil.Process(root_pid)
        self.interval_s = interval_s
        self.cpus = psutil.cpu_count() or 1
        self.samples: list[list[float]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="machine-sampler", daemon=True)
        self._t0 = time.monotonic()

    def start(self) -> MachineSampler:
        self._t0 = time.monotonic()
        self._thread.start()
        return self

    def _loop(self) -> None:
        last = (time.monotonic(), _machine_busy_s(), _tree_cpu_s(self.root))
        while not self._stop.wait(self.interval_s):
            try:
                now = (time.monotonic(), _machine_busy_s(), _tree_cpu_s(self.root))
            except psutil.Error:
                return
            wall = (now[0] - last[0]) * self.cpus
            if wall > 0:
                busy = 100.0 * (now[1] - last[1]) / wall
                ours = 100.0 * max(0.0, now[2] - last[2]) / wall
                point = [now[0] - self._t0, busy, ours, max(0.0, busy - ours)]
                self.samples.append([round(v, 2) for v in point])
            last = now

    def stop(self) -> dict[str, Any]:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=self.interval_s + 5)
        return {
            "cpus": self.cpus,
            "interval_s": self.interval_s,
            "foreign_limit": FOREIGN_LIMIT,
            "samples": self.samples,
        }


def judge_machine(record: dict[str, Any] | None, start: float, end: float) -> tuple[str | None, dict[str, Any]]:
    """(caveat, summary): the caveat when the neighbours took more than FOREIGN_LIMIT % of the machine on average
    over [start, end] (the run's steady window, seconds since the run started), else None."""
    if not record:
        return None, {}
    window = [s for s in record.get("samples") or () if start <= s[0] <= end + record.get("interval_s", INTERVAL_S)]
    if not window:
        return None, {"cpus": record.get("cpus"), "samples": 0}
    mean = {k: sum(s[i] for s in window) / len(window) for i, k in ((1, "busy"), (2, "ours"), (3, "foreign"))}
    summary = {"cpus": record.get("cpus"), "samples": len(window), **{f"{k}_pct": round(v, 1) for k, v in mean.items()}}
    if mean["foreign"] <= FOREIGN_LIMIT:
        return None, summary
    cpus = record.get("cpus") or 1
    caveat = (
        f"other processes on this machine used {mean['foreign']:.0f} % of its {cpus} CPUs during the load run "
        f"(the run itself {mean['ours']:.0f} %; limit {FOREIGN_LIMIT:.0f} %): a failing throughput or latency "
        "measures the neighbours, not the build; run again on a quiet machine"
    )
    return caveat, summary


def apply_machine(summary: Any, record: dict[str, Any] | None, generators: dict[str, Any] | None) -> None:
    """The machine's verdict on a LoadSummary: its caveat and the shares over the generators' judged window."""
    doc = generators or {}
    steady, ended = doc.get("steady_at_s"), doc.get("ended_at_s")
    start = float(steady) if isinstance(steady, int | float) else 0.0
    end = float(ended) if isinstance(ended, int | float) else float("inf")
    caveat, shares = judge_machine(record, start, end)
    summary.machine = shares
    summary.contended = caveat
