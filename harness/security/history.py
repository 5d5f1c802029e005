"""New-vs-known: each check's finding fingerprints from the last recorded run, per target.

reports/history/security.json = {"<check> @ <target>": {"recorded_at": ..., "fingerprints": [...]}}.
A local stack gets a new port every run, so every ephemeral target shares the key "local".
Writers take an exclusive lock: checks may run in parallel pytest-xdist workers.
"""

from __future__ import annotations

import fcntl
import json
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from harness.atomic import write_atomic
from harness.security.errors import ReportFileError
from harness.security.findings import Finding

SESSION = uuid.uuid4().hex  # this pytest process: a check re-run after a failure records over its own first attempt


def history_key(check: str, base_url: str, ephemeral: bool) -> str:
    return f"{check} @ {'local' if ephemeral else base_url.rstrip('/')}"


@contextmanager
def _locked(path: Path) -> Iterator[dict[str, Any]]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_suffix(".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            data = json.loads(path.read_text()) if path.is_file() else {}
            if not isinstance(data, dict):
                raise ValueError(f"a JSON {type(data).__name__}, not an object")
        except (OSError, ValueError) as exc:  # never silently start over: say so, and keep the file
            raise ReportFileError(
                f"security history {path} cannot be read ({str(exc)[:160]}): new-vs-known cannot be judged; "
                "move it aside or delete it (the next run starts a new history)"
            ) from None
        yield data
        write_atomic(path, json.dumps(data, indent=2, sort_keys=True))


def mark_and_record(findings: list[Finding], path: Path, key: str, session: str = SESSION) -> str | None:
    """Mark each finding new or known against the last run under key, then record this run.

    Returns when the last run was recorded (None: there was none, so everything is new)."""
    with _locked(path) as data:
        last = data.get(key) or {}
        if last.get("session") == session:  # a re-run of the check in this session: judge against the run before
            last = last.get("previous") or {}
        known = set(last.get("fingerprints", []))
        for f in findings:
            f.new = f.fingerprint not in known
        data[key] = {
            "recorded_at": datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
            "fingerprints": sorted({f.fingerprint for f in findings}),
            "session": session,
            "previous": {k: v for k, v in last.items() if k in ("recorded_at", "fingerprints")},
        }
    return last.get("recorded_at")
