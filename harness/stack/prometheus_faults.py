"""A fault-injecting proxy in front of a real Prometheus: the live suite's negative controls for absent evidence.

    proxy = PrometheusFaultProxy(target.prometheus_url).start()     # 127.0.0.1, a free port, a daemon thread
    proxy.set_fault("nan")          # the next answers carry NaN for every sample; "" = pass through
    ... run the live suite against proxy.url ...
    proxy.stop()

What a Prometheus can answer when the evidence is absent, each to be `missing` or `error`, never `pass`:

    empty     every query answers success with no series (a wrong selector, data expired, a new job)
    nan       every sample value is NaN (0/0: a rate over no requests, a histogram without buckets)
    hang      no answer at all until the client gives up (a query that runs past the client's deadline)
    timeout   Prometheus's own answer to a query that ran out of time (HTTP 503, errorType "timeout")
    no_rules  /api/v1/rules lists no rule groups (alert rules not loaded); queries pass through

Everything else (the path, the query, the token) passes through to the real server; the answer is read whole
within a deadline and a size cap. It serves loopback only and owns nothing but its thread and socket.
"""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from harness.http import FetchError, fetch

FAULTS = {
    "empty": "every query answers success with no series",
    "nan": "every sample value is NaN",
    "hang": "no answer until the client gives up",
    "timeout": 'HTTP 503 {"errorType": "timeout"}, as Prometheus answers a query that ran out of time',
    "no_rules": "/api/v1/rules lists no rule groups (alert rules not loaded)",
}
UPSTREAM_DEADLINE_S = 30.0
MAX_ANSWER_BYTES = 32 << 20
HANG_MAX_S = 120.0  # a hung answer ends at the latest then (or when the proxy stops)
QUERY_PATHS = ("/api/v1/query", "/api/v1/query_range")


def _nan(data: dict[str, Any]) -> None:
    kind, result = data.get("resultType"), data.get("result")
    if kind == "scalar" and isinstance(result, list) and len(result) == 2:
        result[1] = "NaN"
    elif kind == "vector" and isinstance(result, list):
        for r in result:
            r["value"] = [r["value"][0], "NaN"]
    elif kind == "matrix" and isinstance(result, list):
        for r in result:
            r["values"] = [[t, "NaN"] for t, _ in r.get("values") or []]


def transform(fault: str, path: str, body: dict[str, Any]) -> dict[str, Any]:
    """The answer a Prometheus with this fault would give instead of `body` (a successful API answer)."""
    data = body.get("data")
    if fault == "no_rules" and path == "/api/v1/rules":
        return {"status": "success", "data": {"groups": []}}
    if path not in QUERY_PATHS or body.get("status") != "success" or not isinstance(data, dict):
        return body
    if fault == "empty":
        kind = data.get("resultType")
        return {**body, "data": {"resultType": "vector" if kind == "scalar" else kind, "result": []}}
    if fault == "nan":
        _nan(data)
    return body


class PrometheusFaultProxy:
    """Serves the Prometheus HTTP API of `upstream` on a free loopback port, with the fault set at run time."""

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream.rstrip("/")
        self.fault = ""
        self._stop = threading.Event()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        assert self._server is not None, "the proxy is not started"
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def set_fault(self, fault: str) -> None:
        """Switch the fault ("" = none); ValueError naming the known ones otherwise."""
        if fault and fault not in FAULTS:
            raise ValueError(f"unknown Prometheus fault {fault!r}; known: {', '.join(FAULTS)}")
        self.fault = fault

    def start(self) -> PrometheusFaultProxy:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802
                proxy._answer(self)

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True, name="prometheus-faults")
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> PrometheusFaultProxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _answer(self, handler: BaseHTTPRequestHandler) -> None:
        fault, path = self.fault, handler.path.split("?", 1)[0]
        if fault == "hang":  # the client's deadline ends the exchange first; the thread ends with the fault
            until = time.monotonic() + HANG_MAX_S
            while self.fault == "hang" and time.monotonic() < until and not self._stop.wait(0.2):
                pass
            handler.close_connection = True
            return
        if fault == "timeout" and path in QUERY_PATHS:
            body = {"status": "error", "errorType": "timeout", "error": "query timed out in query execution"}
            return self._send(handler, 503, json.dumps(body).encode())
        headers = {k: v for k, v in handler.headers.items() if k.lower() in ("authorization", "accept")}
        try:
            answer = fetch(
                self.upstream + handler.path,
                deadline_s=UPSTREAM_DEADLINE_S,
                max_bytes=MAX_ANSWER_BYTES,
                headers=headers,
            )
        except FetchError as exc:
            return self._send(handler, 502, f"upstream Prometheus {self.upstream}: {exc}".encode(), "text/plain")
        raw = answer.body
        if fault:
            try:
                doc = json.loads(raw)
            except ValueError:
                doc = None
            if isinstance(doc, dict):
                raw = json.dumps(transform(fault, path, doc)).encode()
        self._send(handler, answer.status, raw)

    @staticmethod
    def _send(handler: BaseHTTPRequestHandler, status: int, raw: bytes, kind: str = "application/json") -> None:
        try:
            handler.send_response(status)
            handler.send_header("Content-Type", kind)
            handler.send_header("Content-Length", str(len(raw)))
            handler.end_headers()
            handler.wfile.write(raw)
        except OSError:  # the client gave up
            pass
