"""What a killed run left behind, removed at the next start (the way testcontainers' reaper cleans up).

Every resource a stack makes carries its owner: the harness process's pid, its start time (so a reused
pid is not taken for the owner), the boot id, the pid namespace and the host name (so nothing is judged
from a machine or namespace that cannot see the owner). A resource is stale when its owner is dead:
another boot, no process with that pid, or a process with that pid that started at another time.

- Local stack: temp dirs `harness-local-<pid>-XXXX` with `owner.json` inside (and the private staging
  dirs of raw suite and Locust output, `harness-suites-<pid>-XXXX`, `harness-locust-<pid>-XXXX`). At
  every local start (and before the suites run), each stale one is removed, after the processes still
  holding files in it (cwd or open files: a PostgreSQL whose data dir is in it, a Redis whose log is)
  are killed. A dir without `owner.json` (killed in the
  instant between creating it and writing the file) is judged by the pid in its name.
- Containers stack: containers and networks labelled `org.ai-orchestra.owner.*`; at every containers
  start those of dead owners are removed (`stale_labelled()` picks them; no engine needed to test it).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import tempfile
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from harness.atomic import write_atomic

PREFIX = "harness-local-"
KINDS = ("local", "suites", "locust", "appctx")  # the stack's dir; private staging dirs (raw output, a build context)
OWNER_FILE = "owner.json"
LABEL = "org.ai-orchestra.owner"  # org.ai-orchestra.owner.pid, .start, .boot, .pidns, .host
_DIR_NAME = re.compile(rf"harness-(?:{'|'.join(KINDS)})-(\d+)-[A-Za-z0-9_]+")
ALIVE, DEAD, FOREIGN = "alive", "dead", "foreign"


def process_start(pid: int) -> int | None:
    """When the process started (clock ticks after boot, /proc/PID/stat), None if there is none."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            stat = fh.read()
    except OSError:
        return None
    fields = stat[stat.rfind(")") + 2 :].split()
    if fields[0] in ("Z", "X"):
        return None  # a zombie has finished: it owns nothing any more
    return int(fields[19])


def _read(path: str) -> str:
    try:
        return Path(path).read_text().strip()
    except OSError:
        return ""


def _pidns() -> str:
    try:
        return os.readlink("/proc/self/ns/pid")
    except OSError:
        return ""


@dataclass(frozen=True, slots=True)
class Owner:
    """The harness process a resource belongs to."""

    pid: int
    start: int | None
    boot: str
    pidns: str
    host: str

    @classmethod
    def me(cls) -> Owner:
        return cls(
            pid=os.getpid(),
            start=process_start(os.getpid()),
            boot=_read("/proc/sys/kernel/random/boot_id"),
            pidns=_pidns(),
            host=socket.gethostname(),
        )

    def labels(self) -> dict[str, str]:
        """Docker labels naming this owner."""
        return {f"{LABEL}.{k}": "" if v is None else str(v) for k, v in asdict(self).items()}

    @classmethod
    def from_labels(cls, labels: Mapping[str, str]) -> Owner | None:
        key = f"{LABEL}.{{}}".format
        try:
            start = labels.get(key("start")) or None
            return cls(
                int(labels[key("pid")]),
                int(start) if start else None,
                labels[key("boot")],
                labels[key("pidns")],
                labels[key("host")],
            )
        except (KeyError, ValueError):
            return None

    @classmethod
    def from_json(cls, text: str) -> Owner | None:
        try:
            data = json.loads(text)
            return cls(int(data["pid"]), data["start"], str(data["boot"]), str(data["pidns"]), str(data["host"]))
        except (ValueError, KeyError, TypeError):
            return None


def owner_state(owner: Owner, here: Owner, start_of: Callable[[int], int | None] = process_start) -> str:
    """ALIVE, DEAD, or FOREIGN (another host or pid namespace: its processes cannot be seen from here)."""
    if owner.host != here.host or owner.pidns != here.pidns:
        return FOREIGN
    if owner.boot != here.boot:
        return DEAD
    started = start_of(owner.pid)
    if started is None or (owner.start is not None and started != owner.start):
        return DEAD
    return ALIVE


# -- local stack: temp dirs ------------------------------------------------------------------------


def make_run_dir(root: Path | None = None, kind: str = "local", mode: int = 0o755) -> Path:
    """A new temp dir `harness-<kind>-<pid>-XXXX` with owner.json (call it shielded from signals): the
    stack's (`local`, readable by the unprivileged PostgreSQL) or a private staging dir of raw output that
    may hold secrets (`suites`, `locust`: mode 0700), which a SIGKILLed run must not leave for long either."""
    assert kind in KINDS
    path = Path(tempfile.mkdtemp(prefix=f"harness-{kind}-{os.getpid()}-", dir=root))
    path.chmod(mode)
    write_atomic(path / OWNER_FILE, json.dumps(asdict(Owner.me())))
    return path


