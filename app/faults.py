"""Fault switches that turn the service into a deliberately bad build (ORCHESTRA_FAULTS)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

# name -> one-line description; add new faults here and check them with `faults.active("name")`.
FAULTS: dict[str, str] = {
    "health_503": "GET /health answers 503 unhealthy even when PostgreSQL and Redis are fine",
    "chat_5xx": 'POST /chat/v2/chat answers 500 {"success": false, "error": "internal error"}',
    "slow_chat": "POST /chat/v2/chat answers after about 2.5 s (trips the load P95 gate)",
    "chat_errors_1pct": "every 100th POST /chat/v2/chat answers 500 (1 % errors; trips the load error-rate gate)",
    "chat_delay_ms": "chat_delay_ms=N: POST /chat/v2/chat waits N ms before answering (load accuracy check)",
    "ws_no_pong": "WebSocket ping frames are silently ignored (no pong)",
    "metrics_missing": "GET /metrics omits http_requests_total and http_request_duration_seconds",
    "schema_drift": "POST /chat/v2/chat answers message_id as a string and drops version (response schema drift)",
    "ws_bad_frame": 'WebSocket pong frames carry "ts" as a string, violating the message schema',
    "metric_renamed": "http_requests_total is exported as orchestra_http_requests_total",
    "server_error_on_edge": "POST /chat/v2/chat answers 500 when the message has a non-ASCII character",
    "breaking_api": "GET /features is removed from the API and its OpenAPI document (a breaking change)",
    "leaky_headers": "every response names its stack: Server with versions and X-Powered-By",
    "auth_bypass": "GET /chat/v2/sessions/{session_id}/messages accepts any bearer token, not only valid ones",
    "error_disclosure": "GET /chat/v2/sessions/{id}/messages of an unknown session answers 500 with a stack trace",
    "cors_wildcard": "every response sends Access-Control-Allow-Origin: * with Access-Control-Allow-Credentials: true",
}


# faults that take a number: name=value in ORCHESTRA_FAULTS (e.g. chat_delay_ms=250); the others take none
NUMERIC_FAULTS: frozenset[str] = frozenset({"chat_delay_ms"})


def _numeric(name: str, raw: str) -> str:
    """'name=value' normalised, or a ValueError saying what a valid value is."""
    if name not in NUMERIC_FAULTS:
        raise ValueError(f"ORCHESTRA_FAULTS: fault {name} takes no value (got {name}={raw})")
    try:
        value = float(raw)
    except ValueError:
        value = float("nan")
    if not 0 <= value <= 600_000:
        raise ValueError(f"ORCHESTRA_FAULTS: {name}={raw!r} needs a number from 0 to 600000")
    return f"{name}={value:g}"


def parse_faults(raw: str | None) -> frozenset[str]:
    """Parse a comma list of fault names (name=value for NUMERIC_FAULTS), rejecting unknown names with a ValueError."""
    parts = [part.strip() for part in (raw or "").split(",") if part.strip()]
    names = {part.partition("=")[0].strip() for part in parts}
    unknown = sorted(names - FAULTS.keys())
    if unknown:
        raise ValueError(
            f"ORCHESTRA_FAULTS: unknown fault(s) {', '.join(unknown)}; allowed: {', '.join(sorted(FAULTS))}"
        )
    out = set()
    for part in parts:
        name, eq, value = (x.strip() for x in part.partition("="))
        if eq:
            out.add(_numeric(name, value))
        elif name in NUMERIC_FAULTS:
            raise ValueError(f"ORCHESTRA_FAULTS: {name} needs a value, e.g. {name}=250")
        else:
            out.add(name)
    return frozenset(out)


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
        return name in self.names or (name in NUMERIC_FAULTS and self.value(name) is not None)

    def value(self, name: str) -> float | None:
        """The number of a numeric fault (chat_delay_ms=250 -> 250.0), None when it is off."""
        prefix = f"{name}="
        return next((float(n[len(prefix) :]) for n in self.names if n.startswith(prefix)), None)

    def __bool__(self) -> bool:
        """True when any fault is active."""
        return bool(self.names)
