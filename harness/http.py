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
from typing import Any, NoReturn
from urllib.parse import urlsplit

import requests
import requests.adapters
import urllib3
import urllib3.connection
import urllib3.exceptions

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


# --- requests with an end-to-end deadline per exchange ------------------------------------------------------------

MAX_ANSWER_BYTES = 32 * 1024 * 1024  # no answer a suite judges is near this; more is an error, not a memory spike
_current = threading.local()  # the exchange this thread is in, so the connection it uses can be cut at its deadline
_stalled: dict[str, str] = {}  # origin -> the first exchange with it that blew its deadline (this process)


class Stalled(Exception):  # noqa: N818 - a kind, mixed into the clients' own timeout exceptions
    """The target did not finish an exchange within its end-to-end deadline: a check that meets this could not
    judge the target (its record is `error`, see plugins/evidence.py), it is not the product failing."""


class DeadlineExceeded(requests.Timeout, Stalled):
    """The whole exchange (connect, headers, body) did not finish within the session's deadline."""


class AnswerTooLarge(requests.RequestException):
    """The answer's body was larger than the session's max_bytes."""


class _Watch:
    """A watchdog for one exchange: at the deadline it shuts down the socket of every connection the exchange
    used, so a blocked read returns at once (socket.socket.shutdown, also under TLS: the reader sees EOF)."""

    def __init__(self, deadline_s: float) -> None:
        self.fired = threading.Event()
        self._conns: list[Any] = []
        self._timer = threading.Timer(deadline_s, self._fire)
        self._timer.daemon = True

    def add(self, conn: Any) -> None:
        self._conns.append(conn)
        if self.fired.is_set():
            _shutdown(getattr(conn, "sock", None))

    def _fire(self) -> None:
        self.fired.set()
        for conn in self._conns:
            _shutdown(getattr(conn, "sock", None))

    def __enter__(self) -> _Watch:
        self._timer.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._timer.cancel()


def _shutdown(sock: socket.socket | None) -> None:
    if sock is not None:
        try:
            socket.socket.shutdown(sock, socket.SHUT_RDWR)  # the plain socket's, not SSLSocket's (no TLS teardown)
        except (OSError, TypeError, ValueError):
            pass


class _WatchedHTTPConnection(urllib3.connection.HTTPConnection):
    def request(self, *args: Any, **kwargs: Any) -> None:  # type: ignore[override]
        watch = getattr(_current, "watch", None)
        if watch is not None:
            watch.add(self)
        super().request(*args, **kwargs)


class _WatchedHTTPSConnection(urllib3.connection.HTTPSConnection):
    def request(self, *args: Any, **kwargs: Any) -> None:  # type: ignore[override]
        watch = getattr(_current, "watch", None)
        if watch is not None:
            watch.add(self)
        super().request(*args, **kwargs)


class _Pool(urllib3.HTTPConnectionPool):
    ConnectionCls = _WatchedHTTPConnection


class _TLSPool(urllib3.HTTPSConnectionPool):
    ConnectionCls = _WatchedHTTPSConnection


class _Adapter(requests.adapters.HTTPAdapter):
    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {"http": _Pool, "https": _TLSPool}


def _origin(url: str | None) -> str:
    parts = urlsplit(url or "")
    return f"{parts.scheme}://{parts.netloc}"


def stalled(url: str | None) -> str | None:
    """Why the target at url's origin is not asked again in this process (an exchange blew its deadline), or None."""
    return _stalled.get(_origin(url))


def _stall(url: str | None, why: str) -> None:
    _stalled.setdefault(_origin(url), why)


def _where(url: str | None) -> str:
    parts = urlsplit(url or "")
    return f"{parts.scheme}://{parts.netloc}{parts.path}"  # never the query string: a token may travel there


def _late(why: str, request: requests.PreparedRequest) -> NoReturn:
    """One place that raises DeadlineExceeded: a fuzzer (hypothesis) that replays a failing example sees the same
    error at the same place, not a 'flaky' one."""
    raise DeadlineExceeded(why, request=request) from None


