#!/usr/bin/env python3
"""Benchmark: what report.html costs a gate run, and its size.

Usage: python scripts/bench_report.py [--runs 20] [--reports DIR]   (from the project root, harness on PATH).
Without --reports it runs `harness gate --phase pr` once into a temp dir (a real load run, so real charts), then
renders report.html from that dir --runs times. Target: rendering adds < 1 s to a gate run.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--reports", type=Path, default=None, help="a reports dir a gate run wrote")
    args = parser.parse_args()
    reports = args.reports
    if reports is None:
        harness = shutil.which("harness") or sys.exit("harness is not on PATH: pip install -e . first")
        reports = Path(tempfile.mkdtemp(prefix="bench-report-"))
        env = {k: v for k, v in os.environ.items() if not k.startswith(("HARNESS_", "ORCHESTRA_"))}
        env["HARNESS_STACK"] = "local"
        argv = [harness, "gate", "--phase", "pr", "--quiet", "--reports-dir", str(reports)]
        subprocess.run(argv, cwd=ROOT, env=env, check=False, capture_output=True)
    from harness.report.html import render_html

    doc = json.loads((reports / "verdict.json").read_text())
    times = []
    for _ in range(args.runs):
        t0 = time.perf_counter()
        page = render_html(doc, reports, [], ROOT / "reports" / "history" / "load.jsonl")
        times.append(time.perf_counter() - t0)
    charts = page.count("<svg")
    print(f"report.html: {len(page) / 1024:.0f} KiB, {charts} charts, {len(doc['gates'])} gates")
    print(
        f"render: median {statistics.median(times) * 1000:.0f} ms (min {min(times) * 1000:.0f}, "
        f"max {max(times) * 1000:.0f}; {args.runs} runs)"
    )


if __name__ == "__main__":
    main()
