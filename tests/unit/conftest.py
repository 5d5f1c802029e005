"""Shared helpers of the harness's own unit tests."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

# respond(path, headers) -> (status, body); the content type follows the body (JSON or HTML)
Respond = Callable[[str, dict[str, str]], tuple[int, bytes]]


@pytest.fixture
def http_stub() -> Iterator[Callable[[Respond], str]]:
    """serve(respond) -> base URL of a throwaway loopback HTTP server answering GETs; stopped after the test."""
    servers: list[ThreadingHTTPServer] = []

    def serve(respond: Respond) -> str:
        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802
                status, body = respond(self.path, dict(self.headers.items()))
                self.send_response(status)
                self.send_header("Content-Type", "application/json" if body[:1] in (b"{", b"[") else "text/html")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}"

    yield serve
    for server in servers:
        server.shutdown()
        server.server_close()
