"""The gate server's verdicts, kept across restarts in one SQLite file (`serve_db`).

One row per finished run: (run_id, phase, target, checksum, verdict, finished_at, document, config). A
verdict is reused for the same (phase, target, checksum) while it is younger than the TTL and was reached
under the same configuration (`config`: a fingerprint of the policy, the service profile, the run's settings
and the harness's version, config_fingerprint()): a server restarted with another policy or profile judges
again. Older rows are deleted when a new one is written.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.config import Settings
from harness.errors import ConfigError

SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    run_id TEXT PRIMARY KEY,
    phase TEXT NOT NULL,
    target TEXT NOT NULL,
    checksum TEXT NOT NULL,
    verdict TEXT NOT NULL,
    finished_at REAL NOT NULL,
    doc TEXT NOT NULL,
    config TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS runs_key ON runs (phase, target, checksum, finished_at);
"""


@dataclass(frozen=True, slots=True)
class Stored:
    """One finished run as the store keeps it."""

    run_id: str
    phase: str
    target: str
    checksum: str
    verdict: str
    finished_at: float
    doc: dict[str, Any]


class Store:
    """Thread-safe access to the SQLite file (one connection, one lock: the rows are few and small)."""

    def __init__(self, path: Path, ttl_s: float, config: str = "") -> None:
        self.path = path
        self.ttl_s = ttl_s
        self.config = config  # only verdicts reached under this configuration are reused
        self._lock = threading.Lock()
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
            self._db.executescript(SCHEMA)
            columns = {row[1] for row in self._db.execute("PRAGMA table_info(runs)")}
            if "config" not in columns:  # a file of an earlier version: its rows match no configuration
                self._db.execute("ALTER TABLE runs ADD COLUMN config TEXT NOT NULL DEFAULT ''")
        except (OSError, sqlite3.Error) as exc:
            raise ConfigError(f"serve_db {path} cannot be used ({exc}); set serve_db to a writable file") from None

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def put(self, stored: Stored) -> None:
        row = (*_key_row(stored), json.dumps(stored.doc), self.config)
        with self._lock:
            self._db.execute("DELETE FROM runs WHERE finished_at < ?", (time.time() - self.ttl_s,))
            self._db.execute("INSERT OR REPLACE INTO runs VALUES (?, ?, ?, ?, ?, ?, ?, ?)", row)

    def fresh(self, phase: str | None, target: str, checksum: str) -> Stored | None:
        """The latest verdict for the key younger than the TTL, reached under this configuration (phase None: of
        any phase), or None."""
        where = "target = ? AND checksum = ? AND config = ? AND finished_at >= ?"
        args: list[Any] = [target, checksum, self.config, time.time() - self.ttl_s]
        if phase is not None:
            where, args = f"phase = ? AND {where}", [phase, *args]
        sql = f"SELECT * FROM runs WHERE {where} ORDER BY finished_at DESC LIMIT 1"  # noqa: S608 - fixed text
        with self._lock:
            row = self._db.execute(sql, args).fetchone()
        return _stored(row) if row else None

    def by_id(self, run_id: str) -> Stored | None:
        with self._lock:
            row = self._db.execute("SELECT * FROM runs WHERE run_id = ?", (run_id,)).fetchone()
        return _stored(row) if row else None


def config_fingerprint(settings: Settings, env: dict[str, str] | None = None) -> str:
    """What a verdict depends on besides (phase, target, checksum): the run's settings (less the server's own),
    the policy and service profile files' contents (a file edited in place counts), the HARNESS_* environment the
    suites read (secrets left out) and the harness's version. A hex digest; nothing of it is stored in clear."""
    from harness import __version__
    from harness.redact import user_secrets

    raw = json.loads(settings.to_json())
    for name in [k for k in raw if k.startswith("serve_") or k == "reports_dir"]:
        del raw[name]
    files = {}
    for path in (settings.policy_file, settings.service_file):
        if path is not None:
            try:
                files[str(path)] = hashlib.sha256(Path(path).read_bytes()).hexdigest()
            except OSError:
                files[str(path)] = "unreadable"
    environ = os.environ if env is None else env
    secret = {name for name, _ in user_secrets(environ)}  # a rotated token is the same configuration
    harness_env = {k: v for k, v in sorted(environ.items()) if k.startswith("HARNESS_") and k not in secret}
    text = json.dumps({"settings": raw, "files": files, "env": harness_env, "version": __version__}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def _key_row(s: Stored) -> tuple[Any, ...]:
    return (s.run_id, s.phase, s.target, s.checksum, s.verdict, s.finished_at)


def _stored(row: tuple[Any, ...]) -> Stored:
    return Stored(*row[:6], doc=json.loads(row[6]))  # row[7]: the configuration it was reached under
