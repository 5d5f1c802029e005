"""The reports dir belongs to the harness only once it has claimed it, and the harness removes only what it wrote.

A run claims its reports dir before it writes or removes anything there (`claim()`):

- refused, one line and exit 64, before anything is touched: an empty name, `/`, the home dir, a repository
  root or a source folder (it holds `.git`, `pyproject.toml`, `setup.py`, `harness.toml` or `.py` files), and
  a non-empty dir that holds no claim marker;
- accepted: a dir that does not exist yet (created), an empty one, one holding only what the harness keeps
  across runs (`history/`, `serve/`), one already claimed (it holds MANIFEST), and a reports dir of an earlier
  harness version (it holds a `verdict.json` of ours: only the top-level report files it wrote are removed).

MANIFEST is the marker and the manifest in one file: the files the last run wrote (relative paths), and the
files that were there, not ours, when that run started. The next claim removes the manifest's files (a run that
never finished: everything that appeared after it started, except what was there before), each only if it is
inside the dir; directories only once they are empty. Nothing else in the dir is ever removed.
"""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from harness.errors import ConfigError

MANIFEST = ".harness-reports.json"
SCHEMA = "harness.reports-dir/v1"
KEEP = ("history", "serve")  # what the harness keeps across runs: never in a manifest, never removed
INTERNAL = (MANIFEST, ".gate-in-progress")  # bookkeeping, never in a manifest
# what harness versions before the manifest wrote at the top of a reports dir (adopted dirs: only these go)
LEGACY_FILES = (
    "verdict.json",
    "summary.md",
    "gates.xml",
    "junit.xml",
    "evidence.json",
    "harness-error.log",
    "pytest.log",
    "run-settings.json",
    "report.html",
    "report.png",
    "selftest.json",
    "selftest.md",
)
SOURCE_MARKERS = (".git", "pyproject.toml", "setup.py", "setup.cfg", "harness.toml", "__init__.py")
MAX_ENTRIES = 200_000  # a reports dir with more files than this is not one the harness wrote


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _refuse(path: Path | str, why: str) -> ConfigError:
    return ConfigError(
        f"reports dir {path} {why}; the harness writes and deletes only in a reports dir of its own: "
        "give --reports-dir a new or empty directory"
    )


def refusal(path: Path) -> str | None:
    """Why path can never be a reports dir (None: it can, or it is checked by claim()). Touches nothing."""
    if not str(path).strip():
        return "is an empty name"
    if len(os.fsencode(path)) > 4000 or any(len(os.fsencode(part)) > 255 for part in path.parts):
        return "cannot be used (a name longer than the filesystem allows: 255 bytes a part, 4000 in all)"
    try:
        real = path.resolve()
        home = Path.home().resolve()
    except (OSError, RuntimeError) as exc:
        return f"cannot be used ({getattr(exc, 'strerror', None) or exc})"
    if real == Path(real.anchor):
        return "is the filesystem root"
    if real == home:
        return "is the home directory"
    try:
        if not real.is_dir():
            return None
        names = {e.name for e in os.scandir(real)}
    except OSError as exc:
        return f"cannot be used ({exc.strerror or exc})"
    found = sorted(names & set(SOURCE_MARKERS)) or sorted(n for n in names if n.endswith(".py"))[:1]
    if found:
        return f"is a repository or source folder (it holds {found[0]})"
    return None


def read_manifest(reports: Path) -> dict[str, Any] | None:
    """The dir's claim, or None when it holds none (a damaged one is treated as a claim without files)."""
    path = reports / MANIFEST
    if not path.is_file():
        return None
    try:
        raw = json.loads(path.read_bytes()[: 16 * 1024 * 1024])
    except (OSError, ValueError):
        return {"schema": SCHEMA, "state": "done", "files": [], "foreign": []}
    if not isinstance(raw, dict):
        return {"schema": SCHEMA, "state": "done", "files": [], "foreign": []}
    return raw


def _scan(reports: Path) -> set[str]:
    """Every file (and symlink) below reports, relative, but the kept dirs and the bookkeeping."""
    out: set[str] = set()
    stack = [reports]
    while stack:
        here = stack.pop()
        try:
            entries = list(os.scandir(here))
        except OSError:
            continue
        for entry in entries:
            rel = os.path.relpath(entry.path, reports)
            if here == reports and (entry.name in KEEP or entry.name in INTERNAL):
                continue
            if entry.is_dir(follow_symlinks=False):
                stack.append(Path(entry.path))
            else:
                out.add(rel)
            if len(out) > MAX_ENTRIES:
                raise _refuse(reports, f"holds more than {MAX_ENTRIES} files")
    return out


def _legacy(reports: Path, names: set[str]) -> bool:
    """A reports dir an earlier harness version wrote: its verdict.json is one of ours."""
    if "verdict.json" not in names:
        return False
    try:
        head = (reports / "verdict.json").read_bytes()[:4096].decode("utf-8", "replace")
    except OSError:
        return False
    return '"harness.verdict/' in head


def _inside(reports: Path, rel: str) -> Path | None:
    """reports/rel when it names something inside reports (no absolute path, no '..', no symlinked parent)."""
    if not isinstance(rel, str) or not rel or os.path.isabs(rel) or ".." in Path(rel).parts:
        return None
    path = reports / rel
    try:
        if path.parent.resolve() != (reports.resolve() / rel).parent:
            return None
    except OSError:
        return None
    return path


