"""The reference service on a real local stack: dependency-aware /health, migrations both ways."""

from __future__ import annotations

import os
import subprocess
import sys

import psycopg
import pytest
import requests

from harness.config import load_settings
from harness.stack import running
from harness.stack.local import LocalStack

from .conftest import ROOT


@pytest.fixture(scope="module")
def stack():
    local = LocalStack(load_settings({"stack": "local"}, env={}, root=ROOT))
    with running(local) as target:
        yield local, target


def columns(dsn: str, table: str) -> set[str]:
    with psycopg.connect(dsn) as conn:
        rows = conn.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_name = %s", (table,)
        ).fetchall()
    return {r[0] for r in rows}


def indexes(dsn: str) -> set[str]:
    with psycopg.connect(dsn) as conn:
        return {r[0] for r in conn.execute("SELECT indexname FROM pg_indexes WHERE schemaname = 'public'")}


def migrate(dsn: str, *args: str) -> None:
    env = {**os.environ, "DATABASE_URL": dsn}
    done = subprocess.run(
        [sys.executable, "-m", "app", "migrate", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr


def test_migrations_downgrade_to_the_guides_rollback_and_upgrade_again(stack):
    _, target = stack
    dsn = target.database_url
    assert {"optimization_mode"} <= columns(dsn, "chat_sessions")
    assert "pool_id" in columns(dsn, "websocket_connections")
    migrate(dsn, "downgrade", "-1")  # the guide's "Database Rollback"
    assert "optimization_mode" not in columns(dsn, "chat_sessions")
    assert "pool_id" not in columns(dsn, "websocket_connections")
    assert "idx_sessions_user_id" in indexes(dsn)
    migrate(dsn, "downgrade", "base")
    assert columns(dsn, "chat_sessions") == set()
    migrate(dsn, "upgrade", "head")
    assert "optimization_mode" in columns(dsn, "chat_sessions")


def test_health_is_503_unhealthy_when_redis_is_down(stack):
    local, target = stack
    assert requests.get(target.url("/health"), timeout=5).json()["status"] == "healthy"
    redis = next(s for s in local.services if s.name == "redis-server")
    redis.stop()
    resp = requests.get(target.url("/health"), timeout=5)
    assert resp.status_code == 503
    body = resp.json()
    assert body["status"] == "unhealthy"
    assert body["checks"]["postgres"] == "ok" and body["checks"]["redis"] != "ok"


def test_health_is_503_unhealthy_when_postgres_is_down(stack):
    local, target = stack
    pg = next(s for s in local.services if s.name == "postgres")
    pg.stop()
    resp = requests.get(target.url("/health"), timeout=10)
    assert resp.status_code == 503
    assert resp.json()["checks"]["postgres"] != "ok"
