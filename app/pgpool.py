"""A small asyncio connection pool for psycopg 3 (pre-ping on reuse, broken connections discarded)."""

from __future__ import annotations

import asyncio
import select
import time
from collections import deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from psycopg import AsyncConnection
from psycopg.pq import TransactionStatus


def _has_pending_input(conn: AsyncConnection) -> bool:
    """True when an idle connection's socket is readable (a termination notice or EOF is waiting)."""
    try:
        readable, _, _ = select.select([conn.fileno()], [], [], 0)
    except (OSError, ValueError):
        return True
    return bool(readable)


class PoolTimeout(Exception):
    """No connection became free within the pool timeout."""


class AsyncPool:
    """At most max_size connections, opened lazily, reused LIFO, pinged when idle for a while."""

    def __init__(
        self,
        conninfo: str,
        max_size: int = 10,
        timeout: float = 5.0,
        connect_timeout: int = 2,
        ping_after_idle_s: float = 10.0,
        max_lifetime_s: float = 1800.0,
    ) -> None:
        self._conninfo = conninfo
        self._timeout = timeout
        self._connect_timeout = connect_timeout
        self._ping_after_idle_s = ping_after_idle_s
        self._max_lifetime_s = max_lifetime_s
        self._slots = asyncio.Semaphore(max_size)
        self._idle: deque[tuple[AsyncConnection, float]] = deque()
        self._born: dict[int, float] = {}
        self._closed = False

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[AsyncConnection]:
        """Borrow an autocommit connection for the duration of the block."""
        if self._closed:
            raise RuntimeError("pool is closed")
        try:
            async with asyncio.timeout(self._timeout):
                await self._slots.acquire()
        except TimeoutError:
            raise PoolTimeout(f"no database connection free within {self._timeout:g} s") from None
        conn: AsyncConnection | None = None
        try:
            conn = await self._checkout()
            yield conn
        finally:
            try:
                if conn is not None:
                    await self._checkin(conn)
            finally:
                self._slots.release()

    async def _checkout(self) -> AsyncConnection:
        """An idle connection that still answers, or a new one."""
        now = time.monotonic()
        while self._idle:
            conn, last_used = self._idle.pop()
            if conn.closed or conn.broken or now - self._born.get(id(conn), now) > self._max_lifetime_s:
                await self._discard(conn)
                continue
            if _has_pending_input(conn):
                # an idle connection has nothing to read unless the server ended it (restart, shutdown)
                await self._discard(conn)
                continue
            if now - last_used > self._ping_after_idle_s:
                try:
                    await conn.execute("SELECT 1")
                except Exception:  # a dead connection: drop it and try the next one
                    await self._discard(conn)
                    continue
            return conn
        conn = await AsyncConnection.connect(self._conninfo, autocommit=True, connect_timeout=self._connect_timeout)
        self._born[id(conn)] = time.monotonic()
        return conn

    async def _checkin(self, conn: AsyncConnection) -> None:
        """Keep a clean connection, close anything mid-query, in a transaction or broken."""
        clean = conn.info.transaction_status == TransactionStatus.IDLE
        if conn.broken:
            # the server or network went away: the other idle connections are suspect too
            while self._idle:
                await self._discard(self._idle.pop()[0])
        if self._closed or conn.closed or conn.broken or not clean:
            await self._discard(conn)
        else:
            self._idle.append((conn, time.monotonic()))

    async def _discard(self, conn: AsyncConnection) -> None:
        """Close a connection, ignoring errors."""
        self._born.pop(id(conn), None)
        try:
            await conn.close()
        except Exception:  # closing a dead connection may fail; nothing to do
            pass

    async def close(self) -> None:
        """Close idle connections now; borrowed ones close when returned."""
        self._closed = True
        while self._idle:
            await self._discard(self._idle.pop()[0])
