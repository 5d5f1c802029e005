"""Run Locust headless in its own process group, bounded by a hard time cap, and always clean up.

Locust never runs inside the caller's process (`import locust` monkey-patches gevent, which breaks
`requests` in pytest). One process group holds the whole run (the master, its `--processes`
children, or the `--workers N` worker processes), so a timeout, Ctrl-C or SIGTERM takes all of it
down: SIGTERM, a grace period, then SIGKILL. The master also gets SIGTERM if its parent dies
(PR_SET_PDEATHSIG), so a killed pytest leaves no load generator behind.

Locust writes its log, CSVs and HTML report into a private staging directory; they reach out_dir
(reports/load/) only redacted (harness/redact.py), once Locust has exited. The progress lines
(numbers only, written by our locustfile) go straight to out_dir, so `harness load` can show them live.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil

from harness.errors import ExitCode, HarnessError
from harness.load.machine import MachineSampler, apply_machine
from harness.load.profiles import MasterBind, Profile
from harness.load.results import (
    GENERATORS,
    LoadSummary,
    apply_generators,
    read_auth_log,
    read_generators,
    summarize_files,
)
from harness.load.traffic import reference_plan
from harness.net import is_loopback
from harness.process import cleanup, handling_signals, log_tail, shielded, spawn, stop_group
from harness.redact import redact_file
from harness.stack.local import free_port
from harness.stack.sweep import make_run_dir, tool_tmp_env

PREFIX = "locust"  # reports/load/locust_stats.csv, locust_failures.csv, locust.html, ...
PROGRESS = "progress.jsonl"
AUTH_LOG = "auth.jsonl"  # one line per login (and per 401 retried) in the Locust processes: not load traffic
USER_CLASSES = {"chat": "ChatUser", "health": "HealthUser", "endpoints": "EndpointUser", "websocket": "WebSocketUser"}
GRACE_S = 8.0


class LoadError(HarnessError):
    """The load run could not produce a result (Locust failed, timed out, or the target is gone)."""

    exit_code = ExitCode.INCONCLUSIVE


class LoadRefused(LoadError):
    """The target is not one load may be sent to without an explicit opt-in."""

    exit_code = ExitCode.USAGE


def check_allowed(base_url: str, *, ephemeral: bool, allow_remote: bool) -> None:
    """Refuse load on anything but loopback or a stack this run started, unless explicitly allowed."""
    if allow_remote or ephemeral or is_loopback(base_url):
        return
    raise LoadRefused(
        f"refusing to send load to {base_url}: it is not loopback and not an ephemeral stack this run started, "
        "and a load test can degrade a shared deployment; if you own it and mean it, pass --allow-remote-load "
        "(or HARNESS_ALLOW_REMOTE_LOAD=1)"
    )


def unreachable(base_url: str, timeout_s: float = 5.0, path: str = "/health") -> str | None:
    """None when GET <path> (the service's health path) gets any HTTP answer; otherwise why not."""
    try:
        with urllib.request.urlopen(f"{base_url.rstrip('/')}{path}", timeout=timeout_s):
            return None
    except urllib.error.HTTPError:
        return None  # it answered; an unhealthy answer is for the gates to judge
    except (OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        return f"{base_url} does not answer GET {path} ({type(reason).__name__}: {reason})"


def progress_text(line: dict[str, Any], profile: Profile) -> str:
    """One human line from a progress record: elapsed/remaining, users, req/s, p95, errors."""
    p95 = line.get("p95_ms")
    t = float(line.get("t", 0))
    left = max(profile.duration_s - t, 0)
    failures = line.get("failures")
    errors = f"errors {failures} " if failures is not None else "errors "
    return (
        f"load {profile.name}: {t:>5.0f}s of {profile.duration_s:g}s ({left:.0f}s left)  "
        f"users {line.get('users', 0)}/{profile.users}  "
        f"{line.get('rps', 0):.0f} req/s  p95 {'-' if p95 is None else f'{p95:g} ms'}  "
        f"{errors}({100 * float(line.get('fail_ratio', 0)):.2f} %)  ({line.get('requests', 0)} requests)"
    )


@dataclass(slots=True)
class LocustRun:
    """A finished Locust run and where its files are."""

    out_dir: Path
    exit_code: int | None
    seconds: float
    summary: LoadSummary

    @property
    def html(self) -> Path:
        return self.out_dir / f"{PREFIX}.html"


class LocustRunner:
    """One bounded Locust run of a profile against a base URL; files go to out_dir."""

    def __init__(
        self,
        profile: Profile,
        base_url: str,
        *,
        locustfile: Path,
        out_dir: Path,
        token: str | None = None,
        on_progress: Callable[[dict[str, Any]], None] | None = None,
        secrets: list[str] | None = None,
        traffic: dict[str, Any] | None = None,
        master: MasterBind | None = None,
        stop_early: threading.Event | None = None,
        machine_root: int | None = None,
    ) -> None:
        self.profile = profile
        self.machine_root = machine_root  # set (a local stack): sample the neighbours' CPU share (load/machine.py)
        self.master = master  # None: the master on loopback, its workers (if any) beside it
        self.stop_early = stop_early  # set: end the run now, as if its time were up (the sequential canary judge)
        self.traffic = traffic if traffic is not None else reference_plan(profile.weights)
        self.base_url = base_url.rstrip("/")
        self.locustfile = locustfile
        self.out_dir = out_dir
        self.token = token
        self.secrets = [s for s in [*(secrets or []), token] if s]  # what Locust's files must not show
        self.stage = out_dir  # where Locust writes: a private directory while it runs (run())
        self.on_progress = on_progress
        self.procs: list[subprocess.Popen[bytes]] = []
        self.pgid: int | None = None
        self._progress_pos = 0

    # -- argv ---------------------------------------------------------------------------------
    def _common(self) -> list[str]:
        # --reset-stats: the numbers describe the steady state, from the moment every user runs
        return [sys.executable, "-m", "locust", "-f", str(self.locustfile), "--loglevel", "WARNING", "--reset-stats"]

    def master_argv(self, port: int) -> list[str]:
        p = self.profile
        argv = self._common() + [
            "--headless",
            "--host",
            self.base_url,
            "--users",
            str(p.users),
            "--spawn-rate",
            f"{p.spawn_rate:g}",
            "--run-time",
            f"{max(1, round(p.run_time_s))}s",
            "--stop-timeout",
            f"{p.stop_timeout_s:g}",
            "--csv",
            str(self.stage / PREFIX),
            "--html",
            str(self.stage / f"{PREFIX}.html"),
            "--csv-full-history",  # per-endpoint rows in the stats history too (report.html charts them)
            "--only-summary",
            "--exit-code-on-error",
            "0",
            "--master-bind-host",
            self.master.host if self.master else "127.0.0.1",
            "--master-bind-port",
            str(port),
            "--master-host",
            self.local_master_host,
            "--master-port",
            str(port),
        ]
        if p.workers or self.master:
            expect = p.workers + (self.master.expect_workers if self.master else 0)
            wait = self.master.wait_s if self.master else 30
            argv += ["--master", "--expect-workers", str(expect), "--expect-workers-max-wait", f"{wait:g}"]
        elif p.processes != 1:
            argv += ["--processes", str(p.processes)]
        return argv + self.user_classes

    @property
    def user_classes(self) -> list[str]:
        """The locustfile's user classes this traffic runs."""
        return [USER_CLASSES[u] for u in self.traffic["users"]]

    def plan(self) -> dict[str, Any]:
        """HARNESS_LOAD_PLAN: the load profile's shape and the service profile's traffic (no secret in it)."""
        return {**self.profile.plan(), "traffic": self.traffic}

    @property
    def local_master_host(self) -> str:
        """Where a worker on this host reaches the master: its bind address, loopback for a wildcard."""
        host = self.master.host if self.master else "127.0.0.1"
        return "127.0.0.1" if host in ("0.0.0.0", "*", "::", "") else host

    def worker_argv(self, port: int) -> list[str]:
        return self._common() + ["--worker", "--master-host", self.local_master_host, "--master-port", str(port)]

    # -- run ------------------------------------------------------------------------------------
    def _env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
        env.update(
            HARNESS_LOAD_PLAN=json.dumps(self.plan()),
            HARNESS_LOAD_PROGRESS=str(self.out_dir / PROGRESS),
            HARNESS_LOAD_AUTH_LOG=str(self.out_dir / AUTH_LOG),
            HARNESS_LOAD_GENERATORS=str(self.out_dir / GENERATORS),
            PYTHONUNBUFFERED="1",
        )
        env.update(tool_tmp_env(self.stage))  # Locust's temp files inside its swept stage
        env.pop("HARNESS_LOAD_TOKEN", None)
        if self.token:
            env["HARNESS_LOAD_TOKEN"] = self.token
        return env

    def _spawn(self, argv: list[str], log: Any, group: int) -> subprocess.Popen[bytes]:
        proc = spawn(argv, log, env=self._env(), cwd=self.stage, group=group)
        self.procs.append(proc)
        return proc

    def _clear(self) -> None:
        self.out_dir.mkdir(parents=True, exist_ok=True)
        for old in self.out_dir.glob(f"{PREFIX}*"):
            old.unlink()
        (self.out_dir / PROGRESS).unlink(missing_ok=True)
        (self.out_dir / AUTH_LOG).unlink(missing_ok=True)
        (self.out_dir / GENERATORS).unlink(missing_ok=True)

    def _pump(self) -> None:
        path = self.out_dir / PROGRESS
        if self.on_progress is None or not path.is_file():
            return
        with path.open() as fh:
            fh.seek(self._progress_pos)
            chunk = fh.read()
        complete = chunk[: chunk.rfind("\n") + 1]
        self._progress_pos += len(complete.encode())
        for line in complete.splitlines():
            try:
                self.on_progress(json.loads(line))
            except ValueError:
                continue

    def stop(self) -> None:
        """Take the whole process group down: SIGTERM, a grace period, SIGKILL. Safe to call twice."""
        if self.pgid is None:
            return
        stop_group(self.pgid, self.procs, sig=signal.SIGTERM, grace_s=GRACE_S, kill_wait_s=5.0)
        self.pgid = None

    def _publish(self) -> None:
        """Locust's files from the staging directory into out_dir, redacted (once per run)."""
        if self.stage == self.out_dir:
            return
        for path in sorted(self.stage.glob(f"{PREFIX}*")):
            if path.is_file():
                redact_file(path, self.out_dir / path.name, self.secrets)
        shutil.rmtree(self.stage, ignore_errors=True)
        self.stage = self.out_dir

    def run(self) -> LocustRun:
        """Run to the end or the time cap; raise LoadError when there is nothing to judge."""
        self._clear()
        with shielded():  # private (0700) until redacted; swept at a next start if we are killed
            self.stage = make_run_dir(kind="locust", mode=0o700)
        try:
            return self._run()
        finally:
            self._publish()  # a timeout, Ctrl-C or SIGTERM: what Locust wrote, redacted

    def _run(self) -> LocustRun:
        port = self.master.port if self.master else free_port()
        t0 = time.monotonic()
        code: int | None = None
        log_path = self.out_dir / f"{PREFIX}.log"  # where the redacted log will be
        sampler: MachineSampler | None = None
        with handling_signals():  # SIGTERM/SIGHUP raise Terminated, once; the stop is never cut short
            try:
                with open(self.stage / log_path.name, "ab") as log:
                    sampler = self._sampler()
                    with shielded():  # a signal now must not lose a handle
                        master = self._spawn(self.master_argv(port), log, 0)
                        self.pgid = master.pid
                        for _ in range(self.profile.workers):
                            self._spawn(self.worker_argv(port), log, master.pid)
                    deadline = t0 + self.profile.cap_s + (self.master.wait_s if self.master else 0.0)
                    while (code := master.poll()) is None and time.monotonic() < deadline:
                        if self.stop_early is not None and self.stop_early.is_set():  # ended on purpose
                            master.send_signal(signal.SIGTERM)  # Locust stops its users, writes its files
                            try:
                                code = master.wait(timeout=GRACE_S)
                            except subprocess.TimeoutExpired:
                                code = None
                            break
                        self._pump()
                        time.sleep(0.25)
                self._pump()
            finally:
                cleanup(self.stop)
                machine = sampler.stop() if sampler is not None else None
        seconds = time.monotonic() - t0
        if code is None:
            raise LoadError(
                f"the Locust run passed its hard time cap of {self.profile.cap_s:g} s and was stopped "
                f"(profile {self.profile.name}; log {log_path})"
            )
        self._publish()
        if code != 0 and self.master and "Gave up waiting for workers" in log_tail(log_path, 30):
            raise LoadError(
                f"fewer than the {self.master.expect_workers} expected Locust workers connected to the master at "
                f"{self.master.address} within {self.master.wait_s:g} s; start each with "
                f"`harness load-worker --master {self.master.address}` on a host that reaches it"
            )
        if code != 0:
            raise LoadError(f"Locust exited with status {code} (log {log_path}: {log_tail(log_path)})")
        summary = summarize_files(self.out_dir / PREFIX, self.profile.min_requests)
        summary.auth = read_auth_log(self.out_dir / AUTH_LOG)
        generators = read_generators(self.out_dir / GENERATORS)
        apply_generators(summary, generators)
        apply_machine(summary, machine, generators)
        return LocustRun(self.out_dir, code, seconds, summary)

    def _sampler(self) -> MachineSampler | None:
        if self.machine_root is None:
            return None
        try:
            return MachineSampler(self.machine_root).start()
        except psutil.Error:  # the process that started the stack is gone: nothing to tell ours from theirs
            return None


def progress_tail(settings: Any, folder: Path) -> tuple[Path, Callable[[dict[str, Any]], str]]:
    """The registry's progress hook of the load suite: the file the Locust run writes its numbers to (in the
    suite's reports folder) and how one line of it reads on the console."""
    from harness.load.profiles import load_options_for

    profile = load_options_for(settings).profile
    return folder / PROGRESS, lambda line: progress_text(line, profile)
