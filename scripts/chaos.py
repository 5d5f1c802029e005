"""Chaos check of the harness's lifecycle (not a test; tests/e2e/test_chaos.py runs it for about 40 s).

Starts short gates (`harness gate --phase smoke --policy-file policies/smoke-only.toml`, local stack), each
in its own session, and sends SIGINT, SIGTERM, SIGHUP or SIGKILL at a random moment (seeded; sometimes a
second signal shortly after the first). After each run: every verdict.json that exists validates; for a
graceful signal the exit code is 2 with an inconclusive verdict (or 0/1 with the matching verdict if the run
had already finished), never a traceback, and the run's temp dir is gone. After the loop and one more
normal start (which sweeps what the killed runs left): no process of those runs and no
`harness-local-<pid>-*` dir of theirs remains.

Processes are counted as descendants of this script, which is a child subreaper (PR_SET_CHILD_SUBREAPER):
whatever a run leaves behind is re-parented here, however deep it was started. Environment markers would
not do: PostgreSQL and Redis overwrite their environment area with their process titles.

A graceful signal that lands before the harness has installed its handlers (the interpreter's own start,
~0.1 s: /proc/PID/status shows SIGHUP neither caught nor ignored) ends it by the default action (or exit 1:
a KeyboardInterrupt inside Python's own start-up); nothing was started then; the run is reported `early`.

    python scripts/chaos.py --runs 30 [--seed N] [--max-delay 5] [--budget SECONDS]
Exit 0 when every check held, 1 otherwise.
"""

from __future__ import annotations

import argparse
import ctypes
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from harness.verdict import validate_verdict  # noqa: E402

PR_SET_CHILD_SUBREAPER = 36
GRACEFUL = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
SIGNALS = (*GRACEFUL, signal.SIGKILL)
GATE = ["gate", "--phase", "smoke", "--policy-file", "policies/smoke-only.toml"]
CODES = {0: "go", 1: "no-go", 2: "inconclusive"}


@dataclass
class Outcome:
    index: int
    pid: int
    sig: signal.Signals | None
    at_s: float
    second: signal.Signals | None = None
    stage: str = ""
    left_dir: bool = False
    early: bool = False
    finished_first: bool = False
    code: int | None = None
    verdict: str | None = None
    notes: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def line(self) -> str:
        what = "no signal" if self.sig is None else f"{self.sig.name} at {self.at_s:.2f} s"
        if self.stage:
            what += f" [{self.stage}]"
        if self.second is not None:
            what += f" + {self.second.name}"
        if self.early:
            what += " (early: before the harness's handlers)"
        if self.finished_first:
            what += " (after the run had ended)"
        tail = f"exit {self.code}, verdict {self.verdict or '-'}"
        if self.left_dir:
            tail += ", temp dir left for the next start's sweep"
        if self.notes:
            tail += f" ({'; '.join(self.notes)})"
        flag = "ok  " if not self.problems else "FAIL"
        return f"{flag} #{self.index:<3} pid {self.pid:<7} {what}: {tail}" + "".join(
            f"\n       - {p}" for p in self.problems
        )


def harness_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HARNESS_", "ORCHESTRA_", "PYTEST_"))}
    env["HARNESS_STACK"] = "local"
    env.pop("PYTHONUNBUFFERED", None)
    return env


def _default_signals() -> None:
    """As from a terminal: a job a script started inherits some signals ignored; the harness must see them."""
    for sig in GRACEFUL:
        signal.signal(sig, signal.SIG_DFL)


def start(reports: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "harness.cli", *GATE, "--reports-dir", str(reports)],
        cwd=ROOT,
        env=harness_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
        preexec_fn=_default_signals,  # noqa: PLW1509
    )


def handles(pid: int, sig: int) -> bool:
    """Whether the process catches or ignores sig (its handlers are installed)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False
    mask = 0
    for line in status.splitlines():
        key, _, value = line.partition(":")
        if key in ("SigCgt", "SigIgn"):
            mask |= int(value.strip(), 16)
    return bool(mask & (1 << (sig - 1)))


def send(proc: subprocess.Popen[str], sig: int) -> None:
    """SIGINT and SIGHUP to the harness's process group (as a terminal does), the others to its pid."""
    try:
        if sig in (signal.SIGINT, signal.SIGHUP):
            os.killpg(proc.pid, sig)
        else:
            os.kill(proc.pid, sig)
    except ProcessLookupError:
        pass


