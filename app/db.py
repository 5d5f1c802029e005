"""PostgreSQL access over psycopg 3 asyncio: one small pool per app and the few queries the service runs."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from psycopg_pool import AsyncConnectionPool

_SAVE_EXCHANGE = """
    WITH s AS (
        INSERT INTO chat_sessions (user_id, session_id) VALUES (%(user_id)s, %(session_id)s)
        ON CONFLICT DO NOTHING
    ), m AS (
        INSERT INTO chat_messages (session_id, user_id, role, content)
        VALUES (%(session_id)s, %(user_id)s, 'user', %(message)s),
               (%(session_id)s, %(user_id)s, 'assistant', %(reply)s)
        RETURNING id, role
    )
    SELECT id FROM m WHERE role = 'assistant'
"""
_SESSION_EXISTS = "SELECT EXISTS (SELECT 1 FROM chat_sessions WHERE session_id = %(session_id)s)"
_MESSAGES = "SELECT id, role, content, created_at FROM chat_messages WHERE session_id = %(session_id)s ORDER BY id"
_WS_CONNECT = (
    "INSERT INTO websocket_connections (user_id, session_id, pool_id)"
    " VALUES (%(user_id)s, %(session_id)s, %(pool_id)s) RETURNING id"
)
_WS_DISCONNECT = "UPDATE websocket_connections SET disconnected_at = now() WHERE id = %(id)s"


def libpq_url(database_url: str) -> str:
    """The SQLAlchemy-style postgresql+psycopg:// URL as a libpq postgresql:// URI."""
    return database_url.replace("postgresql+psycopg://", "postgresql://", 1)


def create_pool(database_url: str) -> AsyncConnectionPool:
    """A small pool (psycopg_pool) that checks a connection before lending it; open it with open_pool()."""
    return AsyncConnectionPool(
        libpq_url(database_url),
        min_size=1,
        max_size=10,
        timeout=5.0,
        open=False,
        kwargs={"autocommit": True, "connect_timeout": 2},
        check=AsyncConnectionPool.check_connection,
    )


async def open_pool(pool: AsyncConnectionPool) -> None:
    """Start the pool without waiting: the app must come up (and report unhealthy) with PostgreSQL down."""
    await pool.open(wait=False)


@dataclass(frozen=True)
class MessageRow:
    """One stored chat message."""

    id: int
    role: str
    content: str
    created_at: datetime


async def ping(pool: AsyncConnectionPool) -> None:
    """Run SELECT 1 (raises on any failure)."""
    async with pool.connection() as conn:
        await conn.execute("SELECT 1")


async def save_exchange(pool: AsyncConnectionPool, user_id: str, session_id: str, message: str, reply: str) -> int:
    """Upsert the session and store both messages in one atomic statement; return the assistant row id."""
    params = {"user_id": user_id, "session_id": session_id, "message": message, "reply": reply}
    async with pool.connection() as conn:
        row = await (await conn.execute(_SAVE_EXCHANGE, params)).fetchone()
    if row is None:
        raise RuntimeError("chat_messages insert returned no id")
    return int(row[0])


async def session_messages(pool: AsyncConnectionPool, session_id: str) -> list[MessageRow] | None:
    """All messages of a session in id order, or None when the session is unknown."""
    params = {"session_id": session_id}
    async with pool.connection() as conn:
        exists = await (await conn.execute(_SESSION_EXISTS, params)).fetchone()
        if not exists or not exists[0]:
            return None
        rows = await (await conn.execute(_MESSAGES, params)).fetchall()
    return [MessageRow(id=r[0], role=r[1], content=r[2], created_at=r[3]) for r in rows]


async def record_ws_connect(pool: AsyncConnectionPool, user_id: str, session_id: str, pool_id: str) -> int:
    """Insert a websocket_connections row and return its id."""
    params = {"user_id": user_id, "session_id": session_id, "pool_id": pool_id}
    async with pool.connection() as conn:
        row = await (await conn.execute(_WS_CONNECT, params)).fetchone()
    if row is None:
        raise RuntimeError("websocket_connections insert returned no id")
    return int(row[0])


async def record_ws_disconnect(pool: AsyncConnectionPool, row_id: int) -> None:
    """Stamp disconnected_at on a websocket_connections row."""
    async with pool.connection() as conn:
        await conn.execute(_WS_DISCONNECT, {"id": row_id})
