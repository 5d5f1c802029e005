"""Cache invalidation for a rollback, done as the deployment guide means it.

The guide's snippet deletes `feature_flags:*` and `sessions:*` with DEL, which takes key names, not
patterns: it removes keys literally named with a star and leaves every real key in place. The harness
walks each pattern with SCAN (non-blocking, cursor by cursor) and removes what it finds with UNLINK
(the memory is freed in the background), in batches.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

# the guide's "Cache Invalidation": every v2 cache key, the feature-flag cache, the session data
GUIDE_PATTERNS: tuple[str, ...] = ("v2:*", "feature_flags:*", "sessions:*")
BATCH = 500


def guide_snippet(client: Any) -> None:
    """The guide's clear_deployment_cache() as written (kept to show what it leaves behind; never used)."""
    for key in client.scan_iter("v2:*"):
        client.delete(key)
    client.delete("feature_flags:*")
    client.delete("sessions:*")


def invalidate(client: Any, patterns: Iterable[str] = GUIDE_PATTERNS, batch: int = BATCH) -> int:
    """UNLINK every key matching any pattern (SCAN MATCH, `batch` keys per round trip); how many went."""
    removed = 0
    for pattern in patterns:
        pending: list[Any] = []
        for key in client.scan_iter(match=pattern, count=batch):
            pending.append(key)
            if len(pending) >= batch:
                removed += int(client.unlink(*pending))
                pending.clear()
        if pending:
            removed += int(client.unlink(*pending))
    return removed


def remaining(client: Any, patterns: Iterable[str], limit: int = 20) -> list[str]:
    """Up to `limit` keys still matching any pattern (SCAN), as text."""
    found: list[str] = []
    for pattern in patterns:
        for key in client.scan_iter(match=pattern, count=BATCH):
            found.append(key.decode() if isinstance(key, bytes) else str(key))
            if len(found) >= limit:
                return found
    return found
