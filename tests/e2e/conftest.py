"""End-to-end helpers: run the real `harness` CLI against real stacks, and prove nothing is left behind."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
STACK_MARKERS = ("harness-local-", "uvicorn app.main:app", "tests/load/locustfile.py", "--storage.tsdb.path=")


RUN_ID = "E2E_RUN_ID"  # every process a test starts inherits it; other sessions' stacks do not have it


def stack_processes(run_id: str | None = None) -> dict[int, str]:
    """PIDs of PostgreSQL, Redis or app processes a harness stack started: by this test (its run id in
    the process environment) or, with run_id None, by the test currently running."""
    marker = f"{RUN_ID}={run_id or os.environ.get(RUN_ID, '')}".encode()
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmd = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            if not (any(m in cmd for m in STACK_MARKERS) or ("redis-server" in cmd and "127.0.0.1:" in cmd)):
                continue
            if marker not in (entry / "environ").read_bytes().split(b"\0"):
                continue
        except OSError:
            continue
        found[int(entry.name)] = cmd.strip()
    return found


@pytest.fixture(autouse=True)
def nothing_left_behind(monkeypatch):
    """After every e2e test, no PostgreSQL, Redis or uvicorn process the test started may remain."""
    run_id = uuid.uuid4().hex
    monkeypatch.setenv(RUN_ID, run_id)
    yield
    assert_nothing_left(run_id, "processes left behind")


def assert_nothing_left(run_id: str, what: str) -> None:
    """No stack process with this run id remains (a stack's own shutdown may still be finishing: poll, then judge)."""
    deadline = time.monotonic() + 10
    while (left := stack_processes(run_id)) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not left, f"{what}: {left}"


@dataclass
class Run:
    code: int
    out: str
    err: str
    reports: Path

    @property
    def verdict(self) -> dict:
        return json.loads((self.reports / "verdict.json").read_text())


def harness_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HARNESS_", "ORCHESTRA_", "PYTEST_"))}
    env["HARNESS_STACK"] = "local"  # deterministic: `auto` would pick containers wherever Docker answers
    env.update(extra)
    return env


@pytest.fixture
def harness(tmp_path):
    """harness(*args, env=...) -> Run: the real CLI in a child process, reports in a temp dir."""

    def run(*args: str, timeout: float = 120, **env: str) -> Run:
        reports = tmp_path / "reports"
        argv = [sys.executable, "-m", "harness.cli", *args]
        if args and args[0] in ("gate", "selftest", "checklist"):
            argv += ["--reports-dir", str(reports)]
        done = subprocess.run(
            argv, capture_output=True, text=True, timeout=timeout, cwd=ROOT, env=harness_env(**env), check=False
        )
        return Run(done.returncode, done.stdout, done.stderr, reports)

    return run


@dataclass
class Up:
    """A running `harness up`: what it printed (label -> value) and the env export it gave."""

    proc: subprocess.Popen
    printed: dict[str, str]

    @property
    def url(self) -> str:
        return self.printed["HARNESS_TARGET"]

    @property
    def token(self) -> str:
        return self.printed["HARNESS_TOKEN"]


@contextmanager
def harness_up(*args: str, env: dict[str, str] | None = None, timeout: float = 120) -> Iterator[Up]:
    """Run `harness up ARGS` until it prints its export line; SIGTERM it afterwards, which must exit 0."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "harness.cli", "up", *args],
        cwd=ROOT,
        env=env or harness_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    lines: list[str] = []
    threading.Thread(target=lambda: lines.extend(proc.stdout), daemon=True).start()
    try:
        deadline = time.monotonic() + timeout
        while not any(x.startswith("export ") for x in lines):
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                pytest.fail(f"harness up did not come up: {proc.stderr.read()[-1000:]}", pytrace=False)
            time.sleep(0.1)
        printed = {m.group(1): m.group(2) for m in (re.match(r"(\w+):\s+(\S+)", x) for x in lines) if m}
        printed.update(re.findall(r"(HARNESS_\w+)=(\S+)", next(x for x in lines if x.startswith("export "))))
        yield Up(proc, printed)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)
    assert proc.returncode == 0, f"harness up exited {proc.returncode} on SIGTERM"


class Selftested(Run):
    """A `harness selftest` run: trial(fault) is one fault's trial in its selftest.json."""

    def trial(self, fault: str) -> dict:
        doc = json.loads((self.reports / "selftest.json").read_text())
        found = [t for t in doc["faults"] if t["fault"] == fault]
        assert found, f"no trial of {fault} in the selftest: {self.out[-2000:]}{self.err[-2000:]}"
        return found[0]


@pytest.fixture(scope="session")
def pr_selftest(tmp_path_factory) -> Selftested:
    """`harness selftest --phase pr` once for the session: the clean build, then every fault of the pr phase's
    matrix on one stack (app faults switched at run time), each trial's gate statuses and verdict reasons in
    selftest.json. test_selftest judges the run; the per-fault tests of test_gate, test_contract_gate and
    test_security_gate read their fault's trial (one run instead of a gate run, and a stack, per fault)."""
    run_id = uuid.uuid4().hex
    reports = tmp_path_factory.mktemp("pr-selftest") / "reports"
    argv = [sys.executable, "-m", "harness.cli", "selftest", "--phase", "pr", "--reports-dir", str(reports)]
    env = harness_env(**{RUN_ID: run_id})
    done = subprocess.run(argv, capture_output=True, text=True, timeout=600, cwd=ROOT, env=env, check=False)
    assert_nothing_left(run_id, "processes left behind by the selftest")
    return Selftested(done.returncode, done.stdout, done.stderr, reports)


def spawn_harness(*args: str, env: dict[str, str]) -> subprocess.Popen:
    """`harness ARGS` in its own session, interruptible as from a terminal (a job a script started in the
    background inherits SIGINT ignored; the child restores it)."""
    return subprocess.Popen(
        [sys.executable, "-m", "harness.cli", *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )


@contextmanager
def example_service(
    module: str, prefix: str, env_extra: dict[str, str], log: Path, what: str
) -> Iterator[tuple[str, subprocess.Popen]]:
    """An example service (`python -m examples.<module>`) on a free loopback port with its access log at `log`,
    up once /healthz answers (what the readiness probe sent is cleared from the log); stopped afterwards."""
    import socket

    import requests

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HARNESS_", prefix))}
    env.update(env_extra)
    argv = [sys.executable, "-m", f"examples.{module}", "--host", "127.0.0.1", "--port", str(port)]
    proc = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                requests.get(f"{url}/healthz", timeout=2)
                break
            except requests.RequestException:
                if proc.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"{what} did not start: {proc.stderr.read()[-500:]!r}", pytrace=False)
                time.sleep(0.1)
        log.write_text("")
        yield url, proc
    finally:
        proc.terminate()
        proc.wait(timeout=15)
