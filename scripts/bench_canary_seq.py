#!/usr/bin/env python3
"""Benchmark the canary judge's two modes, fixed window and sequential, on the same recorded traffic.

Usage:
  python scripts/bench_canary_seq.py record OUT.json [--windows 100] [--seconds 60] [--conditions a,b:WINDOWS,...]
  python scripts/bench_canary_seq.py replay OUT.json [MORE.json ...] [--seconds 60] [--step 1] [--min-points 20]
  python scripts/bench_canary_seq.py resample OUT.json [MORE.json ...] --windows 300 [--block 5] [--seed 0]
(from the project root, with the project installed; `record` needs PostgreSQL, Redis and Debian's prometheus)

`record` starts one local stack (PostgreSQL, Redis, a candidate and a baseline app of the same build, a
Prometheus scraping both every second: what `harness gate --baseline` starts). For each condition it switches
the candidate's faults at run time (the baseline stays clean), drives the `live` Locust profile against both
without a break for windows x seconds, and then saves, at a 1 s step over that span, every series either
judge reads: the fixed judge's metric queries (rate over 3 s) and the sequential judge's cumulative counters,
candidate and baseline. `replay` cuts each condition's span into disjoint windows of --seconds and runs both
judges (the same functions as the canary gates) on each, through a client that answers their range queries
from the recording, and prints per condition: decisions, false alarms or detections with a 95 % Wilson
interval, and the sequential judge's time to decide (median, p95). The fixed judge gets disjoint windows; the
sequential one gets them back to back (a window ends at its decision, the next starts there; --disjoint for
windows of --seconds each). `resample` is NOT real windows: it builds --windows synthetic windows per
condition from the recorded per-step counter increments (a moving-block bootstrap: blocks of --block
consecutive steps, all series of a step kept together, drawn with replacement from one recording chosen at
random per window) and runs the sequential judge on
each; its rates are conditional on the recorded steps and say so.

Conditions (candidate's faults; expected decision):
    identical     no fault                              go
    errors_0.5    error_burst=0.5 (0.5 % of chat 5xx)    no-go (reported; a small share may need > 60 s)
    errors_1      error_burst=1                          no-go
    errors_2      error_burst=2                          no-go
    latency_10    latency_regression=10 (+10 %)          go (inside the allowed +20 %)
    latency_30    latency_regression=30                  no-go
    latency_100   latency_regression=100                 no-go
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

CONDITIONS = {
    "identical": ("", "go"),
    "errors_0.5": ("error_burst=0.5", "no-go"),
    "errors_1": ("error_burst=1", "no-go"),
    "errors_2": ("error_burst=2", "no-go"),
    "latency_10": ("latency_regression=10", "go"),
    "latency_30": ("latency_regression=30", "no-go"),
    "latency_100": ("latency_regression=100", "no-go"),
}
RATE_RANGE = "3s"  # the fixed judge's rate range at a 1 s step (harness/live/judge.py MIN_RATE_RANGE_S)


def recorded_queries() -> list[str]:
    """Every PromQL either judge runs on the default metrics, for both sides."""
    from harness.live.judge import DEFAULT_METRICS
    from harness.live.options import HARNESS_BASELINE_SELECTOR, HARNESS_SELECTOR
    from harness.live.sequential import counter_queries

    out: list[str] = []
    for sel in (HARNESS_SELECTOR, HARNESS_BASELINE_SELECTOR):
        out += [m.promql(sel, RATE_RANGE) for m in DEFAULT_METRICS]
        out += counter_queries(sel)
    return out


def bucket_queries() -> list[str]:
    """The chat latency histogram's cumulative buckets per side (kept for per-request tests; one series per le)."""
    from harness.live.judge import Metric
    from harness.live.options import HARNESS_BASELINE_SELECTOR, HARNESS_SELECTOR

    q = "sum by (le) (http_request_duration_seconds_bucket{" + 'path="/chat/v2/chat"' + ",{sel}})"
    return [Metric("x", q).promql(sel, "") for sel in (HARNESS_SELECTOR, HARNESS_BASELINE_SELECTOR)]