def processes() -> dict[int, tuple[int, str, str]]:
    """pid -> (ppid, state, command line) of every process."""
    table = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            stat = Path(entry.path, "stat").read_text()
            cmd = Path(entry.path, "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
        except OSError:
            continue
        fields = stat[stat.rfind(")") + 2 :].split()
        table[int(entry.name)] = (int(fields[1]), fields[0], cmd or stat[stat.find("(") : stat.rfind(")") + 1])
    return table


def descendants(exclude: set[int] = frozenset()) -> dict[int, str]:
    """Living processes below this one (orphans of the runs are re-parented here: subreaper)."""
    table = processes()
    found, todo = {}, [os.getpid()]
    while todo:
        parent = todo.pop()
        for pid, (ppid, state, cmd) in table.items():
            if ppid == parent and pid not in found:
                todo.append(pid)
                if state not in ("Z", "X") and pid not in exclude:
                    found[pid] = cmd
    return found


def reap_adopted() -> None:
    """Reap orphans re-parented here that have exited (the runs themselves are reaped by their Popen)."""
    for pid, (ppid, state, _) in processes().items():
        if ppid == os.getpid() and state == "Z":
            try:
                os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:
                pass


def run_dirs(pids: set[int]) -> list[Path]:
    root = Path(tempfile.gettempdir())
    return sorted(p for pid in pids for p in root.glob(f"harness-local-{pid}-*"))


def stage(pid: int, reports: Path) -> str:
    """Roughly where the run was when the signal was sent (from the files it had made)."""
    dirs = run_dirs({pid})
    if (reports / "verdict.json").exists():
        return "reports written"
    if (reports / "pytest.log").exists():
        return "suites" if dirs else "stack stop / reports"
    if not dirs:
        return "before the stack"
    if not (dirs[0] / "initdb.log").exists():
        return "temp dir made"
    if not (dirs[0] / "pg" / "postmaster.pid").exists():
        return "initdb"
    return "stack start"


def judge(out: Outcome, stdout: str, stderr: str, reports: Path) -> None:
    verdict_file = reports / "verdict.json"
    doc = None
    if verdict_file.exists():
        try:
            doc = json.loads(verdict_file.read_text())
            validate_verdict(doc)
            out.verdict = doc["verdict"]
            out.notes = [n for n in doc.get("notes", []) if n.startswith(("terminated", "interrupted", "stack:"))]
        except Exception as exc:  # noqa: BLE001
            out.problems.append(f"verdict.json does not validate: {type(exc).__name__}: {str(exc)[:200]}")
    if out.sig is None or out.finished_first:
        if out.code not in (0, 1, 2):
            out.problems.append(f"exit {out.code} without a signal")
    elif out.sig == signal.SIGKILL:
        if out.code not in (-9, 0, 1, 2):
            out.problems.append(f"exit {out.code} after SIGKILL")
    elif out.early:  # the default action (-sig), or 1: Python's status when interrupted in its own start-up
        if out.code not in (-out.sig, 0, 1, 2):
            out.problems.append(f"exit {out.code} after an early {out.sig.name}")
        if out.code == 1 and doc is None:
            return
    else:
        if out.code not in (0, 1, 2):
            out.problems.append(f"exit {out.code} after {out.sig.name}: expected 2 (or 0/1 if it had finished)")
        if out.left_dir:
            out.problems.append(f"its temp dir is left after {out.sig.name} (a handled signal removes it)")
        for mark in ("Traceback", "Exception ignored"):
            if mark in stdout + stderr:
                out.problems.append(f"{mark!r} on {'stderr' if mark in stderr else 'stdout'}")
    if out.code in CODES:
        if doc is None:
            out.problems.append(f"exit {out.code} but no verdict.json")
        elif out.verdict != CODES[out.code]:
            out.problems.append(f"exit {out.code} but the verdict is {out.verdict}")
    if out.problems:
        reports.mkdir(parents=True, exist_ok=True)
        (reports / "harness.stdout").write_text(stdout)
        (reports / "harness.stderr").write_text(stderr)
        out.problems.append(f"its output: {reports}/harness.stderr, harness.stdout")


def one_run(
    index: int, rng: random.Random, reports: Path, max_delay: float, sig: int | None, at_stage: str | None = None
) -> Outcome:
    """One gate; sig at a random moment within max_delay (or as soon as it reaches at_stage)."""
    at = rng.uniform(0.0, max_delay)
    second = rng.choice(GRACEFUL) if sig in GRACEFUL and rng.random() < 0.3 else None
    second_after = rng.uniform(0.0, 0.5)
    t0 = time.monotonic()
    proc = start(reports)
    out = Outcome(index, proc.pid, signal.Signals(sig) if sig else None, at)
    try:
        if sig is not None:
            deadline = t0 + (120 if at_stage else at)
            while proc.poll() is None and time.monotonic() < deadline:
                if at_stage and stage(proc.pid, reports) == at_stage:
                    break
                time.sleep(0.005)
            out.at_s = time.monotonic() - t0
            if proc.poll() is not None:
                out.finished_first = True
            else:
                out.early = not handles(proc.pid, signal.SIGHUP)
                out.stage = stage(proc.pid, reports)
                send(proc, sig)
                if second is not None:
                    time.sleep(second_after)
                    if proc.poll() is None:
                        out.second = signal.Signals(second)
                        send(proc, second)
        try:
            stdout, stderr = proc.communicate(timeout=120)
        except subprocess.TimeoutExpired:
            proc.kill()
            stdout, stderr = proc.communicate()
            out.problems.append("the harness did not exit within 120 s of the signal")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    out.code = proc.returncode
    out.left_dir = bool(run_dirs({proc.pid}))
    judge(out, stdout, stderr, reports)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=30, help="signalled runs (default 30)")
    parser.add_argument("--budget", type=float, default=None, help="stop starting runs after this many seconds")
    parser.add_argument("--seed", type=int, default=None, help="the RNG seed (default: random, printed)")
    parser.add_argument("--max-delay", type=float, default=4.5, help="latest signal moment after the start (s)")
    parser.add_argument("--keep", action="store_true", help="keep the runs' reports dirs")
    parser.add_argument("--signal", choices=[x.name for x in SIGNALS], help="always this signal (default: random)")
    parser.add_argument(
        "--at-stage",
        choices=["before the stack", "temp dir made", "initdb", "stack start", "suites"],
        help="send the signal as soon as a run reaches this stage, not at a random moment",
    )
    args = parser.parse_args(argv)
    seed = args.seed if args.seed is not None else int.from_bytes(os.urandom(4), "big")
    rng = random.Random(seed)
    print(f"chaos: seed {seed} (rerun: --seed {seed}), up to {args.runs} runs, signals within {args.max_delay:g} s")
    sys.stdout.flush()
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        print("chaos: cannot become a child subreaper (not Linux?)", file=sys.stderr)
        return 1
    before = set(descendants())
    work = Path(tempfile.mkdtemp(prefix="harness-chaos-"))
    t0 = time.monotonic()
    outcomes: list[Outcome] = []
    pids: set[int] = set()
    for i in range(1, args.runs + 1):
        if args.budget is not None and time.monotonic() - t0 > args.budget:
            break
        sig = signal.Signals[args.signal] if args.signal else rng.choice(SIGNALS)
        out = one_run(i, rng, work / f"run-{i}", args.max_delay, sig, args.at_stage)
        outcomes.append(out)
        pids.add(out.pid)
        reap_adopted()
        print(out.line())
        sys.stdout.flush()
    time.sleep(1.0)  # the death signal's work (PostgreSQL's fast shutdown, uvicorn's) may still be finishing
    reap_adopted()
    left_procs = descendants(before)
    left_dirs = run_dirs(pids)
    print(
        f"chaos: before the next start: {len(left_dirs)} temp dirs of the runs (expected after SIGKILL), "
        f"{len(left_procs)} processes"
    )
    final = one_run(len(outcomes) + 1, rng, work / "final", args.max_delay, None)
    pids.add(final.pid)
    print(final.line() + "  <- the next start (sweeps what the killed runs left)")
    problems = [p for o in [*outcomes, final] for p in o.problems]
    if final.code != 0:
        problems.append(f"the final normal run exited {final.code}, not 0")
    deadline = time.monotonic() + 15
    while True:
        reap_adopted()
        left_procs = descendants(before)
        if not left_procs or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    left_dirs = run_dirs(pids)
    problems += [f"process left: {pid} {cmd[:160]}" for pid, cmd in sorted(left_procs.items())]
    problems += [f"temp dir left: {d}" for d in left_dirs]
    kinds: dict[str, int] = {}
    for o in outcomes:
        key = "none" if o.sig is None else o.sig.name + ("+" if o.second else "")
        kinds[key] = kinds.get(key, 0) + 1
    print(
        f"chaos: {len(outcomes)} signalled runs in {time.monotonic() - t0:.0f} s "
        f"({', '.join(f'{k} {v}' for k, v in sorted(kinds.items()))}; "
        f"{sum(o.early for o in outcomes)} early, {sum(o.finished_first for o in outcomes)} after the end); "
        f"after the next start: {len(left_procs)} processes and {len(left_dirs)} temp dirs of the runs left"
    )
    if not args.keep and not problems:
        shutil.rmtree(work, ignore_errors=True)
    if problems:
        print(f"chaos: FAILED (seed {seed}; reports in {work}):")
        for p in problems:
            print(f"  - {p}")
        return 1
    print("chaos: OK")
    return 0


if __name__ == "__main__":
    sys.exit(main())
