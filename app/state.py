"""The per-app runtime state shared by routes: settings, clients, flags, faults, metrics."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from dataclasses import dataclass, field
from typing import Any

import redis.asyncio as redis
from psycopg_pool import AsyncConnectionPool
from starlette.requests import HTTPConnection

from app.faults import Faults
from app.feature_flags import FeatureFlags
from app.metrics import Metrics
from app.settings import Settings


@dataclass
class AppState:
    """Everything a request handler needs; the pool and redis exist only while the lifespan runs."""

    settings: Settings
    faults: Faults
    flags: FeatureFlags
    metrics: Metrics
    pg: AsyncConnectionPool | None = None
    redis: redis.Redis | None = None
    open_websockets: int = 0
    background: set[asyncio.Task[Any]] = field(default_factory=set)

    def db(self) -> AsyncConnectionPool:
        """The PostgreSQL pool, or RuntimeError outside the lifespan."""
        if self.pg is None:
            raise RuntimeError("database pool not initialised (lifespan not running)")
        return self.pg

    def cache(self) -> redis.Redis:
        """The Redis client, or RuntimeError outside the lifespan."""
        if self.redis is None:
            raise RuntimeError("redis client not initialised (lifespan not running)")
        return self.redis

    def spawn(self, coro: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        """Run a fire-and-forget task, keeping a strong reference until it finishes."""
        task = asyncio.create_task(coro)
        self.background.add(task)
        task.add_done_callback(self.background.discard)
        return task


def get_state(conn: HTTPConnection) -> AppState:
    """The AppState of the app serving this request or websocket."""
    state: AppState = conn.app.state.orchestra
    return state
