"""Child processes the harness owns, and how the harness itself reacts to signals. Used by the stacks
(Service, run), the suites runner (harness/suites.py), the Locust runner (harness/load/runner.py) and the CLI.

- **Process group**: every child leads a new session or process group (or joins one, for Locust's
  workers), so stopping it takes down whatever it forked too.
- **Parent-death signal**: the child gets a signal when the harness dies, even by SIGKILL
  (Linux PR_SET_PDEATHSIG), armed in the child before it execs; if the harness died between the fork
  and the arming, the child exits at once. A server that drops root (PostgreSQL) runs under a
  root-owned babysitter (harness/stack/babysit.py) that arms it again for the server.
- **Stop with a timeout**: the stop signal to the group, a grace period, then SIGKILL to the group, then
  wait until no process of the group is left (so a temp dir can be removed after it).
- **Signals of the harness**: SIGINT, SIGTERM and SIGHUP become one exception, once (KeyboardInterrupt
  for SIGINT, Terminated for the others), so every `finally` runs; a further signal never interrupts
  the cleanup. Critical steps (starting a child and keeping its handle, stopping a stack, writing
  reports) run `shielded()`: a signal that lands inside is raised when the step is done. A signal that
  lands in a finalizer (where Python would print the exception and drop it) is delivered again just
  after; one whose exception something else swallowed is raised again at the next check
  (`raise_swallowed()`: after the stack started, after the suites) and the CLI's last look.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from types import TracebackType
from typing import IO, Any

PR_SET_PDEATHSIG = 1
HANDLED = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)

try:  # resolved in the parent: the child, between fork and exec, only calls it
    _prctl: Callable[..., int] | None = ctypes.CDLL(None, use_errno=True).prctl
except (OSError, AttributeError):  # not Linux: the harness's own cleanup still applies
    _prctl = None


# -- the harness's own signals ---------------------------------------------------------------------


class Terminated(KeyboardInterrupt):
    """SIGTERM or SIGHUP, turned into an exception so every `finally` runs."""

    def __init__(self, signum: int = signal.SIGTERM) -> None:
        super().__init__(signum)
        self.signum = int(signum)

    @property
    def signame(self) -> str:
        return signal.Signals(self.signum).name


def interrupt_name(exc: BaseException) -> str:
    """How an interrupt is named in notes and messages: SIGTERM, SIGHUP, or Ctrl-C (SIGINT)."""
    return exc.signame if isinstance(exc, Terminated) else "Ctrl-C"


class _State:
    def __init__(self) -> None:
        self.previous: dict[int, Any] = {}  # the handlers ours replaced (empty: ours are not installed)
        self.armed = False  # False: a signal is only recorded (it is raised when arm_signals() is called)
        self.held = False  # the exit code is decided: every further signal is ignored
        self.raised: int | None = None  # the one signal turned into an exception
        self.acknowledged = False  # that exception reached a handler of ours (not swallowed on the way)
        self.pending: int | None = None  # a signal that arrived while shielded or not armed
        self.shield = 0


_STATE = _State()


def _interrupt(signum: int) -> KeyboardInterrupt:
    return KeyboardInterrupt() if signum == signal.SIGINT else Terminated(signum)


def _in_finalizer(frame: Any) -> bool:
    """Whether the code a signal interrupted runs in a finalizer (`__del__`, a weakref.finalize callback):
    Python prints an exception raised there and goes on ("Exception ignored in ..."), so it is lost."""
    while frame is not None:
        code = frame.f_code
        if code.co_name == "__del__" or (code.co_name == "__call__" and code.co_filename.endswith("weakref.py")):
            return True
        frame = frame.f_back
    return False


def _on_signal(signum: int, frame: Any) -> None:
    st = _STATE
    if st.held or st.raised is not None:
        return  # the run is already stopping (or done): never interrupt the cleanup
    if not st.armed or st.shield:
        st.pending = st.pending or signum
        return
    if _in_finalizer(frame):  # deliver it again in a moment, out of the finalizer
        st.pending = st.pending or signum
        threading.Timer(0.01, os.kill, (os.getpid(), signum)).start()
        return
    st.raised, st.pending = signum, None
    raise _interrupt(signum)


def _raise_pending() -> None:
    st = _STATE
    if st.pending and st.raised is None and st.armed and not st.held and not st.shield:
        st.raised, st.pending = st.pending, None
        raise _interrupt(st.raised)


def acknowledge() -> None:
    """The interrupt reached the code that handles it (the gate's and the CLI's handlers call this)."""
    _STATE.acknowledged = True


def raise_swallowed() -> None:
    """Raise the interrupt again if the one raised never reached a handler of ours: something on the way
    swallowed it (a library's bare `except`, a finalizer). The run must still end as interrupted."""
    st = _STATE
    if st.raised is not None and not st.acknowledged and not st.held:
        raise _interrupt(st.raised)


def swallowed() -> KeyboardInterrupt | None:
    """The interrupt raised that never reached a handler of ours, if any (for the CLI's last check)."""
    st = _STATE
    return _interrupt(st.raised) if st.raised is not None and not st.acknowledged else None


def catch_signals(*, armed: bool = True) -> bool:
    """Install the harness's handlers for SIGINT, SIGTERM and SIGHUP (main thread; idempotent); True if
    this call installed them. armed False: record a signal without raising it until arm_signals() (for
    the CLI's first imports)."""
    if _STATE.previous or threading.current_thread() is not threading.main_thread():
        if armed:
            arm_signals()
        return False
    _STATE.armed = armed
    for sig in HANDLED:
        _STATE.previous[sig] = signal.signal(sig, _on_signal)
    if armed:
        _raise_pending()
    return True


def arm_signals() -> None:
    """From now on the first signal is raised (at once, if one arrived before)."""
    _STATE.armed = True
    _raise_pending()


def hold_signals() -> None:
    """The outcome is decided: every further signal is ignored until the process exits (SIG_IGN: Python
    puts the default action back for its own handlers while it shuts down)."""
    _STATE.held = True
    if _STATE.previous and threading.current_thread() is threading.main_thread():
        for sig in HANDLED:
            signal.signal(sig, signal.SIG_IGN)


def release_signals() -> None:
    """Put back the handlers that catch_signals() replaced and forget what happened (for library use)."""
    for sig, handler in _STATE.previous.items():
        signal.signal(sig, handler)
    _STATE.__init__()  # type: ignore[misc]


@contextlib.contextmanager
def handling_signals() -> Iterator[None]:
    """For library callers (stack.running(), the Locust runner): the harness's handlers for the block,
    unless they are installed already (by the CLI, or an outer block). Main thread only."""
    if _STATE.previous or threading.current_thread() is not threading.main_thread():
        yield
        return
    catch_signals()
    try:
        yield
    finally:
        release_signals()


class shielded:  # noqa: N801 - used like a function: `with shielded():`
    """A block no signal interrupts: one that lands inside is raised when the block ends (even over an
    exception of the block: the run was interrupted either way)."""

    def __enter__(self) -> None:
        _STATE.shield += 1

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        _STATE.shield -= 1
        _raise_pending()


def cleanup(fn: Callable[[], None]) -> None:
    """Run a cleanup step shielded. If the first signal landed just before the shield went up, run the
    step anyway, then let the interrupt go on (fn must be safe to call twice)."""
    done = False
    try:
        with shielded():
            fn()
            done = True
    except KeyboardInterrupt:
        if not done:
            with shielded():
                fn()
        raise


# -- child processes -------------------------------------------------------------------------------


def die_with_parent(sig: int) -> Callable[[], None]:
    """For the child, before exec: receive sig when the harness dies, even by SIGKILL (Linux prctl). Call it
    in the parent: if the parent is already gone when the child arms the signal, the child exits."""
    parent = os.getpid()

    def arm() -> None:
        # a harness started where SIGINT/SIGTERM are ignored (`cmd &` in a script, nohup) would hand that on
        # through exec: its services would ignore the stop signal and be killed after the grace, not stopped
        for stop in (signal.SIGINT, signal.SIGTERM):
            signal.signal(stop, signal.SIG_DFL)
        if _prctl is None:
            return
        _prctl(PR_SET_PDEATHSIG, int(sig), 0, 0, 0)
        if os.getppid() != parent:  # the harness died between the fork and the prctl: nobody will signal us
            os._exit(128 + int(sig))

    return arm


def spawn(
    argv: Sequence[str],
    log: IO[Any],
    *,
    env: dict[str, str] | None = None,
    cwd: Path | str | None = None,
    group: int | None = None,
    death_signal: int = signal.SIGTERM,
    uid: int | None = None,
    gid: int | None = None,
) -> subprocess.Popen[bytes]:
    """Start argv with stdout and stderr to `log` and no stdin. group None: a new session (the child leads
    its own process group); 0: a new process group; a pgid: join that group. The child gets death_signal
    when the harness dies. uid/gid: run as that user (the death signal is armed after the switch, which
    would clear it). Keep the returned handle shielded (see Service.start) or a signal may lose it."""
    placement: dict[str, Any] = {"start_new_session": True} if group is None else {"process_group": group}
    if uid is not None:
        placement.update(user=uid, extra_groups=[])
        if gid is not None:
            placement["group"] = gid
    return subprocess.Popen(  # noqa: S603 - argv built by the harness
        list(argv),
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        env=env,
        cwd=cwd,
        preexec_fn=die_with_parent(death_signal),  # noqa: PLW1509 - only prctl and getppid, no locks
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


def group_members(pgid: int) -> list[int]:
    """The processes of a group that are not zombies (a zombie no longer runs nor holds files)."""
    members = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat") as fh:
                stat = fh.read()
        except OSError:
            continue
        fields = stat[stat.rfind(")") + 2 :].split()
        if len(fields) > 2 and int(fields[2]) == pgid and fields[0] not in ("Z", "X"):
            members.append(int(entry.name))
    return members


def stop_group(
    pgid: int,
    procs: Sequence[subprocess.Popen[Any]],
    *,
    sig: int = signal.SIGTERM,
    grace_s: float = 10.0,
    kill_wait_s: float = 5.0,
) -> None:
    """Send sig to the group and wait up to grace_s for procs (our direct children in it) to exit; if they
    or anything else of the group are still there, SIGKILL the group and wait up to kill_wait_s, until no
    process of the group is left. Reaps procs. Safe to call when everything has exited already."""
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
    deadline = time.monotonic() + kill_wait_s
    while group_members(pgid) and time.monotonic() < deadline:  # grandchildren die after the SIGKILL too
        time.sleep(0.02)


def run(
    argv: Sequence[str],
    log_path: Path,
    *,
    timeout_s: float,
    env: dict[str, str] | None = None,
    cwd: Path | str | None = None,
    uid: int | None = None,
    gid: int | None = None,
    grace_s: float = 5.0,
) -> int | None:
    """Run argv to its end in its own session (output appended to log_path), dying with the harness: its
    exit status, or None when it passed timeout_s. Whatever ends the wait (a timeout, a signal), the
    whole group is stopped before this returns or the exception goes on."""
    proc: subprocess.Popen[bytes] | None = None
    with open(log_path, "ab") as log:
        try:
            with shielded():
                proc = spawn(argv, log, env=env, cwd=cwd, uid=uid, gid=gid)
            return proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            return None
        finally:
            if proc is not None:
                started = proc
                cleanup(lambda: stop_group(started.pid, [started], grace_s=grace_s))


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
        with open(self.log_path, "ab") as log, shielded():  # a signal now must not lose the handle
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
