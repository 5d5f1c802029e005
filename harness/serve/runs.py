"""Gate runs in the background: one `harness gate` child process per run, in its own reports dir.

- A request names a key (phase, target, checksum). A fresh verdict for it is reused (store.py); a run for it
  already queued or running is shared; otherwise a new run is queued. So identical requests start one run.
- At most `serve_workers` runs at once, never two for the same (phase, target) (they would share a target);
  at most `serve_queue` runs wait; one more is refused with QueueFull.
- Each run is `python -m harness.cli gate --phase P --reports-dir <runs>/<id> ...` started through
  harness.process.spawn (own session, parent-death signal), stopped with its whole process group after
  `serve_run_timeout_s` (the child then writes an inconclusive verdict) or when the server stops.
- HARNESS_SERVE_TOKEN never reaches the child: the gate run cannot write what it never saw.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from harness.config import Settings
from harness.process import log_tail, spawn, stop_group
from harness.serve.store import Store, Stored

LOCAL = "local"  # the target key of runs on a stack the harness starts itself
CHILD_ENV_DROP = (
    "HARNESS_SERVE_TOKEN",
    "HARNESS_PHASE",
    "HARNESS_SUITES",
    "HARNESS_REPORTS_DIR",
    "HARNESS_TARGET",
    "HARNESS_BASELINE_TARGET",  # the default target's baseline only: gate_argv passes it for that target's runs
)
KEEP_RUNS = 500  # finished runs kept in memory for GET /runs/{id} (older ones are read from the store)


class QueueFull(Exception):
    """Too many runs are waiting already."""


@dataclass(slots=True)
class Run:
    """One gate run the server started (or queued)."""

    id: str
    phase: str
    target: str  # a URL from serve_targets, or LOCAL
    checksum: str
    suites: tuple[str, ...] | None = None
    status: str = "queued"  # queued | running | done
    queued_at: float = field(default_factory=time.time)
    started_at: float | None = None
    finished_at: float | None = None
    doc: dict[str, Any] | None = None
    proc: subprocess.Popen[bytes] | None = None

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.phase, self.target, self.checksum)

    @property
    def verdict(self) -> str | None:
        return self.doc["verdict"] if self.doc else None

    def public(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "run_id": self.id,
            "status": self.status,
            "phase": self.phase,
            "target": self.target,
            "checksum": self.checksum,
            "suites": list(self.suites) if self.suites else None,
            "queued_at": _iso(self.queued_at),
            "started_at": _iso(self.started_at),
            "finished_at": _iso(self.finished_at),
        }
        if self.doc is not None:
            out["verdict"] = self.doc["verdict"]
            out["document"] = self.doc
        return out


def _iso(t: float | None) -> str | None:
    return (
        None if t is None else datetime.fromtimestamp(t, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    )


def no_verdict(phase: str, reason: str) -> dict[str, Any]:
    """The inconclusive document of a run that left no verdict of its own (it crashed, or was refused)."""
    from harness.verdict import undecided_document

    return undecided_document(phase, reason, "harness serve: the gate run left no verdict", _iso(time.time()) or "")


Launcher = Callable[["Run", Path], dict[str, Any] | None]


class Runner:
    """The queue and the workers. `launch` (for the unit tests) replaces the child process."""

    def __init__(
        self,
        settings: Settings,
        store: Store,
        *,
        on_finish: Callable[[Run, float], None] | None = None,
        launch: Launcher | None = None,
    ) -> None:
        self.settings = settings
        self.store = store
        self.runs_dir = settings.serve_db.parent / "runs"
        self.on_finish = on_finish
        self._launch = launch or self._child
        self._cond = threading.Condition()
        self._queue: list[Run] = []
        self._active: dict[tuple[str, str, str], Run] = {}  # queued or running, by key
        self._busy: set[tuple[str, str]] = set()  # (phase, target) with a run in progress
        self._runs: dict[str, Run] = {}
        self._stopping = False
        self.started = 0  # runs started since the server came up (the tests count them)
        self._threads = [
            threading.Thread(target=self._work, name=f"gate-worker-{i}", daemon=True)
            for i in range(settings.serve_workers)
        ]
        for t in self._threads:
            t.start()

    # -- what the endpoints call ----------------------------------------------------------------------
    def request(
        self, phase: str, target: str, checksum: str, suites: tuple[str, ...] | None = None
    ) -> tuple[Run | Stored, bool]:
        """A fresh stored verdict, the run in progress for the key, or a new queued run: (it, newly queued).
        Raises QueueFull. A narrowed run (suites) is never shared nor reused."""
        with self._cond:
            if suites is None:
                stored = self.store.fresh(phase, target, checksum)
                if stored is not None:
                    return stored, False
                active = self._active.get((phase, target, checksum))
                if active is not None:
                    return active, False
            if len(self._queue) >= self.settings.serve_queue:
                raise QueueFull(f"{len(self._queue)} runs are waiting already (serve_queue)")
            run = Run(id=secrets.token_hex(8), phase=phase, target=target, checksum=checksum, suites=suites)
            self._queue.append(run)
            self._runs[run.id] = run
            if suites is None:
                self._active[run.key] = run
            self._cond.notify_all()
            return run, True

    def active(self, phase: str, target: str, checksum: str) -> Run | None:
        with self._cond:
            return self._active.get((phase, target, checksum))

    def get(self, run_id: str) -> Run | Stored | None:
        with self._cond:
            run = self._runs.get(run_id)
        return run if run is not None else self.store.by_id(run_id)

    def queue_length(self) -> int:
        with self._cond:
            return len(self._queue)

    def running(self) -> int:
        with self._cond:
            return len(self._busy)

    def shutdown(self, timeout_s: float = 30.0) -> None:
        """Stop taking runs, stop the running ones (process group, grace period, then SIGKILL), join the
        workers. Safe to call twice."""
        with self._cond:
            self._stopping = True
            procs = [r.proc for r in self._runs.values() if r.status == "running" and r.proc is not None]
            self._cond.notify_all()
        for proc in procs:
            stop_group(proc.pid, [proc], sig=signal.SIGTERM, grace_s=20.0)
        for t in self._threads:
            t.join(timeout=timeout_s)

    # -- the workers ----------------------------------------------------------------------------------
    def _next(self) -> Run | None:
        for i, run in enumerate(self._queue):
            if (run.phase, run.target) not in self._busy:
                return self._queue.pop(i)
        return None

    def _work(self) -> None:
        while True:
            with self._cond:
                run = None
                while not self._stopping and (run := self._next()) is None:
                    self._cond.wait()
                if self._stopping or run is None:
                    return
                self._busy.add((run.phase, run.target))
                run.status, run.started_at = "running", time.time()
                self.started += 1
            try:
                doc = self._launch(run, self.runs_dir / run.id)
            except Exception as exc:  # noqa: BLE001 - a worker must survive any one run
                doc = no_verdict(run.phase, f"harness serve could not run the gate: {type(exc).__name__}: {exc}")
            self._finish(run, doc)

    def _finish(self, run: Run, doc: dict[str, Any] | None) -> None:
        stopped = doc is None  # the server stopped it: no verdict about the build, nothing stored
        run.doc = doc or no_verdict(run.phase, "harness serve stopped before the gate run finished")
        run.finished_at = time.time()
        self._prune()  # before the verdict is visible: whoever sees it sees the pruned dir and the metrics
        if self.on_finish is not None and not stopped:
            self.on_finish(run, run.finished_at - (run.started_at or run.finished_at))
        if not stopped and run.suites is None:
            self.store.put(
                Stored(run.id, run.phase, run.target, run.checksum, run.verdict or "", run.finished_at, run.doc)
            )
        with self._cond:
            run.status, run.proc = "done", None
            self._busy.discard((run.phase, run.target))
            if self._active.get(run.key) is run:
                del self._active[run.key]
            done = [r for r in self._runs.values() if r.status == "done"]
            for old in done[: max(0, len(done) - KEEP_RUNS)]:
                del self._runs[old.id]
            self._cond.notify_all()

    def _prune(self) -> None:
        """Remove the reports of runs older than the TTL (their verdicts are gone from the store too)."""
        cutoff = time.time() - self.settings.serve_ttl_s
        with self._cond:
            keep = {r.id for r in self._runs.values() if r.status != "done"}
        try:
            entries = list(self.runs_dir.iterdir())
        except OSError:
            return
        for entry in entries:
            try:
                if entry.name.split(".")[0] in keep or entry.stat().st_mtime >= cutoff:
                    continue
                if entry.is_dir():
                    shutil.rmtree(entry, ignore_errors=True)
                else:
                    entry.unlink(missing_ok=True)
            except OSError:
                continue

    def _child(self, run: Run, reports: Path) -> dict[str, Any] | None:
        """Run `harness gate` for the run in a child process group; its verdict document, or None when the
        server stopped it."""
        s = self.settings
        reports.mkdir(parents=True, exist_ok=True)
        argv = gate_argv(run, reports, s)
        env = gate_env(s)
        log_path = reports.parent / f"{run.id}.log"
        with open(log_path, "ab") as log, self._cond:
            if self._stopping:
                return None
            run.proc = proc = spawn(argv, log, env=env, cwd=s.project_root)
        deadline = time.monotonic() + s.serve_run_timeout_s
        code: int | None = None
        while code is None and time.monotonic() < deadline and not self._stopping:
            try:
                code = proc.wait(timeout=0.2)
            except subprocess.TimeoutExpired:
                pass
        if code is None:
            stop_group(proc.pid, [proc], sig=signal.SIGTERM, grace_s=20.0)
            if self._stopping:
                return None
        return _read_verdict(run, reports, code, log_path, s.serve_run_timeout_s)


def gate_argv(run: Run, reports: Path, s: Settings) -> list[str]:
    """The `harness gate` command line of a run: its phase, target and suites, and the server's policy and
    service profile (`harness serve --policy-file/--service`). What the canary judge needs travels explicitly:
    - a run on a stack of its own (no target): `--baseline` when the server has `baseline` (`harness serve
      --baseline`, HARNESS_BASELINE or the file), so that stack starts a baseline app and its Prometheus
      labels both;
    - a run on a target: the deployment's Prometheus (gate_env); for the server's own --target, its
      `baseline_target` (`--baseline-target`: the traffic --drive-load drives goes to both); the baseline's
      series are what `baseline_selector` picks in that Prometheus (the live options of the file and of the
      HARNESS_LIVE_* environment reach every run as they reach the server); never `--baseline`, which only a
      stack the harness starts can act on."""
    argv = [sys.executable, "-m", "harness.cli", "gate", "--phase", run.phase, "--reports-dir", str(reports)]
    if run.target == LOCAL:
        if s.baseline:
            argv.append("--baseline")
    else:
        argv += ["--target", run.target]
        if s.baseline_target and s.target and run.target == s.target.rstrip("/"):
            argv += ["--baseline-target", s.baseline_target]  # its baseline: --drive-load drives both
    if run.suites:
        argv += ["--suites", ",".join(run.suites)]
    if s.policy_file is not None:
        argv += ["--policy-file", str(s.policy_file)]
    if s.service_file is not None:  # `harness serve --service FILE`: every run gates that service
        argv += ["--service", str(s.service_file)]
    return argv


def gate_env(s: Settings, environ: dict[str, str] | None = None) -> dict[str, str]:
    """A run's environment: the server's (HARNESS_ALLOW_UNSAFE, HARNESS_LIVE_*, ... reach every run) less
    CHILD_ENV_DROP, and `harness serve --prometheus URL` as HARNESS_PROMETHEUS_URL (an environment variable, not
    the flag: a phase without the live suite would refuse the flag, and ignores the variable)."""
    env = {k: v for k, v in (os.environ if environ is None else environ).items() if k not in CHILD_ENV_DROP}
    prometheus = s.suite_flags.get("live", {}).get("prometheus_url")
    if prometheus:
        env["HARNESS_PROMETHEUS_URL"] = str(prometheus)
    return env


def _read_verdict(run: Run, reports: Path, code: int | None, log_path: Path, timeout_s: float) -> dict[str, Any]:
    from harness.gate import IN_PROGRESS

    doc: dict[str, Any] | None = None
    if not (reports / IN_PROGRESS).exists():
        try:
            doc = json.loads((reports / "verdict.json").read_text())
        except (OSError, ValueError):
            doc = None
    if code is None:  # stopped on the time bound: whatever it wrote, the verdict is inconclusive
        why = f"harness serve stopped the gate run after serve_run_timeout_s = {timeout_s:g} s"
        doc = dict(doc or no_verdict(run.phase, why))
        doc["verdict"] = "inconclusive"
        doc["reasons"] = [why, *[r for r in doc.get("reasons", []) if r != why]]
        return doc
    if doc is None or not isinstance(doc, dict) or doc.get("verdict") not in ("go", "no-go", "inconclusive"):
        return no_verdict(
            run.phase, f"the gate run exited with status {code} and wrote no verdict: {log_tail(log_path)}"
        )
    return doc