class DeadlineSession(requests.Session):
    """A requests.Session whose every exchange ends within deadline_s end to end: connect, headers and the whole
    body, at most max_bytes of it. A socket timeout bounds each read only (a one-byte-a-second answer never trips
    it); here a watchdog cuts the connection at the deadline and the caller gets DeadlineExceeded (a
    requests.Timeout) naming the request and the deadline, AnswerTooLarge past max_bytes. After one exchange blew
    its deadline, every later exchange with the same origin (scheme, host, port) in this process fails at once with
    the first one's reason: a target that stalls is not asked again to stall the run check after check (and a
    fuzzer that replays its failing example gets the same answer without the wait).

    The body is read before send() returns, also for stream=True (resp.content holds it), except for an event
    stream (text/event-stream), which may never end: there the deadline covers the headers only."""

    def __init__(self, deadline_s: float, *, max_bytes: int = MAX_ANSWER_BYTES) -> None:
        super().__init__()
        self.deadline_s = deadline_s
        self.max_bytes = max_bytes
        for prefix in ("http://", "https://"):
            self.mount(prefix, _Adapter())

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        if getattr(_current, "watch", None) is not None:  # a redirect followed inside a watched exchange
            return super().send(request, **kwargs)
        earlier = stalled(request.url)
        if earlier is not None:
            _late(f"not asked again: {earlier}", request)
        late = f"{request.method} {_where(request.url)} did not finish answering within {self.deadline_s:g} s"
        late += " (end to end)"
        kwargs["stream"] = True
        watch = _Watch(self.deadline_s)
        _current.watch = watch
        try:
            with watch:
                resp = super().send(request, **kwargs)
                if "text/event-stream" not in resp.headers.get("content-type", ""):
                    self._read(resp)
        except (requests.RequestException, OSError, urllib3.exceptions.HTTPError):
            if watch.fired.is_set():
                _stall(request.url, late)
                _late(late, request)
            raise
        finally:
            _current.watch = None
        if watch.fired.is_set():  # the cut came as an early end of the body: what was read is not the answer
            _stall(request.url, late)
            _late(late, request)
        return resp

    def _read(self, resp: requests.Response) -> None:
        body = bytearray()
        for chunk in resp.iter_content(65536):
            body += chunk
            if len(body) > self.max_bytes:
                resp.close()
                raise AnswerTooLarge(
                    f"{resp.request.method} {_where(resp.url)} answered more than {self.max_bytes} bytes",
                    response=resp,
                )
        resp._content = bytes(body)  # what requests itself stores once .content was read
        resp._content_consumed = True


def get(url: str, *, deadline_s: float, **kwargs: Any) -> requests.Response:
    """requests.get within an end-to-end deadline (DeadlineSession)."""
    with DeadlineSession(deadline_s) as session:
        return session.get(url, timeout=kwargs.pop("timeout", deadline_s), **kwargs)


def request(method: str, url: str, *, deadline_s: float, **kwargs: Any) -> requests.Response:
    """requests.request within an end-to-end deadline (DeadlineSession)."""
    with DeadlineSession(deadline_s) as session:
        return session.request(method, url, timeout=kwargs.pop("timeout", deadline_s), **kwargs)


def ws_connect(url: str, *, deadline_s: float, **kwargs: Any) -> Any:
    """websocket.create_connection whose whole life (handshake and every frame) ends within deadline_s: the
    socket is shut down at the deadline, so a handshake or frame trickled a byte at a time ends with a
    WebSocketException instead of holding the run. The watchdog is cancelled by close()."""
    import websocket

    class WebSocketStalled(websocket.WebSocketTimeoutException, Stalled):
        pass

    earlier = stalled(url.replace("ws", "http", 1))
    if earlier is not None:
        raise WebSocketStalled(f"not asked again: {earlier}")
    ws = websocket.WebSocket(**{k: kwargs.pop(k) for k in ("sslopt", "sockopt", "enable_multithread") if k in kwargs})
    fired = threading.Event()

    def cut() -> None:
        fired.set()
        _shutdown(getattr(ws, "sock", None))

    timer = threading.Timer(deadline_s, cut)
    timer.daemon = True
    timer.start()
    close = ws.close

    def closing(*args: Any, **kw: Any) -> None:
        timer.cancel()
        close(*args, **kw)

    ws.close = closing  # type: ignore[method-assign]
    try:
        ws.connect(url, **kwargs)
    except Exception as exc:
        timer.cancel()
        if fired.is_set():
            late = f"WebSocket {_where(url)} did not finish its handshake within {deadline_s:g} s (end to end)"
            _stall(url.replace("ws", "http", 1), late)
            raise WebSocketStalled(late) from None
        raise exc from None
    return ws
