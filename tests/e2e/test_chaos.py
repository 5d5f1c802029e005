"""Chaos: short gates killed at random moments by SIGINT, SIGTERM, SIGHUP or SIGKILL (seeded; the seed is
printed), for about 40 s. Every verdict that exists validates; a graceful signal ends in exit 2 and an
inconclusive verdict (or 0/1 if the run had ended); after one more normal start no process and no temp dir
of those runs is left. The loop is scripts/chaos.py (also run by hand: `python scripts/chaos.py --runs 30`);
it counts processes as a child subreaper, so whatever a run leaves is found however deep it was started.
CHAOS_SEED=N replays a run."""

from __future__ import annotations

import os
import subprocess
import sys

from .conftest import ROOT


def test_random_signals_leave_valid_verdicts_and_nothing_behind():
    argv = [sys.executable, "scripts/chaos.py", "--runs", "30", "--budget", "30", "--max-delay", "4.5"]
    if os.environ.get("CHAOS_SEED"):
        argv += ["--seed", os.environ["CHAOS_SEED"]]
    done = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=300, check=False)
    print(done.stdout)  # the seed and one line per run: shown when the test fails (and with -s)
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-2000:]