def tool_tmp_env(run_dir: Path) -> dict[str, str]:
    """The environment that puts a child's temporary files (and those of every tool it starts: trivy's raw scan
    output, pytest's tmp_path, Python's tempfile) in `<run_dir>/tmp`: removed with the run dir when the run ends,
    and by sweep_run_dirs() when the run was killed. TMPDIR is what Go (os.TempDir), Python and libc read.
    Hypothesis (under the contract suite) keeps a `.hypothesis/` cache in the working directory even with its
    example database off: HYPOTHESIS_STORAGE_DIRECTORY puts it in the stage too, never in the user's directory."""
    tmp = run_dir / "tmp"
    tmp.mkdir(mode=0o700, exist_ok=True)
    return {
        "TMPDIR": str(tmp),
        "TMP": str(tmp),
        "TEMP": str(tmp),
        "HYPOTHESIS_STORAGE_DIRECTORY": str(tmp / "hypothesis"),
    }


def stale_run_dirs(root: Path | None = None, here: Owner | None = None) -> list[Path]:
    """The temp dirs under root (default: the temp dir) whose owner is dead."""
    root = Path(root or tempfile.gettempdir())
    here = here or Owner.me()
    stale = []
    try:
        entries = list(os.scandir(root))
    except OSError:
        return []
    for entry in entries:
        match = _DIR_NAME.fullmatch(entry.name)
        if not match or not entry.is_dir(follow_symlinks=False):
            continue
        path = Path(entry.path)
        try:
            owner = Owner.from_json((path / OWNER_FILE).read_text())
        except OSError:
            owner = None
        if owner is None:  # killed between mkdtemp and writing owner.json: the name has the pid
            owner = Owner(int(match[1]), None, here.boot, here.pidns, here.host)
        if owner_state(owner, here) == DEAD:
            stale.append(path)
    return stale


def holders(path: Path) -> list[int]:
    """Processes whose working directory or an open file is inside path (/proc; others' are skipped)."""
    inside, prefix = str(path), f"{path}/"
    found = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        links = [f"{entry.path}/cwd"]
        try:
            links += [f"{entry.path}/fd/{fd}" for fd in os.listdir(f"{entry.path}/fd")]
        except OSError:
            continue
        for link in links:
            try:
                target = os.readlink(link)
            except OSError:
                continue
            if target == inside or target.startswith(prefix):
                found.append(int(entry.name))
                break
    return found


def _kill_all(pids: Iterable[int], wait_s: float = 5.0) -> None:
    pids = list(pids)
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass
    deadline = time.monotonic() + wait_s
    while any(process_start(p) is not None for p in pids) and time.monotonic() < deadline:
        time.sleep(0.02)


def sweep_run_dirs(root: Path | None = None) -> list[Path]:
    """Remove every stale temp dir under root, after killing what still holds files in it. Returns them."""
    removed = []
    for path in stale_run_dirs(root):
        for _ in range(3):  # a process may have been starting while we looked
            pids = holders(path)
            if not pids:
                break
            _kill_all(pids)
        shutil.rmtree(path, ignore_errors=True)
        if not path.exists():
            removed.append(path)
    return removed


# -- containers stack: labelled containers and networks --------------------------------------------


def stale_labelled(items: Iterable[tuple[str, Mapping[str, str]]], here: Owner, **kw: Any) -> list[str]:
    """The ids among (id, labels) whose owner labels name a dead owner (unlabelled or foreign: kept)."""
    stale = []
    for ident, labels in items:
        owner = Owner.from_labels(labels or {})
        if owner is not None and owner_state(owner, here, **kw) == DEAD:
            stale.append(ident)
    return stale


def sweep_containers(client: Any, here: Owner | None = None) -> list[str]:
    """Remove the containers, then the networks, that a dead owner labelled; best effort. Returns the names."""
    here = here or Owner.me()
    removed: list[str] = []
    wanted = {"label": f"{LABEL}.pid"}
    try:
        containers = {c.id: c for c in client.containers.list(all=True, filters=wanted)}
        for ident in stale_labelled(((c.id, c.labels) for c in containers.values()), here):
            containers[ident].remove(force=True, v=True)
            removed.append(containers[ident].name)
        networks = {n.id: n for n in client.networks.list(filters=wanted)}
        for ident in stale_labelled(((n.id, n.attrs.get("Labels") or {}) for n in networks.values()), here):
            networks[ident].remove()
            removed.append(networks[ident].name)
    except Exception:  # noqa: BLE001,S110 - a sweep must never stop a run; the next start tries again
        pass
    return removed
