"""Fault switches that turn the service into a deliberately bad build (ORCHESTRA_FAULTS, or switched at run
time through the harness's admin endpoint, app/routes/admin.py). Every fault is read per request, so a
switch takes effect on the next request; with every fault off the app behaves exactly as the clean build."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

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
    "metrics_down": "GET /metrics answers 503: Prometheus stops scraping the app (up == 0, its series go stale)",
    "server_error_on_edge": "POST /chat/v2/chat answers 500 when the message has a non-ASCII character",
    "breaking_api": "GET /features is removed from the API and its OpenAPI document (a breaking change)",
    "leaky_headers": "every response names its stack: Server with versions and X-Powered-By",
    "auth_bypass": "GET /chat/v2/sessions/{session_id}/messages accepts any bearer token, not only valid ones",
    "error_disclosure": "GET /chat/v2/sessions/{id}/messages of an unknown session answers 500 with a stack trace",
    "cors_wildcard": "every response sends Access-Control-Allow-Origin: * with Access-Control-Allow-Credentials: true",
    "roundtrip_no_store": "POST /chat/v2/chat answers success but stores nothing (neither PostgreSQL nor Redis)",
    "session_messages_404": (
        "GET /chat/v2/sessions/{session_id}/messages answers 404 even for a session that exists "
        "(the target of the chat operation's OpenAPI link is broken)"
    ),
    "ws_refuse_every": "ws_refuse_every=N: every Nth WebSocket handshake (per app process) is refused with HTTP 503",
    "throughput_cap_rps": (
        "throughput_cap_rps=N: each app process starts at most N requests per second (HTTP requests, WebSocket "
        "handshakes and frames wait their turn): throughput collapses"
    ),
    "irreversible_migration": (
        "the 0002 -> 0001 downgrade (python -m app migrate downgrade 0001, run with this build's faults in "
        "ORCHESTRA_FAULTS) rebuilds chat_messages.content and loses every message's text"
    ),
    "downgrade_raises": "the 0002 -> 0001 downgrade raises (a migration that cannot be undone)",
    "downgrade_delay_s": "downgrade_delay_s=N: the 0002 -> 0001 downgrade takes N seconds longer (a slow rollback)",
    "flags_switch_ignored": "GET /features ignores the flag service's run-time switches (flags switched off stay on)",
    "flag_bucket_skew": "GET /features buckets users with sha1 instead of the guide's md5 (same shares, other users)",
    "allowlist_ignored": "GET /features ignores every flag's allowlist (allowlisted users get the percentage)",
    "v2_api_rollout_pct": "v2_api_rollout_pct=N: the v2_api flag rolls out to N % of users, whatever its config says",
    "cache_leak": (
        "every chat turn also caches the session under orchestra:v2:session:<id>:last, a prefix the rollback's "
        "cache invalidation (v2:*, feature_flags:*, sessions:*) misses"
    ),
    "error_burst": (
        "error_burst[=PCT]: PCT % of POST /chat/v2/chat calls (per app process, spread evenly; default 10) answer 500 "
        "(trips the live 5xx-rate gate and the canary judge's error metric)"
    ),
    "latency_regression": (
        "latency_regression[=PCT]: POST /chat/v2/chat takes PCT % longer than it would (default 50): after its "
        "work it waits that share of the time the request took so far (trips the canary judge's latency metric)"
    ),
    "ws_leak": (
        "WebSocket connections are counted but never released: websocket_connections climbs with every "
        "connection ever made (trips the live WebSocket gate)"
    ),
    "ws_leaked_slots": (
        "ws_leaked_slots=N: N WebSocket connection slots leak: websocket_connections reports N more than are "
        "open and the connection limit counts them"
    ),
    "fail_first": (
        "fail_first=N: the first N HTTP calls of each operation (method and route, per app process, counted from "
        "the switch) answer 503; later calls are served (a transient failure: a re-run check passes: flaky)"
    ),
}


@dataclass(frozen=True, slots=True)
class Numeric:
    """The value range of a fault that takes a number."""

    low: float
    high: float
    integer: bool = False
    example: str = "250"
    default: float | None = None  # the value of the bare name (error_burst = error_burst=10); None: needs one


# faults that take a number: name=value (e.g. chat_delay_ms=250); the others take none
NUMERIC_FAULTS: dict[str, Numeric] = {
    "chat_delay_ms": Numeric(0, 600_000, example="250"),
    "ws_refuse_every": Numeric(1, 1_000_000, integer=True, example="10"),
    "throughput_cap_rps": Numeric(0.1, 1_000_000, example="100"),
    "ws_leaked_slots": Numeric(0, 1_000_000, integer=True, example="950"),
    "downgrade_delay_s": Numeric(0, 3600, example="2"),
    "v2_api_rollout_pct": Numeric(0, 100, integer=True, example="25"),
    "error_burst": Numeric(0.1, 100, example="10", default=10),
    "latency_regression": Numeric(1, 10_000, example="30", default=50),
    "fail_first": Numeric(1, 100, integer=True, example="1", default=1),
}


def _numeric(name: str, raw: str, source: str) -> str:
    """'name=value' normalised, or a ValueError saying what a valid value is."""
    spec = NUMERIC_FAULTS.get(name)
    if spec is None:
        raise ValueError(f"{source}: fault {name} takes no value (got {name}={raw})")
    try:
        value = float(raw)
    except ValueError:
        value = float("nan")
    kind = "an integer" if spec.integer else "a number"
    if not spec.low <= value <= spec.high or (spec.integer and not value.is_integer()):
        raise ValueError(f"{source}: {name}={raw!r} needs {kind} from {spec.low:g} to {spec.high:g}")
    return f"{name}={value:g}"


def parse_faults(raw: str | None, source: str = "ORCHESTRA_FAULTS") -> frozenset[str]:
    """Parse a comma list of fault names (name=value for NUMERIC_FAULTS), rejecting unknown names with a
    ValueError whose message starts with `source` (the variable or field the list came from)."""
    parts = [part.strip() for part in (raw or "").split(",") if part.strip()]
    names = {part.partition("=")[0].strip() for part in parts}
    unknown = sorted(names - FAULTS.keys())
    if unknown:
        raise ValueError(f"{source}: unknown fault(s) {', '.join(unknown)}; allowed: {', '.join(sorted(FAULTS))}")
    out: dict[str, str] = {}
    for part in parts:
        name, eq, value = (x.strip() for x in part.partition("="))
        if eq:
            out[name] = _numeric(name, value, source)
        elif name in NUMERIC_FAULTS and NUMERIC_FAULTS[name].default is not None:
            out[name] = f"{name}={NUMERIC_FAULTS[name].default:g}"
        elif name in NUMERIC_FAULTS:
            raise ValueError(f"{source}: {name} needs a value, e.g. {name}={NUMERIC_FAULTS[name].example}")
        else:
            out[name] = name
    return frozenset(out.values())  # a repeated numeric fault: the last value wins


@dataclass(frozen=True)
class Faults:
    """The set of active faults for one app instance (replaced as a whole when switched at run time)."""

    names: frozenset[str] = frozenset()
    _values: dict[str, float] = field(default_factory=dict, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        for n in self.names:
            name, eq, value = n.partition("=")
            if eq:
                self._values[name] = float(value)

    @classmethod
    def of(cls, names: Iterable[str]) -> Faults:
        """Build from already-validated names."""
        return cls(frozenset(names))

    def active(self, name: str) -> bool:
        """True when the named fault is switched on; unknown names are a programming error."""
        if name not in FAULTS:
            raise KeyError(f"unregistered fault {name!r}")
        return name in self.names or name in self._values

    def value(self, name: str) -> float | None:
        """The number of a numeric fault (chat_delay_ms=250 -> 250.0), None when it is off."""
        return self._values.get(name)

    @property
    def text(self) -> str:
        """The canonical ORCHESTRA_FAULTS form: sorted, comma-separated ('' when clean)."""
        return ",".join(sorted(self.names))

    def __bool__(self) -> bool:
        """True when any fault is active."""
        return bool(self.names)


def from_env(environ: dict[str, str] | None = None) -> Faults:
    """The faults ORCHESTRA_FAULTS names in this process's environment (a migration run reads them so)."""
    import os

    return Faults.of(parse_faults((environ if environ is not None else os.environ).get("ORCHESTRA_FAULTS")))