def record(path: Path, windows: int, seconds: float, wanted: list[str]) -> int:
    import tempfile

    from harness.config import load_settings
    from harness.live.prometheus import Prometheus
    from harness.live.traffic import drive, live_load_options
    from harness.stack import make_stack, running
    from harness.stack.admin import set_faults

    settings = replace(load_settings({"stack": "local"}, root=ROOT), with_prometheus=True, baseline=True)
    doc: dict = {"windows": windows, "seconds": seconds, "recorded": time.strftime("%Y-%m-%d %H:%M"), "conditions": {}}
    t_all = time.monotonic()
    with running(make_stack(settings, "local")) as target, tempfile.TemporaryDirectory() as tmp:
        prom = Prometheus(target.prometheus_url or "", timeout_s=30)
        load = live_load_options(settings)
        load = replace(load, profile=replace(load.profile, duration_s=windows * seconds + 4))
        print(
            f"stack up: candidate {target.base_url}, baseline {target.baseline_url}, prometheus {prom.url}", flush=True
        )
        for item in wanted:
            cond, _, n = item.partition(":")  # condition[:windows]
            n_windows = int(n) if n else windows
            cond_load = replace(load, profile=replace(load.profile, duration_s=n_windows * seconds + 4))
            set_faults(target, CONDITIONS[cond][0])
            time.sleep(4)  # the previous condition's traffic leaves the rate range
            traffic = drive(target, cond_load, Path(tmp) / cond)
            time.sleep(2.5)  # the last samples reach the 1 s scrape
            if traffic.errors:
                print(f"{cond}: traffic failed: {traffic.errors}", flush=True)
                return 2
            series = {}
            for q in recorded_queries():
                got = prom.query_range(q, traffic.started, traffic.ended, 1.0)
                series[q] = got[0].points if len(got) == 1 else []
            buckets = {}
            for q in bucket_queries():
                got = prom.query_range(q, traffic.started, traffic.ended, 1.0)
                buckets[q] = {s.labels.get("le", ""): s.points for s in got}
            doc["conditions"][cond] = {
                "faults": CONDITIONS[cond][0],
                "started": traffic.started,
                "ended": traffic.ended,
                "requests": traffic.requests,
                "series": series,
                "buckets": buckets,
            }
            path.write_text(json.dumps(doc))
            print(f"{cond}: {traffic.seconds:.0f} s recorded ({traffic.requests})", flush=True)
        set_faults(target, "")
    print(f"recorded in {time.monotonic() - t_all:.0f} s -> {path}")
    return 0


class Recorded:
    """A Prometheus stand-in for replay: range queries answered from one condition's recorded series."""

    url = "recorded"

    def __init__(self, series: dict[str, list]) -> None:
        self.series = series

    def query_range(self, promql: str, start: float, end: float, step: float) -> list:
        from harness.live.prometheus import Series

        if promql not in self.series:
            raise KeyError(f"not recorded: {promql}")
        pts = [(t, v) for t, v in self.series[promql] if start - 1e-6 <= t <= end + 1e-6]
        if step > 1.0:
            pts = pts[:: int(round(step))]
        return [Series({}, pts)] if pts else []


def wilson(k: int, n: int, z: float = 1.959964) -> tuple[float, float]:
    if n == 0:
        return (0.0, 1.0)
    p = k / n
    d = 1 + z * z / n
    c = (p + z * z / (2 * n)) / d
    h = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / d
    return (max(c - h, 0.0), min(c + h, 1.0))


