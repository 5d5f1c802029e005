"""Redis access: one redis.asyncio client per app and the v2: keys the service writes."""

from __future__ import annotations

import json
from typing import Any

import redis.asyncio as redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

LAST_TTL_S = 3600
STATS_KEY = "v2:stats:messages"


LEAK_PREFIX = "orchestra:"  # fault cache_leak: the same key again under a prefix no invalidation expects


def last_key(session_id: str) -> str:
    """The key holding a session's last exchange."""
    return f"v2:session:{session_id}:last"


def create_client(redis_url: str) -> redis.Redis:
    """A lazily connecting client with short timeouts and at most one quick retry."""
    return redis.Redis.from_url(
        redis_url,
        decode_responses=True,
        socket_timeout=1.0,
        socket_connect_timeout=1.0,
        retry=Retry(NoBackoff(), 1),
        health_check_interval=30,
    )


async def store_exchange(client: redis.Redis, session_id: str, exchange: dict[str, Any], *, leak: bool = False) -> None:
    """Set the session's last exchange (TTL 1 h) and bump the message counter in one round trip (`leak`:
    fault cache_leak, the exchange is also cached under LEAK_PREFIX)."""
    async with client.pipeline(transaction=False) as pipe:
        pipe.set(last_key(session_id), json.dumps(exchange), ex=LAST_TTL_S)
        if leak:
            pipe.set(LEAK_PREFIX + last_key(session_id), json.dumps(exchange), ex=LAST_TTL_S)
        pipe.incr(STATS_KEY)
        await pipe.execute()


async def load_last(client: redis.Redis, session_id: str) -> Any:
    """The parsed last exchange of a session, or None."""
    raw = await client.get(last_key(session_id))
    if raw is None:
        return None
    try:
        return json.loads(raw)
    except json.JSONDecodeError:
        return None
