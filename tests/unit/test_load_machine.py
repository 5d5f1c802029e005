"""The busy-machine rule of the load suite (harness/load/machine.py): the neighbours' CPU share, told apart from
the run's own process tree by real processes, and the caveat it gives a load run."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import psutil
import pytest

from harness.load.machine import FOREIGN_LIMIT, MachineSampler, apply_machine, judge_machine
from harness.load.results import LoadSummary

BURN = "import time\nend = time.monotonic() + {s}\nwhile time.monotonic() < end: pass\n"
SPEND = "import time\nwhile time.process_time() < {s}: pass\n"  # a fixed amount of CPU, however busy the machine


def _cpu_s(pid: int) -> float:
    t = psutil.Process(pid).cpu_times()
    return t.user + t.system


def _foreign_burner(seconds: float) -> int:
    """A CPU burner that is not a descendant of this process: started through a shell that exits at once, so
    the burner is re-parented (to init or a subreaper) and leaves this process's tree."""
    code = BURN.format(s=seconds)
    done = subprocess.run(
        ["sh", "-c", f'{sys.executable} -c "$0" >/dev/null 2>&1 & echo $!', code], capture_output=True, text=True
    )
    pid = int(done.stdout.strip())
    deadline = time.monotonic() + 5
    while psutil.Process(pid).ppid() == os.getpid() and time.monotonic() < deadline:
        time.sleep(0.05)
    return pid


def test_the_sampler_counts_the_run_tree_as_its_own_and_the_rest_as_the_neighbours():
    mine = subprocess.Popen([sys.executable, "-c", BURN.format(s=6)])
    theirs = _foreign_burner(6)
    try:
        assert theirs not in {p.pid for p in psutil.Process().children(recursive=True)}
        sampler = MachineSampler(os.getpid(), interval_s=0.5).start()
        start_mine, start_theirs = _cpu_s(mine.pid), _cpu_s(theirs)
        time.sleep(3.2)
        used_mine, used_theirs = _cpu_s(mine.pid) - start_mine, _cpu_s(theirs) - start_theirs
        record = sampler.stop()
    finally:
        mine.kill()
        mine.wait()
        try:
            os.kill(theirs, signal.SIGKILL)
        except OSError:
            pass
    samples = record["samples"]
    assert len(samples) >= 4 and record["cpus"] == psutil.cpu_count()
    wall = (samples[-1][0] - samples[0][0] + 0.5) * record["cpus"]
    ours = sum(s[2] for s in samples) * 0.5 * record["cpus"] / 100
    foreign = sum(s[3] for s in samples) * 0.5 * record["cpus"] / 100
    # each burner's own CPU time shows on its side (a busy shared machine adds to the neighbours, never to ours)
    assert ours >= 0.7 * used_mine, (ours, used_mine, samples)
    assert foreign >= 0.7 * used_theirs, (foreign, used_theirs, samples)
    assert ours <= used_mine + 0.25 * wall  # the test process itself sleeps


def test_a_child_that_ended_still_counts_as_the_runs_own():
    """A PostgreSQL backend or a Locust worker that ended is counted through its parent's reaped-children time."""
    sampler = MachineSampler(os.getpid(), interval_s=0.5).start()
    child = subprocess.run([sys.executable, "-c", SPEND.format(s=0.6)])
    assert child.returncode == 0
    time.sleep(1.2)
    record = sampler.stop()
    ours = sum(s[2] for s in record["samples"]) * 0.5 * record["cpus"] / 100
    assert ours >= 0.5, record["samples"]


def _record(foreign: float, ours: float = 40.0, n: int = 10) -> dict:
    return {"cpus": 2, "interval_s": 2.0, "samples": [[2.0 * i, ours + foreign, ours, foreign] for i in range(n)]}


@pytest.mark.parametrize(("foreign", "caveat"), [(FOREIGN_LIMIT - 5, False), (FOREIGN_LIMIT + 5, True), (55.0, True)])
def test_the_caveat_comes_past_the_neighbours_limit(foreign, caveat):
    said, shares = judge_machine(_record(foreign), 0.0, 100.0)
    assert (said is not None) == caveat and shares["foreign_pct"] == pytest.approx(foreign)
    if caveat:
        assert f"used {foreign:.0f} % of its 2 CPUs" in said and "not the build" in said


def test_only_the_judged_window_counts():
    """Neighbours busy during the ramp-up only (before the steady window) leave the run's numbers alone."""
    record = _record(5.0)
    record["samples"][:3] = [[2.0 * i, 95.0, 35.0, 60.0] for i in range(3)]
    assert judge_machine(record, 6.0, 18.0)[0] is None
    assert judge_machine(record, 0.0, 6.0)[0] is not None


def test_no_sample_no_caveat_and_a_summary_carries_it():
    assert judge_machine(None, 0.0, 10.0) == (None, {})
    summary = LoadSummary()
    apply_machine(summary, _record(60.0), {"steady_at_s": 2.0, "ended_at_s": 16.0})
    assert summary.contended and summary.machine["foreign_pct"] == 60.0
    assert summary.to_dict()["contended"] == summary.contended
