#!/usr/bin/env python3
"""Benchmark the canary judge's accuracy: how often it calls identical builds `go` and bad candidates `no-go`.

Usage: python scripts/bench_canary.py [--windows 20] [--seconds 30] [--step 1] [--min-points 20]
                                      [--conditions identical,latency_30,errors_2]
(from the project root, with the project installed; needs PostgreSQL, Redis and Debian's prometheus)

One local stack for the whole run: PostgreSQL, Redis, a candidate and a baseline app (same build), and a
Prometheus scraping both every second (what `harness gate --baseline` starts). For each condition the
candidate's faults are switched at run time (the baseline stays clean), then for each window the `live`
Locust profile drives --seconds of traffic split between the two, and the judge (harness/live/judge.py, the
same code as the canary.score gate) decides over exactly that window. Conditions:

    identical    no fault                         expected go     (target: >= 19/20)
    latency_30   latency_regression=30 (+30 %)    expected no-go  (target: >= 19/20)
    errors_2     error_burst=2 (2 % 5xx)          expected no-go  (target: >= 19/20)

Prints one line per window and a table with the figures and the wall time of one window.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from harness.config import load_settings  # noqa: E402
from harness.live.judge import judge, judge_options  # noqa: E402
from harness.live.options import HARNESS_BASELINE_SELECTOR, HARNESS_SELECTOR  # noqa: E402
from harness.live.prometheus import Prometheus  # noqa: E402
from harness.live.traffic import drive, live_load_options  # noqa: E402
from harness.stack import make_stack, running  # noqa: E402
from harness.stack.admin import set_faults  # noqa: E402

CONDITIONS = {
    "identical": ("", "go"),
    "latency_30": ("latency_regression=30", "no-go"),
    "errors_2": ("error_burst=2", "no-go"),
}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--windows", type=int, default=20)
    ap.add_argument("--seconds", type=float, default=30)
    ap.add_argument("--step", type=float, default=1.0)
    ap.add_argument("--min-points", type=int, default=20)
    ap.add_argument("--conditions", default=",".join(CONDITIONS))
    args = ap.parse_args()
    wanted = [c.strip() for c in args.conditions.split(",") if c.strip()]
    unknown = [c for c in wanted if c not in CONDITIONS]
    if unknown:
        print(f"unknown condition(s) {unknown}; known: {', '.join(CONDITIONS)}", file=sys.stderr)
        return 64

    settings = replace(load_settings({"stack": "local"}, root=ROOT), with_prometheus=True, baseline=True)
    opts = judge_options({}, step_s=args.step, min_points=args.min_points)
    results: dict[str, list[str]] = {c: [] for c in wanted}
    walls: list[float] = []
    t_all = time.monotonic()
    with running(make_stack(settings, "local")) as target, tempfile.TemporaryDirectory() as tmp:
        prom = Prometheus(target.prometheus_url or "", timeout_s=10)
        load = live_load_options(settings)
        load = replace(load, profile=replace(load.profile, duration_s=args.seconds))
        print(f"stack up: candidate {target.base_url}, baseline {target.baseline_url}, prometheus {prom.url}")
        for cond in wanted:
            faults, expected = CONDITIONS[cond]
            set_faults(target, faults)
            time.sleep(3)  # the previous condition's traffic leaves the rate range
            for i in range(1, args.windows + 1):
                t0 = time.monotonic()
                traffic = drive(target, load, Path(tmp) / f"{cond}-{i}")
                time.sleep(2.5)  # the last samples reach the 1 s scrape
                if traffic.errors:
                    print(f"{cond} #{i}: traffic failed: {traffic.errors}")
                    results[cond].append("error")
                    continue
                got, _ = judge(prom, HARNESS_SELECTOR, HARNESS_BASELINE_SELECTOR, traffic.started, traffic.ended, opts)
                walls.append(time.monotonic() - t0)
                results[cond].append(got.decision)
                print(
                    f"{cond} #{i}: {got.decision} (score {got.score:.0f}) " + "; ".join(m.line() for m in got.metrics)
                )
                sys.stdout.flush()
        set_faults(target, "")
    print()
    print("| condition | expected | hits | go | inconclusive | no-go | target met (>= 19/20 scaled) |")
    print("|---|---|---|---|---|---|---|")
    ok = True
    for cond in wanted:
        expected = CONDITIONS[cond][1]
        got = results[cond]
        hits = sum(d == expected for d in got)
        met = hits >= 0.95 * len(got)
        ok &= met
        counts = [sum(d == k for d in got) for k in ("go", "inconclusive", "no-go")]
        row = [cond, expected, f"{hits}/{len(got)}", *map(str, counts), "yes" if met else "NO"]
        print("| " + " | ".join(row) + " |")
    if walls:
        print(
            f"\none window (traffic + settle + judge): median {sorted(walls)[len(walls) // 2]:.1f} s; "
            f"whole benchmark {time.monotonic() - t_all:.0f} s"
        )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
