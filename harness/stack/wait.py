"""Readiness as objects with a timeout: poll a probe until it answers, the process dies, or time runs out."""

from __future__ import annotations

import socket
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from harness.errors import StackError
from harness.http import MAX_PROBE_BYTES, FetchError, fetch


class Probe(Protocol):
    """One readiness attempt: return None when ready, else a short reason why not yet."""

    what: str

    def __call__(self) -> str | None: ...


@dataclass(slots=True)
class HttpAnswers:
    """Ready when url answers any HTTP status, headers and body complete within timeout_s and at most
    max_bytes (the app is up; whether it is healthy is for the suites). A trickling or endless answer is
    not ready."""

    url: str
    what: str = "HTTP"
    timeout_s: float = 2.0
    context: ssl.SSLContext | None = None  # https: how to check the server's certificate
    max_bytes: int = MAX_PROBE_BYTES

    def __call__(self) -> str | None:
        try:
            fetch(self.url, deadline_s=self.timeout_s, max_bytes=self.max_bytes, context=self.context)
        except FetchError as exc:
            return str(exc)
        return None


@dataclass(slots=True)
class TcpAccepts:
    """Ready when host:port accepts a TCP connection."""

    host: str
    port: int
    what: str = "TCP"

    def __call__(self) -> str | None:
        try:
            with socket.create_connection((self.host, self.port), timeout=1.0):
                return None
        except OSError as exc:
            return exc.strerror or str(exc)


@dataclass(slots=True)
class Callback:
    """Ready when fn() returns without raising (e.g. a PostgreSQL connect, a Redis PING)."""

    fn: Callable[[], object]
    what: str

    def __call__(self) -> str | None:
        try:
            self.fn()
            return None
        except Exception as exc:  # noqa: BLE001 - any failure means "not yet"
            return str(exc).splitlines()[0] if str(exc) else type(exc).__name__


def wait_until(
    probe: Probe,
    timeout_s: float,
    *,
    alive: Callable[[], str | None] | None = None,
    interval_s: float = 0.05,
    max_interval_s: float = 0.5,
) -> None:
    """Poll probe until ready; raise StackError naming what did not come up and the last reason."""
    deadline = time.monotonic() + timeout_s
    last = "not tried"
    while True:
        if alive is not None and (died := alive()) is not None:
            raise StackError(f"{probe.what} exited before it was ready: {died}")
        reason = probe()
        if reason is None:
            return
        last = reason
        if time.monotonic() >= deadline:
            raise StackError(f"{probe.what} was not ready after {timeout_s:g} s: {last}")
        time.sleep(interval_s)
        interval_s = min(interval_s * 1.5, max_interval_s)
