"""One HTTP exchange with a deadline for the whole of it: connect, headers and body, and a size limit.

A socket timeout bounds each read, not the answer: a server that trickles one byte a second never times
out. fetch() arms a watchdog that shuts the socket down when the deadline passes, so nothing it does can
take longer than `deadline_s` (plus the time to notice), and it stops reading past `max_bytes`.
"""

from __future__ import annotations

import http.client
import socket
import ssl
import threading
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

MAX_PROBE_BYTES = 1 << 20  # 1 MiB: more than any /health answer needs


class FetchError(Exception):
    """The exchange did not complete: the message says why in a few words (for a one-line reason)."""


@dataclass(slots=True)
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes


def fetch(
    url: str,
    *,
    deadline_s: float,
    max_bytes: int = MAX_PROBE_BYTES,
    context: ssl.SSLContext | None = None,
    headers: dict[str, str] | None = None,
    method: str = "GET",
) -> Answer:
    """GET url and read the whole answer within deadline_s, at most max_bytes of body; FetchError otherwise."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise FetchError(f"not an http(s) URL: {url}")
    try:
        port = parts.port
    except ValueError:
        raise FetchError(f"bad port in {url}") from None
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    if parts.scheme == "https":
        conn: http.client.HTTPConnection = http.client.HTTPSConnection(
            parts.hostname, port, timeout=deadline_s, context=context
        )
    else:
        conn = http.client.HTTPConnection(parts.hostname, port, timeout=deadline_s)
    fired = threading.Event()

    def abort() -> None:
        fired.set()
        sock = conn.sock
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    watchdog = threading.Timer(deadline_s, abort)
    watchdog.daemon = True
    start = time.monotonic()
    watchdog.start()
    try:
        conn.request(method, target, headers=headers or {})
        resp = conn.getresponse()
        body = bytearray()
        while chunk := resp.read1(65536):
            body += chunk
            if len(body) > max_bytes:
                raise FetchError(f"answered more than {max_bytes} bytes")
        if fired.is_set():  # the watchdog cut the socket: what was read is not the whole answer
            raise FetchError(f"did not finish answering within {deadline_s:g} s")
        return Answer(resp.status, {k.lower(): v for k, v in resp.getheaders()}, bytes(body))
    except FetchError:
        raise
    except (OSError, http.client.HTTPException, ValueError) as exc:
        if fired.is_set() or time.monotonic() - start >= deadline_s:
            raise FetchError(f"did not finish answering within {deadline_s:g} s") from None
        if isinstance(exc, ssl.SSLError | ssl.CertificateError):
            raise FetchError(f"TLS failed: {getattr(exc, 'reason', None) or exc}") from None
        if isinstance(exc, http.client.HTTPException):
            raise FetchError(f"did not answer HTTP ({type(exc).__name__})") from None
        reason = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
        raise FetchError(reason) from None
    finally:
        watchdog.cancel()
        conn.close()
