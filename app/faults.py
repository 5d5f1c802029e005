"""Fault switches that turn the service into a deliberately bad build (ORCHESTRA_FAULTS)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

# name -> one-line description; add new faults here and check them with `faults.active("name")`.
FAULTS: dict[str, str] = {
    "health_503": "GET /health answers 503 unhealthy even when PostgreSQL and Redis are fine",
    "chat_5xx": 'POST /chat/v2/chat answers 500 {"success": false, "error": "internal error"}',
    "ws_no_pong": "WebSocket ping frames are silently ignored (no pong)",
    "metrics_missing": "GET /metrics omits http_requests_total and http_request_duration_seconds",
}


def parse_faults(raw: str | None) -> frozenset[str]:
    """Parse a comma list of fault names, rejecting unknown names with a ValueError."""
    names = {part.strip() for part in (raw or "").split(",") if part.strip()}
    unknown = sorted(names - FAULTS.keys())
    if unknown:
        raise ValueError(
            f"ORCHESTRA_FAULTS: unknown fault(s) {', '.join(unknown)}; allowed: {', '.join(sorted(FAULTS))}"
        )
    return frozenset(names)


@dataclass(frozen=True)
class Faults:
    """The set of active faults for one app instance."""

    names: frozenset[str] = frozenset()

    @classmethod
    def of(cls, names: Iterable[str]) -> Faults:
        """Build from already-validated names."""
        return cls(frozenset(names))

    def active(self, name: str) -> bool:
        """True when the named fault is switched on; unknown names are a programming error."""
        if name not in FAULTS:
            raise KeyError(f"unregistered fault {name!r}")
        return name in self.names

    def __bool__(self) -> bool:
        """True when any fault is active."""
        return bool(self.names)