def replay(
    paths: list[Path], seconds: float, step: float, min_points: int, verbose: bool, back_to_back: bool = True
) -> int:
    from harness.live.judge import judge, judge_options
    from harness.live.options import HARNESS_BASELINE_SELECTOR, HARNESS_SELECTOR
    from harness.live.sequential import sequential_judge, sequential_options

    fixed_opts = judge_options({}, step_s=step, min_points=min_points)
    seq_opts = sequential_options({}, step_s=step, min_points=min_points)
    rows: dict[str, tuple[list[str], list[str], list[float]]] = {}
    for path in paths:  # several recordings of one condition add up (e.g. A/A in blocks of 20 windows)
        doc = json.loads(path.read_text())
        for cond, rec in doc["conditions"].items():
            fixed, seq, times = rows.setdefault(cond, ([], [], []))
            client = Recorded(rec["series"])
            first, last = rec["started"] + 1, rec["ended"] - 1
            for i in range(int((last - first) // seconds)):  # the fixed judge: disjoint windows of `seconds`
                start = first + i * seconds
                f, _ = judge(client, HARNESS_SELECTOR, HARNESS_BASELINE_SELECTOR, start, start + seconds, fixed_opts)
                fixed.append(f.decision)
            start = first  # the sequential judge: back to back, each window from where the previous one decided
            while start + seconds <= last:
                end = start + seconds
                s = sequential_judge(client, HARNESS_SELECTOR, HARNESS_BASELINE_SELECTOR, start, end, seq_opts)
                seq.append(s.decision)
                if s.decision == "no-go":
                    times.append(s.decided_after_s)
                if verbose:
                    print(
                        f"{cond} #{len(seq)}: sequential {s.decision} at "
                        f"{s.decided_after_s:.0f} s: " + "; ".join(m.line() for m in s.metrics)
                    )
                start = start + max(math.ceil(s.decided_after_s / step) * step, step) if back_to_back else end
    print(
        "| condition | expected | fixed: windows, as expected (95 % interval) | sequential: windows, as expected "
        "(95 % interval) | "
        "sequential no-go (95 % Wilson interval) | sequential time to no-go, median / p95 |"
    )
    print("|---|---|---|---|---|---|")
    for cond, (fixed, seq, times) in rows.items():
        expected = CONDITIONS[cond][1]
        n, nf = len(seq), len(fixed)
        nogo = sum(d == "no-go" for d in seq)
        lo, hi = wilson(nogo, n)
        k, kf = sum(d == expected for d in seq), sum(d == expected for d in fixed)
        (elo, ehi), (flo, fhi) = wilson(k, n), wilson(kf, nf)
        t = sorted(times)
        tt = f"{t[(len(t) - 1) // 2]:.0f} s / {t[min(math.ceil(0.95 * len(t)) - 1, len(t) - 1)]:.0f} s" if t else "-"
        print(
            f"| {cond} | {expected} | {nf}, {kf}/{nf} [{flo:.1%}, {fhi:.1%}] | {n}, {k}/{n} [{elo:.1%}, {ehi:.1%}] | "
            f"{nogo}/{n} = {nogo / max(n, 1):.1%} [{lo:.1%}, {hi:.1%}] | {tt} |"
        )
    return 0


def resample(paths: list[Path], windows: int, seconds: float, block: int, seed: int, min_points: int) -> int:
    import numpy as np

    from harness.live.options import HARNESS_BASELINE_SELECTOR, HARNESS_SELECTOR
    from harness.live.sequential import counter_queries, increments, sequential_judge, sequential_options

    rng = np.random.default_rng(seed)
    opts = sequential_options({}, step_s=1.0, min_points=min_points)
    queries = counter_queries(HARNESS_SELECTOR) + counter_queries(HARNESS_BASELINE_SELECTOR)
    steps: dict[str, list[np.ndarray]] = {}
    for path in paths:  # each recording's steps: rows of every counter's increment at one time
        for cond, rec in json.loads(path.read_text())["conditions"].items():
            inc = [increments(rec["series"][q]) for q in queries]
            times = sorted(set.intersection(*(set(i) for i in inc)))
            steps.setdefault(cond, []).append(np.array([[i[t] for i in inc] for t in times]))
    n_steps = int(seconds)
    print(
        "| condition | expected | resampled windows (from recorded steps) | as expected (95 % interval) | "
        "no-go (95 % interval) | time to no-go, median / p95 |"
    )
    print("|---|---|---|---|---|---|")
    for cond, blocks in steps.items():
        decisions, times = [], []
        for _ in range(windows):
            rows = []
            src = blocks[rng.integers(len(blocks))]  # one recording per window (its load), blocks from it
            while len(rows) < n_steps:
                at = rng.integers(len(src) - block)
                rows += list(src[at : at + block])
            cum = np.vstack([np.zeros(len(queries)), np.cumsum(np.array(rows[:n_steps]), axis=0)])
            series = {q: [(1000.0 + k, float(cum[k, j])) for k in range(n_steps + 1)] for j, q in enumerate(queries)}
            s = sequential_judge(
                Recorded(series), HARNESS_SELECTOR, HARNESS_BASELINE_SELECTOR, 1000.0, 1000.0 + n_steps, opts
            )
            decisions.append(s.decision)
            if s.decision == "no-go":
                times.append(s.decided_after_s)
        expected = CONDITIONS[cond][1]
        n, k, nogo = len(decisions), sum(d == expected for d in decisions), sum(d == "no-go" for d in decisions)
        (lo, hi), (nlo, nhi) = wilson(k, n), wilson(nogo, n)
        t = sorted(times)
        tt = f"{t[(len(t) - 1) // 2]:.0f} s / {t[min(math.ceil(0.95 * len(t)) - 1, len(t) - 1)]:.0f} s" if t else "-"
        print(
            f"| {cond} | {expected} | {n} | {k}/{n} [{lo:.1%}, {hi:.1%}] | {nogo}/{n} [{nlo:.1%}, {nhi:.1%}] | {tt} |",
            flush=True,
        )
    return 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    rec = sub.add_parser("record")
    rec.add_argument("out", type=Path)
    rec.add_argument("--windows", type=int, default=100)
    rec.add_argument("--seconds", type=float, default=60)
    rec.add_argument("--conditions", default=",".join(CONDITIONS))
    rep = sub.add_parser("replay")
    rep.add_argument("files", type=Path, nargs="+")
    rep.add_argument("--seconds", type=float, default=60)
    rep.add_argument("--step", type=float, default=1.0)
    rep.add_argument("--min-points", type=int, default=20)
    rep.add_argument("-v", "--verbose", action="store_true")
    rep.add_argument(
        "--disjoint",
        action="store_true",
        help="sequential windows of --seconds each (default: back to back, each from where the previous one decided)",
    )
    res = sub.add_parser("resample")
    res.add_argument("files", type=Path, nargs="+")
    res.add_argument("--windows", type=int, default=300)
    res.add_argument("--seconds", type=float, default=60)
    res.add_argument("--block", type=int, default=5)
    res.add_argument("--seed", type=int, default=0)
    res.add_argument("--min-points", type=int, default=20)
    args = ap.parse_args()
    if args.cmd == "resample":
        return resample(args.files, args.windows, args.seconds, args.block, args.seed, args.min_points)
    if args.cmd == "record":
        wanted = [c.strip() for c in args.conditions.split(",") if c.strip()]
        unknown = [c for c in wanted if c.partition(":")[0] not in CONDITIONS]
        if unknown:
            print(f"unknown condition(s) {unknown}; known: {', '.join(CONDITIONS)}", file=sys.stderr)
            return 64
        return record(args.out, args.windows, args.seconds, wanted)
    return replay(args.files, args.seconds, args.step, args.min_points, args.verbose, not args.disjoint)


if __name__ == "__main__":
    sys.exit(main())
