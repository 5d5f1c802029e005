"""harness/process.py: process groups, the parent-death signal, stop with a timeout, log tails."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from harness.process import Service, log_tail, spawn, stop_group

PY = sys.executable


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie is gone for our purposes
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except OSError:
        return False


def _wait_gone(pid: int, timeout_s: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if not _alive(pid):
            return True
        time.sleep(0.02)
    return False


def _wait_for_file(path: Path, timeout_s: float = 5.0) -> str:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if path.is_file() and path.read_text().strip():
            return path.read_text().strip()
        time.sleep(0.02)
    raise AssertionError(f"{path} was not written")


def test_spawn_leads_a_new_session_and_logs_both_streams(tmp_path):
    log = tmp_path / "out.log"
    with open(log, "ab") as fh:
        proc = spawn([PY, "-c", "import sys; print('out', flush=True); print('err', file=sys.stderr)"], fh)
    assert proc.wait(timeout=10) == 0
    assert os.getpgid(os.getpid()) != proc.pid  # it had its own group (pgid == its pid), not ours
    assert log.read_text().split() == ["out", "err"]


def test_stop_group_takes_down_a_stubborn_child_and_its_grandchild(tmp_path):
    pidfile = tmp_path / "grandchild.pid"
    code = textwrap.dedent(
        f"""
        import signal, subprocess, sys, time
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        child = subprocess.Popen([sys.executable, "-c", "import signal, time; "
                                  "signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(60)"])
        open({str(pidfile)!r}, "w").write(str(child.pid))
        time.sleep(60)
        """
    )
    with open(tmp_path / "log", "ab") as fh:
        proc = spawn([PY, "-c", code], fh)
    grandchild = int(_wait_for_file(pidfile))
    t0 = time.monotonic()
    stop_group(proc.pid, [proc], grace_s=0.5, kill_wait_s=5)
    assert time.monotonic() - t0 < 5
    assert proc.poll() == -signal.SIGKILL
    assert _wait_gone(grandchild)
    stop_group(proc.pid, [proc])  # twice is fine


def test_a_polite_child_exits_on_the_stop_signal_within_the_grace(tmp_path):
    with open(tmp_path / "log", "ab") as fh:
        proc = spawn([PY, "-c", "import time; time.sleep(60)"], fh)
    time.sleep(0.2)
    stop_group(proc.pid, [proc], sig=signal.SIGINT, grace_s=5)
    assert proc.returncode not in (None, -signal.SIGKILL)


def test_the_child_dies_with_its_parent_even_when_the_parent_is_killed(tmp_path):
    pidfile = tmp_path / "child.pid"
    parent_code = textwrap.dedent(
        f"""
        import sys, time
        from harness.process import spawn
        with open({str(tmp_path / "child.log")!r}, "ab") as log:
            child = spawn([sys.executable, "-c", "import time; time.sleep(60)"], log)
        open({str(pidfile)!r}, "w").write(str(child.pid))
        time.sleep(60)
        """
    )
    parent = subprocess.Popen([PY, "-c", parent_code], env={**os.environ, "PYTHONPATH": str(Path.cwd())})
    try:
        child = int(_wait_for_file(pidfile))
        parent.kill()  # SIGKILL: no cleanup code of the parent runs
        parent.wait(timeout=5)
        assert _wait_gone(child), "the child outlived its SIGKILLed parent"
    finally:
        if parent.poll() is None:
            parent.kill()


def test_service_reports_its_exit_with_the_log_tail(tmp_path):
    log = tmp_path / "svc.log"
    svc = Service("demo", [PY, "-c", "print('one'); print('two'); print('  three  '); raise SystemExit(3)"], log)
    svc.start()
    assert svc.proc is not None and svc.proc.wait(timeout=10) == 3
    assert svc.exited() == f"demo exit status 3; log {log}: one | two | three"
    svc.stop()  # already gone: nothing to do
    assert log_tail(tmp_path / "missing.log") == "(no log)"
    (tmp_path / "empty.log").write_text("")
    assert log_tail(tmp_path / "empty.log") == "(empty log)"


def test_service_stop_kills_after_its_timeout(tmp_path):
    code = "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); print('up', flush=True); time.sleep(60)"
    svc = Service("stubborn", [PY, "-c", code], tmp_path / "s.log")
    svc.start()
    _wait_for_file(tmp_path / "s.log")
    assert svc.exited() is None and svc.pid is not None
    t0 = time.monotonic()
    svc.stop(timeout_s=0.5)
    assert time.monotonic() - t0 < 5
    assert svc.proc is not None and svc.proc.returncode == -signal.SIGKILL
