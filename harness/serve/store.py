"""The gate server's verdicts, kept across restarts in one SQLite file (`serve_db`).

One row per finished run: (run_id, phase, target, checksum, verdict, finished_at, document). A verdict is
reused for the same (phase, target, checksum) while it is younger than the TTL; older rows are deleted
when a new one is written.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.errors import ConfigError

SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    run_id TEXT PRIMARY KEY,
    phase TEXT NOT NULL,
    target TEXT NOT NULL,
    checksum TEXT NOT NULL,
    verdict TEXT NOT NULL,
    finished_at REAL NOT NULL,
    doc TEXT NOT NULL
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

    def __init__(self, path: Path, ttl_s: float) -> None:
        self.path = path
        self.ttl_s = ttl_s
        self._lock = threading.Lock()
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
            self._db.executescript(SCHEMA)
        except (OSError, sqlite3.Error) as exc:
            raise ConfigError(f"serve_db {path} cannot be used ({exc}); set serve_db to a writable file") from None

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def put(self, stored: Stored) -> None:
        row = (*_key_row(stored), json.dumps(stored.doc))
        with self._lock:
            self._db.execute("DELETE FROM runs WHERE finished_at < ?", (time.time() - self.ttl_s,))
            self._db.execute("INSERT OR REPLACE INTO runs VALUES (?, ?, ?, ?, ?, ?, ?)", row)

    def fresh(self, phase: str | None, target: str, checksum: str) -> Stored | None:
        """The latest verdict for the key younger than the TTL (phase None: of any phase), or None."""
        where = "target = ? AND checksum = ? AND finished_at >= ?"
        args: list[Any] = [target, checksum, time.time() - self.ttl_s]
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


def _key_row(s: Stored) -> tuple[Any, ...]:
    return (s.run_id, s.phase, s.target, s.checksum, s.verdict, s.finished_at)


def _stored(row: tuple[Any, ...]) -> Stored:
    return Stored(*row[:6], doc=json.loads(row[6]))
