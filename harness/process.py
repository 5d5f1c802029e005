"""Child processes the harness owns: started in their own process group, tied to the harness's life, stopped
with a timeout, their logs' last lines at hand. Used by the stacks (Service), the suites runner
(harness/suites.py) and the Locust runner (harness/load/runner.py).

- **Process group**: every child leads a new session or process group (or joins one, for Locust's
  workers), so stopping it takes down whatever it forked too.
- **Parent-death signal**: the child gets a signal when the harness dies, even by SIGKILL
  (Linux PR_SET_PDEATHSIG). A server that drops root (PostgreSQL) runs under a root-owned babysitter
  (harness/stack/babysit.py) that keeps the signal across the uid change.
- **Stop with a timeout**: the stop signal to the group, a grace period, then SIGKILL to the group.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import IO, Any

PR_SET_PDEATHSIG = 1


def die_with_parent(sig: int) -> Callable[[], None]:
    """For the child, before exec: receive sig when the harness dies, even by SIGKILL (Linux prctl)."""

    def arm() -> None:
        try:
            import ctypes

            ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, int(sig), 0, 0, 0)
        except Exception:  # noqa: BLE001,S110 - not Linux: the harness's own cleanup still applies
            pass

    return arm


def spawn(
    argv: Sequence[str],
    log: IO[Any],
    *,
    env: dict[str, str] | None = None,
    cwd: Path | str | None = None,
    group: int | None = None,
    death_signal: int = signal.SIGTERM,
) -> subprocess.Popen[bytes]:
    """Start argv with stdout and stderr to `log` and no stdin. group None: a new session (the child leads
    its own process group); 0: a new process group; a pgid: join that group. The child gets death_signal
    when the harness dies."""
    placement: dict[str, Any] = {"start_new_session": True} if group is None else {"process_group": group}
    return subprocess.Popen(  # noqa: S603 - argv built by the harness
        list(argv),
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        env=env,
        cwd=cwd,
        preexec_fn=die_with_parent(death_signal),  # noqa: PLW1509 - only prctl, no locks
        **placement,
    )


def group_alive(pgid: int) -> bool:
    """True while any process of the group exists."""
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def stop_group(
    pgid: int,
    procs: Sequence[subprocess.Popen[Any]],
    *,
    sig: int = signal.SIGTERM,
    grace_s: float = 10.0,
    kill_wait_s: float = 5.0,
) -> None:
    """Send sig to the group and wait up to grace_s for procs (our direct children in it) to exit; if they
    or anything else of the group are still there, SIGKILL the group and wait up to kill_wait_s. Reaps
    procs. Safe to call when everything has exited already."""
    deadline = time.monotonic() + grace_s
    for signum in (sig, signal.SIGKILL):
        try:
            os.killpg(pgid, signum)
        except ProcessLookupError:
            break
        while time.monotonic() < deadline and any(p.poll() is None for p in procs):
            time.sleep(0.05)
        if not group_alive(pgid):
            break
        deadline = time.monotonic() + kill_wait_s
    for p in procs:
        try:
            p.wait(timeout=kill_wait_s)
        except subprocess.TimeoutExpired:
            pass


def log_tail(path: Path, lines: int = 3) -> str:
    """The last lines of a log file, joined with ' | ', for a one-line error."""
    try:
        text = path.read_text(errors="replace").strip().splitlines()
    except OSError:
        return "(no log)"
    return " | ".join(line.strip() for line in text[-lines:]) or "(empty log)"


class Service:
    """One server process (postgres, redis-server, the app) and its log file."""

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        log_path: Path,
        *,
        env: dict[str, str] | None = None,
        cwd: Path | None = None,
        user: int | None = None,
        group: int | None = None,
        stop_signal: int = signal.SIGTERM,
    ) -> None:
        self.name = name
        self.argv = list(argv)
        self.log_path = log_path
        self.env = env
        self.cwd = cwd
        self.user = user
        self.group = group
        self.stop_signal = stop_signal
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        argv = self.argv
        if self.user is not None:  # a root-owned babysitter keeps the death signal across the uid change
            ids = [str(int(self.stop_signal)), str(self.user), str(self.group if self.group is not None else -1)]
            argv = [sys.executable, "-m", "harness.stack.babysit", *ids, "--", *self.argv]
        with open(self.log_path, "ab") as log:
            self.proc = spawn(argv, log, env=self.env, cwd=self.cwd, death_signal=self.stop_signal)

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    def exited(self) -> str | None:
        """None while running; otherwise the exit status and the log's last lines."""
        if self.proc is None or self.proc.poll() is None:
            return None
        return f"{self.name} exit status {self.proc.returncode}; log {self.log_path}: {self.log_tail()}"

    def log_tail(self, lines: int = 3) -> str:
        return log_tail(self.log_path, lines)

    def stop(self, timeout_s: float = 10.0) -> None:
        """Signal the process group, wait, then kill it; safe to call twice."""
        if self.proc is None or self.proc.poll() is not None:
            return
        stop_group(self.proc.pid, [self.proc], sig=self.stop_signal, grace_s=timeout_s)
