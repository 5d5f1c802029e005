"""harness/process.py: process groups, the parent-death signal (also across a user switch and when the parent dies
before it is armed), stop with a timeout, run to the end, log tails."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from harness.process import Service, log_tail, run, spawn, stop_group

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


def test_a_child_stops_on_sigint_even_when_the_harness_was_started_with_sigint_ignored(tmp_path):
    """`harness gate &` in a script starts the harness with SIGINT ignored; its services must not inherit that."""
    before = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        with open(tmp_path / "log", "ab") as fh:
            proc = spawn([PY, "-c", "import time; time.sleep(60)"], fh)
    finally:
        signal.signal(signal.SIGINT, before)
    time.sleep(0.5)
    t0 = time.monotonic()
    stop_group(proc.pid, [proc], sig=signal.SIGINT, grace_s=5)
    assert proc.returncode not in (None, -signal.SIGKILL) and time.monotonic() - t0 < 4


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


def test_a_child_whose_parent_died_before_the_death_signal_was_armed_exits_at_once(tmp_path):
    # arm() compares the parent it was made for with the parent the child has when it arms the signal: a
    # process two forks away stands in for a child whose harness died between the fork and the prctl
    code = textwrap.dedent(
        """
        import os
        from harness.process import die_with_parent
        arm = die_with_parent(15)
        pid = os.fork()
        if pid == 0:
            grandchild = os.fork()
            if grandchild == 0:
                arm()
                os._exit(0)
            os._exit(os.waitstatus_to_exitcode(os.waitpid(grandchild, 0)[1]))
        print(os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]))
        """
    )
    done = subprocess.run([PY, "-c", code], capture_output=True, text=True, timeout=10, check=True)
    assert done.stdout.strip() == str(128 + 15)


def _children(pid: int) -> list[int]:
    try:
        return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="switching to another user needs root")


@needs_root
def test_the_death_signal_survives_the_switch_to_another_user(tmp_path):
    pidfile = tmp_path / "child.pid"
    parent_code = textwrap.dedent(
        f"""
        import sys, time
        from harness.process import spawn
        with open({str(tmp_path / "child.log")!r}, "ab") as log:
            child = spawn(["sleep", "60"], log, uid=65534, gid=65534)  # nobody may not run our python
        open({str(pidfile)!r}, "w").write(str(child.pid))
        time.sleep(60)
        """
    )
    parent = subprocess.Popen([PY, "-c", parent_code], env={**os.environ, "PYTHONPATH": str(Path.cwd())})
    try:
        child = int(_wait_for_file(pidfile))
        assert Path(f"/proc/{child}/status").read_text().count("65534") >= 2  # it runs as nobody
        parent.kill()
        parent.wait(timeout=5)
        assert _wait_gone(child), "the child (another user) outlived its SIGKILLed parent"
    finally:
        if parent.poll() is None:
            parent.kill()


@needs_root
def test_the_babysitters_server_dies_with_the_babysitter_even_by_sigkill(tmp_path):
    svc = Service("server", ["sh", "-c", "echo up; exec sleep 60"], tmp_path / "s.log", user=65534)
    svc.start()
    try:
        _wait_for_file(tmp_path / "s.log")
        assert svc.proc is not None
        (server,) = _children(svc.proc.pid)
        svc.proc.kill()  # the babysitter, not its group: only the death signal can stop the server now
        svc.proc.wait(timeout=5)
        assert _wait_gone(server), "the server outlived its SIGKILLed babysitter"
    finally:
        svc.stop()


def test_run_returns_the_exit_status_and_stops_the_whole_group_on_timeout(tmp_path):
    log = tmp_path / "run.log"
    assert run([PY, "-c", "print('hi'); raise SystemExit(3)"], log, timeout_s=10) == 3
    assert log.read_text().strip() == "hi"
    pidfile = tmp_path / "grandchild.pid"
    code = textwrap.dedent(
        f"""
        import subprocess, sys, time
        child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
        open({str(pidfile)!r}, "w").write(str(child.pid))
        time.sleep(60)
        """
    )
    t0 = time.monotonic()
    assert run([PY, "-c", code], log, timeout_s=1.5, grace_s=1) is None
    assert time.monotonic() - t0 < 8
    assert _wait_gone(int(_wait_for_file(pidfile)), timeout_s=0.5), "run() returned before the group was gone"


def test_run_stops_the_group_when_a_signal_interrupts_the_wait(tmp_path):
    import threading

    from harness.process import Terminated, handling_signals

    pidfile = tmp_path / "child.pid"
    code = f"import os, time; open({str(pidfile)!r}, 'w').write(str(os.getpid())); time.sleep(60)"
    threading.Timer(1.0, lambda: os.kill(os.getpid(), signal.SIGHUP)).start()
    with handling_signals(), pytest.raises(Terminated):
        run([PY, "-c", code], tmp_path / "run.log", timeout_s=30)
    assert not _alive(int(_wait_for_file(pidfile)))
