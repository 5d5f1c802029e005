"""The gate server's connections under abuse: uvicorn closes an idle keep-alive connection (timeout_keep_alive)
but has no deadline for a connection that never completes its request headers, and no connection limit that
answers JSON. GuardedH11 adds both, as Go's http.Server{ReadHeaderTimeout} and nginx's connection limits do:

- HEADER_TIMEOUT_S: a connection whose request headers are not complete this long after it opened (or after its
  last response) is closed;
- MAX_CONNECTIONS: at the limit, a new connection closes the oldest one that has no request in progress (so a
  flood of idle sockets cannot keep /healthz or a controller out); when every connection has a request in
  progress, the new one is answered 503 with a JSON body and closed.

The access log never shows a query string (a token a client put in the URL stays out of the log).
"""

from __future__ import annotations

import json
import logging
import resource
from typing import Any

from uvicorn.protocols.http.h11_impl import H11Protocol

HEADER_TIMEOUT_S = 10.0  # defaults; `harness serve` sets them from serve_header_timeout_s, serve_max_connections
MAX_CONNECTIONS = 1000
FD_WANTED = 65536  # the server raises its soft descriptor limit towards this (never above the hard limit)

BUSY = json.dumps(
    {"error": "harness serve: every connection it holds is busy with a request", "hint": "retry later"}
).encode()
BUSY_RESPONSE = (
    b"HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\nretry-after: 5\r\n"
    + f"content-length: {len(BUSY)}\r\n".encode()
    + b"connection: close\r\n\r\n"
    + BUSY
)


class GuardedH11(H11Protocol):
    """uvicorn's h11 protocol with a header deadline and a connection limit (see the module's doc)."""

    header_timeout_s = HEADER_TIMEOUT_S
    max_connections = MAX_CONNECTIONS

    def connection_made(self, transport: Any) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._opened = self.loop.time()
        self._header_timer: Any = None
        self._arm(None)
        if len(self.connections) > self.max_connections:
            idle = [c for c in self.connections if c is not self and isinstance(c, GuardedH11) and c.idle()]
            if idle:
                min(idle, key=lambda c: c._opened).close_now()
            else:
                transport.write(BUSY_RESPONSE)
                self.close_now()

    def idle(self) -> bool:
        """No request in progress: its headers never came, or its last response is complete."""
        return self.cycle is None or self.cycle.response_complete

    def close_now(self) -> None:
        self._disarm()
        if not self.transport.is_closing():
            self.transport.close()

    def _arm(self, cycle: Any) -> None:
        self._disarm()
        self._header_timer = self.loop.call_later(self.header_timeout_s, self._header_deadline, cycle)

    def _disarm(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _header_deadline(self, cycle: Any) -> None:
        self._header_timer = None
        if self.cycle is cycle and self.idle():  # no request head since the deadline was set
            self.close_now()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._arm(self.cycle)  # the next request's headers have the same deadline

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)


class NoQueryStrings(logging.Filter):
    """uvicorn.access records carry (client, method, path with query, http version, status): drop the query."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) >= 3 and isinstance(args[2], str) and "?" in args[2]:
            record.args = (*args[:2], args[2].split("?", 1)[0] + "?[query redacted]", *args[3:])
        return True


def raise_fd_limit() -> int:
    """Raise the soft RLIMIT_NOFILE towards FD_WANTED (within the hard limit); return the soft limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = FD_WANTED if hard == resource.RLIM_INFINITY else min(FD_WANTED, hard)
    if soft != resource.RLIM_INFINITY and soft < wanted:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
            soft = wanted
        except (ValueError, OSError):
            pass
    return soft
