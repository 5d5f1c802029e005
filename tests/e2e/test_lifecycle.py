"""Everything a run starts is stopped: SIGTERM, Ctrl-C, `harness up` (also on SIGHUP); xdist shares one stack."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pytest

from .conftest import ROOT, harness_env, harness_up, spawn_harness, stack_processes


def wait_for(predicate, timeout: float = 30.0, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "Ctrl-C"])
def test_gate_interrupted_mid_run_stops_everything_and_is_inconclusive(tmp_path, sig):
    reports = tmp_path / "reports"
    proc = spawn_harness(
        *("gate", "--phase", "smoke", "--policy-file", "policies/smoke-only.toml", "--reports-dir", str(reports)),
        env=harness_env(ORCHESTRA_FAULTS="ws_no_pong"),
    )
    log = reports / "pytest.log"
    try:
        # the marker: two checks done (pytest's progress dots), so the third, the WebSocket ping that
        # ws_no_pong leaves unanswered for 5 s, is running right now
        wait_for(lambda: log.is_file() and log.read_text().count(".") >= 2, what="the suites to be mid-run")
        os.killpg(proc.pid, sig) if sig == signal.SIGINT else proc.send_signal(sig)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 2, out + err
    assert "Traceback" not in out + err
    doc = json.loads((reports / "verdict.json").read_text())
    assert doc["verdict"] == "inconclusive"
    assert any(n.startswith(("interrupted", "terminated")) for n in doc["notes"]), doc["notes"]
    # interrupted mid-run: no gate of the interrupted suite reads as passed
    assert {g["status"] for g in doc["gates"]} == {"error"}, doc["gates"]


def test_up_serves_a_stack_that_the_smoke_suite_passes_with_target_and_stops_on_sigterm(tmp_path):
    with harness_up() as up:
        reports = tmp_path / "reports"
        gate = subprocess.run(
            [
                sys.executable,
                "-m",
                "harness.cli",
                "gate",
                "--phase",
                "smoke",
                "--policy-file",
                "policies/smoke-only.toml",
                "--target",
                up.url,
                "--reports-dir",
                str(reports),
                "--allow-unsafe",  # a test instance: the chat checks run (without it they are not run: exit 2)
            ],
            cwd=ROOT,
            env=harness_env(HARNESS_TOKEN=up.token),
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert gate.returncode == 0, gate.stdout + gate.stderr
        doc = json.loads((reports / "verdict.json").read_text())
        assert doc["target"]["stack"] == "external"
        for report in reports.iterdir():
            assert up.token not in report.read_text(), f"the token leaked into {report.name}"
        smoke = [
            sys.executable,
            "-m",
            "pytest",
            "tests/smoke",
            "-q",
            "-rs",
            "--target",
            up.url,
            "-p",
            "no:cacheprovider",
        ]
        suite = subprocess.run(
            smoke, cwd=ROOT, env=harness_env(HARNESS_TOKEN=up.token), capture_output=True, text=True, timeout=120
        )
        assert suite.returncode == 0, suite.stdout[-2000:]
        # not started by this run: the chat POSTs are N/A (safe by default), and the store check needs the URLs
        assert "3 passed, 3 skipped" in suite.stdout and "did not start this target" in suite.stdout, suite.stdout
        unsafe = subprocess.run(
            smoke,
            cwd=ROOT,
            env=harness_env(HARNESS_TOKEN=up.token, HARNESS_ALLOW_UNSAFE="1"),
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert unsafe.returncode == 0, unsafe.stdout[-2000:]
        assert "5 passed, 1 skipped" in unsafe.stdout  # the throwaway stack: the user allows the chat POSTs


def test_xdist_run_starts_exactly_one_stack(tmp_path):
    seen: set[int] = set()
    done = threading.Event()

    def watch() -> None:
        while not done.is_set():
            seen.update(pid for pid, cmd in stack_processes().items() if "uvicorn app.main:app" in cmd)
            time.sleep(0.05)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    evidence = tmp_path / "evidence.json"
    try:
        run = subprocess.run(
            [
                sys.executable,
                "-m",
                "pytest",
                "tests/smoke",
                "-n",
                "2",
                "-q",
                "-p",
                "no:cacheprovider",
                "--harness-evidence",
                str(evidence),
            ],
            cwd=ROOT,
            env=harness_env(),
            capture_output=True,
            text=True,
            timeout=180,
        )
    finally:
        done.set()
        watcher.join()
    assert run.returncode == 0, run.stdout[-2000:]
    assert "6 passed" in run.stdout
    assert len(seen) == 1, f"expected one app process, saw {len(seen)}"
    assert {r["outcome"] for r in json.loads(evidence.read_text())["records"]} == {"passed"}


def test_up_stops_cleanly_on_sighup_and_leaves_no_temp_dir():
    proc = spawn_harness("up", env=harness_env())
    lines: list[str] = []
    threading.Thread(target=lambda: lines.extend(proc.stdout), daemon=True).start()
    try:
        wait_for(lambda: any(x.startswith("export ") for x in lines), timeout=120, what="harness up to be up")
        os.killpg(proc.pid, signal.SIGHUP)  # the terminal went away
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    err = proc.stderr.read()
    assert proc.returncode == 0, err
    assert "stopped" in err and "Traceback" not in err
    assert not list(Path(tempfile.gettempdir()).glob(f"harness-local-{proc.pid}-*"))