def _remove(reports: Path, rels: set[str]) -> None:
    """Unlink each named file inside reports; then remove the dirs that held them, once empty."""
    parents: set[Path] = set()
    for rel in sorted(rels):
        path = _inside(reports, rel)
        if path is None or rel.split("/", 1)[0] in KEEP or rel in INTERNAL:
            continue
        try:
            if path.is_symlink() or path.is_file():
                path.unlink()
        except FileNotFoundError:
            pass
        parents.update(p for p in path.parents if p != reports and reports in p.parents)
    for parent in sorted(parents, key=lambda p: len(p.parts), reverse=True):
        try:
            parent.rmdir()  # only when empty
        except OSError:
            pass


def process_start(pid: int) -> int | None:
    """When the process started (clock ticks after boot, /proc/PID/stat), None if there is none."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            return int(fh.read().rsplit(b")", 1)[1].split()[19])
    except (OSError, ValueError, IndexError):
        return None


def _owner(manifest: dict[str, Any]) -> tuple[int, int] | None:
    pid, start = manifest.get("pid"), manifest.get("start")
    return (pid, start) if isinstance(pid, int) and isinstance(start, int) else None


def live_claim(reports: Path) -> bool:
    """Whether a run that is still alive (this process or another: the gate that started a suites' process)
    holds reports' claim."""
    manifest = read_manifest(reports)
    if manifest is None or manifest.get("state") != "running":
        return False
    owner = _owner(manifest)
    return owner is not None and process_start(owner[0]) == owner[1]


def _write(reports: Path, doc: dict[str, Any]) -> None:
    from harness.atomic import write_atomic

    write_atomic(reports / MANIFEST, json.dumps(doc, indent=1, sort_keys=True) + "\n")


def claim(reports: Path, *, create: bool = True) -> bool:
    """Claim reports for this run and remove what the last run wrote there (see the module's doc). Raises
    ConfigError (one line, 64) before touching anything when the dir is not the harness's to use. Returns
    False (and touches nothing) when the dir does not exist and create is False."""
    why = refusal(reports)
    if why is not None:
        raise _refuse(reports, why)
    try:
        exists = reports.is_dir()
        if not exists and (reports.exists() or reports.is_symlink()):
            raise _refuse(reports, "is not a directory")
        manifest = read_manifest(reports) if exists else None
        if manifest is not None and manifest.get("state") == "running":
            owner = _owner(manifest)
            if owner == _owner({"pid": os.getpid(), "start": process_start(os.getpid())}):
                return True  # claimed by this process already (the CLI's early claim, then the run's)
            if owner is not None and process_start(owner[0]) == owner[1]:
                raise ConfigError(
                    f"reports dir {reports} is in use by another harness run (pid {owner[0]}); wait for it to "
                    "finish or give --reports-dir another directory"
                )
        if manifest is None and exists:
            names = {e.name for e in os.scandir(reports)}
            if _legacy(reports, names):
                manifest = {"state": "done", "files": [n for n in LEGACY_FILES if n in names], "foreign": []}
            elif names - set(KEEP) - set(INTERNAL):
                shown = ", ".join(sorted(names)[:3]) + (", ..." if len(names) > 3 else "")
                raise _refuse(reports, f"is not empty ({shown}) and was not created by the harness (no {MANIFEST})")
        if not exists:
            if not create:
                return False
            reports.mkdir(parents=True, exist_ok=True)
        if manifest is not None:
            if manifest.get("state") == "done":
                stale = {str(f) for f in manifest.get("files") or [] if isinstance(f, str)}
            else:  # the last run never finished: what appeared after it started is its
                stale = _scan(reports) - {str(f) for f in manifest.get("foreign") or [] if isinstance(f, str)}
            _remove(reports, stale)
        _write(
            reports,
            {
                "schema": SCHEMA,
                "state": "running",
                "pid": os.getpid(),
                "start": process_start(os.getpid()),
                "started_at": _now(),
                "foreign": sorted(_scan(reports)),
                "files": [],
            },
        )
    except OSError as exc:
        _empty_verdict(reports)
        raise _refuse(reports, f"cannot be used ({exc.strerror or exc})") from None
    return True


def _empty_verdict(reports: Path) -> None:
    """The dir refused the cleanup: an old verdict in it must still not read as this run's (emptied)."""
    try:
        if (reports / MANIFEST).is_file() or _legacy(reports, {"verdict.json"}):
            with open(reports / "verdict.json", "r+b") as fh:
                fh.truncate(0)
    except OSError:
        pass


def finish(reports: Path) -> None:
    """The run is over: the manifest lists what it wrote. Best effort (an unwritable dir keeps state running,
    and the next claim then removes what appeared since this run started)."""
    try:
        manifest = read_manifest(reports)
        me = (os.getpid(), process_start(os.getpid()))
        if manifest is None or manifest.get("state") != "running" or _owner(manifest) != me:
            return  # not claimed by this run: nothing of it to list
        foreign = {str(f) for f in manifest.get("foreign") or [] if isinstance(f, str)}
        files = sorted(_scan(reports) - foreign)
        _write(reports, {**manifest, "state": "done", "finished_at": _now(), "files": files})
    except (OSError, ConfigError):
        pass
