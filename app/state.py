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
    faults_version: int = 0  # bumped by every run-time switch (app/admin.py)
    chat_calls: int = 0  # fault chat_errors_1pct: every 100th call of this process fails
    burst_calls: int = 0  # fault error_burst: PCT % of this process's chat calls fail, spread evenly
    leaked_websockets: int = 0  # fault ws_leak: connections closed but never released from the count
    ws_handshakes: int = 0  # fault ws_refuse_every: every Nth handshake of this process is refused
    unstored: int = 0  # fault roundtrip_no_store: ids of the turns that were never stored
    _next_slot: float = 0.0  # fault throughput_cap_rps: when the next request may start
    first_calls: dict[str, int] = field(default_factory=dict)  # fault fail_first: calls per operation since the switch

    def switch_faults(self, faults: Faults, version: int | None = None) -> None:
        """Replace the active fault set; the faults' counters start again, so a switched run is deterministic."""
        self.faults = faults
        self.faults_version = self.faults_version + 1 if version is None else version
        self.chat_calls = self.ws_handshakes = self.burst_calls = self.leaked_websockets = 0
        self._next_slot = 0.0
        self.first_calls = {}

    def fails_first(self, method: str, path: str) -> bool:
        """Fault fail_first=N: whether this call is one of the first N of its operation since the switch."""
        n = self.faults.value("fail_first")
        if n is None:
            return False
        key = f"{method} {path}"
        if len(self.first_calls) >= 100_000:  # bounded: unknown paths (404s) never grow it without end
            self.first_calls.clear()
        self.first_calls[key] = self.first_calls.get(key, 0) + 1
        return self.first_calls[key] <= n

    async def throttle(self) -> None:
        """Fault throughput_cap_rps=N: wait for this request's slot, 1/N s after the previous one's."""
        rps = self.faults.value("throughput_cap_rps")
        if rps is None:
            return
        now = asyncio.get_running_loop().time()
        slot = max(now, self._next_slot)
        self._next_slot = slot + 1.0 / rps
        if slot > now:
            await asyncio.sleep(slot - now)

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
