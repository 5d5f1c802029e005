"""The chat exchange shared by the HTTP and WebSocket endpoints: reply, persist, cache."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import UTC, datetime

from app import cache, db
from app.state import AppState

log = logging.getLogger(__name__)
DEFAULT_USER = "api-user"
CACHE_TIMEOUT_S = 1.0


def reply_for(message: str) -> str:
    """The deterministic assistant reply (no external AI)."""
    return f"Orchestra received: {message}"


@dataclass(frozen=True)
class Exchange:
    """The stored result of one chat turn."""

    message_id: int
    response: str


async def run_exchange(state: AppState, user_id: str, session_id: str, message: str) -> Exchange:
    """Persist the turn in PostgreSQL (raises on failure), then cache it in Redis best-effort."""
    reply = reply_for(message)
    message_id = await db.save_exchange(state.db(), user_id, session_id, message, reply)
    last = {
        "user_id": user_id,
        "message": message,
        "response": reply,
        "message_id": message_id,
        "at": datetime.now(UTC).isoformat(),
    }
    try:
        leak = state.faults.active("cache_leak")
        await asyncio.wait_for(cache.store_exchange(state.cache(), session_id, last, leak=leak), CACHE_TIMEOUT_S)
    except Exception as exc:  # the cache is best-effort; PostgreSQL is the record
        log.warning("redis write failed for a chat turn: %s", type(exc).__name__)
    return Exchange(message_id=message_id, response=reply)
