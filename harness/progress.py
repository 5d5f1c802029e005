"""Live progress of a run on stderr: the stack's start-up steps, each suite started and finished with its counts,
the load run's numbers. Never part of a verdict.

Three modes (`mode_for`): `off` (--quiet), `rich` on a terminal (a spinner line with what runs now, finished
steps printed above it; rich's Console), `plain` in CI logs (`CI` set, or stderr is not a terminal): one line
per event, each prefixed with the run's elapsed seconds, and while something runs a line at least every
`heartbeat_s` seconds saying what and for how long, so a CI log never goes quiet for more than that.

One Progress per process (`install()` / `current()`): the stacks call `step("PostgreSQL")` without being handed
anything, and do nothing when no progress is installed (the library and the unit tests).
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TextIO

MODES = ("off", "plain", "rich")
HEARTBEAT_S = 4.0
SUITES_FILE_ENV = "HARNESS_PROGRESS_FILE"  # where the suites' pytest process writes its progress (JSON lines)


def mode_for(quiet: bool, stream: TextIO | None = None) -> str:
    if quiet:
        return "off"
    stream = stream or sys.stderr
    ci = os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")
    try:
        tty = stream.isatty()
    except (AttributeError, ValueError):
        tty = False
    return "plain" if ci or not tty else "rich"


class Progress:
    def __init__(self, mode: str = "plain", stream: TextIO | None = None, heartbeat_s: float = HEARTBEAT_S) -> None:
        if mode not in MODES:
            raise ValueError(f"progress mode {mode!r} is not one of {MODES}")
        self.mode, self.stream, self.heartbeat_s = mode, stream or sys.stderr, heartbeat_s
        self.t0 = time.monotonic()
        self._lock = threading.Lock()
        self._status: str | None = None
        self._status_since = self.t0
        self._last_line = self.t0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._rich: Any = None

    # -- lifecycle ---------------------------------------------------------------------------------------
    def start(self) -> Progress:
        if self.mode == "rich":
            from rich.console import Console

            console = Console(file=self.stream, stderr=self.stream is sys.stderr)
            self._console = console
            self._rich = console.status("starting", spinner="dots")
            self._rich.start()
        elif self.mode == "plain":
            self._thread = threading.Thread(target=self._beat, name="progress-heartbeat", daemon=True)
            self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2)
        if self._rich is not None:
            self._rich.stop()
            self._rich = None

    # -- what callers say --------------------------------------------------------------------------------
    def elapsed(self) -> float:
        return time.monotonic() - self.t0

    def event(self, text: str) -> None:
        """A line that stays: a step finished, a suite started or finished."""
        if self.mode == "off":
            return
        if self.mode == "rich" and self._rich is not None:
            self._console.print(f"[dim]{self.elapsed():6.1f}s[/dim] {text}", highlight=False, markup=True)
            return
        self._write(text)

    def status(self, text: str | None) -> None:
        """What runs now (None: nothing): the spinner's text, or the plain heartbeat's."""
        with self._lock:
            if text != self._status:
                self._status_since = time.monotonic()
            self._status = text
        if self.mode == "rich" and self._rich is not None:
            self._rich.update(text or "working")  # an empty text would leave the last one shown

    def update(self, text: str) -> None:
        """A fresh reading of something long (the load run's numbers): a line in CI logs, the spinner on a TTY."""
        if self.mode == "plain":
            self._write(text)
        self.status(text)

    # -- plain mode --------------------------------------------------------------------------------------
    def _write(self, text: str) -> None:
        with self._lock:
            self._last_line = time.monotonic()
            try:
                self.stream.write(f"[{self.elapsed():6.1f}s] {text}\n")
                self.stream.flush()
            except (OSError, ValueError):  # a closed terminal (SIGHUP) never fails the run
                pass

    def _beat(self) -> None:
        while not self._stop.wait(0.5):
            with self._lock:
                quiet_for = time.monotonic() - self._last_line
                status, since = self._status, self._status_since
            if status and quiet_for >= self.heartbeat_s:
                self._write(f"{status} ({time.monotonic() - since:.0f} s)")


_CURRENT: Progress | None = None


def install(progress: Progress | None) -> None:
    global _CURRENT
    _CURRENT = progress


def current() -> Progress | None:
    return _CURRENT


@contextmanager
def running(mode: str, stream: TextIO | None = None) -> Iterator[Progress]:
    """A started Progress, installed for this process, stopped and removed at the end."""
    progress = Progress(mode, stream).start()
    install(progress)
    try:
        yield progress
    finally:
        install(None)
        progress.stop()


@contextmanager
def step(what: str) -> Iterator[None]:
    """One start-up step: `stack: PostgreSQL ...` while it runs, `stack: PostgreSQL ready (1.4 s)` after."""
    progress = _CURRENT
    if progress is None:
        yield
        return
    t = time.monotonic()
    progress.status(f"stack: {what} ...")
    try:
        yield
    except BaseException:
        progress.event(f"stack: {what} failed after {time.monotonic() - t:.1f} s")
        progress.status(None)
        raise
    progress.event(f"stack: {what} ready ({time.monotonic() - t:.1f} s)")
    progress.status(None)


def say(text: str) -> None:
    if _CURRENT is not None:
        _CURRENT.event(text)


def status(text: str | None) -> None:
    if _CURRENT is not None:
        _CURRENT.status(text)


# -- following a JSON-lines file another process writes ----------------------------------------------------
class JsonlTail(threading.Thread):
    """Call on_line(record) for each complete line appended to path (a file that may not exist yet)."""

    def __init__(self, path: Path, on_line: Callable[[dict[str, Any]], None], every_s: float = 0.5) -> None:
        super().__init__(daemon=True, name=f"tail-{path.name}")
        self.path, self.on_line, self.every_s = path, on_line, every_s
        self.done = threading.Event()
        self.pos = 0

    def run(self) -> None:
        while not self.done.wait(self.every_s):
            self.pump()

    def pump(self) -> None:
        try:
            size = self.path.stat().st_size
        except OSError:
            return
        if size < self.pos:  # started again
            self.pos = 0
        try:
            with self.path.open("rb") as fh:
                fh.seek(self.pos)
                chunk = fh.read()
        except OSError:
            return
        complete = chunk[: chunk.rfind(b"\n") + 1]
        self.pos += len(complete)
        for line in complete.decode(errors="replace").splitlines():
            try:
                record = json.loads(line)
            except ValueError:
                continue
            if isinstance(record, dict):
                try:
                    self.on_line(record)
                except Exception:  # noqa: BLE001 - progress never breaks a run
                    continue

    def stop(self) -> None:
        self.done.set()
        self.join(timeout=2)
        self.pump()  # the last lines


# -- the suites' events (written by harness/plugins/progress.py in the pytest child) ------------------------
def suite_event(record: dict[str, Any]) -> None:
    progress = _CURRENT
    if progress is None:
        return
    kind, suite = record.get("event"), record.get("suite")
    if kind == "collected":
        counts = record.get("suites") or {}
        progress.event("suites: " + ", ".join(f"{s} {n} checks" for s, n in counts.items()))
    elif kind == "started":
        progress.event(f"suite {suite}: started ({record.get('checks', '?')} checks)")
        progress.status(f"suite {suite}: running, 0/{record.get('checks', '?')} checks done")
    elif kind == "check":
        progress.status(f"suite {suite}: running, {record.get('done')}/{record.get('checks')} checks done")
    elif kind == "finished":
        counts = record.get("counts") or {}
        text = ", ".join(f"{n} {k.replace('_', ' ')}" for k, n in counts.items() if n) or "nothing reported"
        progress.event(f"suite {suite}: finished in {record.get('seconds', 0):.1f} s: {text}")
        progress.status(None)
