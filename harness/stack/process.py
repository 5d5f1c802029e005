"""A child process the harness owns: started in its own session, logged to a file, always stopped."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Callable, Sequence
from pathlib import Path


def die_with_parent(sig: int) -> Callable[[], None]:
    """For the child, before exec: receive sig when the harness dies, even by SIGKILL (Linux prctl)."""

    def arm() -> None:
        try:
            import ctypes

            ctypes.CDLL(None, use_errno=True).prctl(1, int(sig), 0, 0, 0)  # PR_SET_PDEATHSIG
        except Exception:  # noqa: BLE001,S110 - not Linux: the harness's own cleanup still applies
            pass

    return arm


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
            self.proc = subprocess.Popen(  # noqa: S603 - argv built by the harness
                argv,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=self.env,
                cwd=self.cwd,
                start_new_session=True,
                preexec_fn=die_with_parent(self.stop_signal),  # noqa: PLW1509 - no threads run yet
            )

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    def exited(self) -> str | None:
        """None while running; otherwise the exit status and the log's last lines."""
        if self.proc is None or self.proc.poll() is None:
            return None
        return f"{self.name} exit status {self.proc.returncode}; log {self.log_path}: {self.log_tail()}"

    def log_tail(self, lines: int = 3) -> str:
        try:
            text = self.log_path.read_text(errors="replace").strip().splitlines()
        except OSError:
            return "(no log)"
        return " | ".join(text[-lines:]) or "(empty log)"

    def stop(self, timeout_s: float = 10.0) -> None:
        """Signal the process group, wait, then kill it; safe to call twice."""
        if self.proc is None or self.proc.poll() is not None:
            return
        try:
            os.killpg(self.proc.pid, self.stop_signal)
            self.proc.wait(timeout=timeout_s)
        except ProcessLookupError:
            pass
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=5)
