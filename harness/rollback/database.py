"""The database side of a rollback: the build's own migrate command, the previous release's queries, and
throwaway databases on the target's PostgreSQL for the migration checks (never the live one)."""

from __future__ import annotations

import os
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import psycopg
from psycopg import sql

from harness.process import run
from harness.redact import redact_text, url_password

# what the v1 release reads (its queries name only v1 columns): a session's owner, its messages in order
V1_SESSION = "SELECT user_id FROM chat_sessions WHERE session_id = %(session_id)s ORDER BY id LIMIT 1"
V1_MESSAGES = "SELECT role, content FROM chat_messages WHERE session_id = %(session_id)s ORDER BY id"
MIGRATE_TIMEOUT_S = 330.0  # beyond rollback.duration_s's 300 s: a slow downgrade is measured, not cut short


def libpq(url: str) -> str:
    """A SQLAlchemy-style URL (postgresql+psycopg://) as a libpq URI."""
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


@dataclass(frozen=True, slots=True)
class Migrated:
    """How one migrate command ended."""

    ok: bool
    detail: str  # its last log line (redacted), or why it did not finish


def migrate(database_url: str, action: str, revision: str, *, faults: str, log: Path, cwd: Path) -> Migrated:
    """Run `python -m app migrate <action> <revision>` as a deployment does, with the build's fault switches
    in ORCHESTRA_FAULTS (the reference app's bad builds carry bad migrations too)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HARNESS_", "ORCHESTRA_"))}
    env.update(DATABASE_URL=database_url, ORCHESTRA_FAULTS=faults, PYTHONPATH=str(cwd))
    argv = [sys.executable, "-m", "app", "migrate", action, revision]
    code = run(argv, log, timeout_s=MIGRATE_TIMEOUT_S, env=env, cwd=cwd)
    lines = log.read_text(errors="replace").strip().splitlines() if log.exists() else []
    last = redact_text(lines[-1] if lines else "", [s for s in [url_password(database_url)] if s])
    if code is None:
        return Migrated(False, f"migrate {action} {revision} did not finish in {MIGRATE_TIMEOUT_S:g} s")
    if code != 0:
        return Migrated(False, f"migrate {action} {revision} exited {code}: {last}")
    return Migrated(True, last)


def revision(database_url: str) -> str:
    """The database's Alembic revision ('base' when none)."""
    with psycopg.connect(libpq(database_url), connect_timeout=5) as conn:
        row = conn.execute("SELECT to_regclass('alembic_version') IS NOT NULL").fetchone()
        if not row or not row[0]:
            return "base"
        found = conn.execute("SELECT version_num FROM alembic_version").fetchone()
    return str(found[0]) if found else "base"


def read_v1(database_url: str, session_id: str) -> tuple[str | None, list[tuple[str, str]]]:
    """(owner, [(role, content), ...]) of a session, read with the v1 release's queries."""
    with psycopg.connect(libpq(database_url), connect_timeout=5) as conn:
        owner = conn.execute(V1_SESSION, {"session_id": session_id}).fetchone()
        rows = conn.execute(V1_MESSAGES, {"session_id": session_id}).fetchall()
    return (str(owner[0]) if owner else None), [(str(r[0]), str(r[1])) for r in rows]


def _with_database(database_url: str, name: str) -> str:
    from sqlalchemy import make_url

    return make_url(database_url).set(database=name).render_as_string(hide_password=False)


@contextmanager
def scratch_database(database_url: str) -> Iterator[str]:
    """A new empty database on the same server (dropped afterwards, whatever happens): its URL."""
    name = f"rollback_scratch_{uuid.uuid4().hex[:12]}"
    admin = libpq(_with_database(database_url, "postgres"))
    with psycopg.connect(admin, autocommit=True, connect_timeout=5) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield _with_database(database_url, name)
    finally:
        with psycopg.connect(admin, autocommit=True, connect_timeout=5) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
