"""Auth probes against a local server whose answers the test controls (the real app: tests/e2e)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from harness.security.auth import check_http, check_websocket, summary
from harness.service.auth import Credentials, TokenSource
from harness.service.profile import Auth

BEARER = Credentials(Auth(), TokenSource("http://unused", static="the-real-token"))

DOC = {
    "openapi": "3.1.0",
    "paths": {
        "/health": {"get": {}},
        "/admin": {"get": {}},  # no security requirement, not listed as public
        "/private": {"get": {}},  # no security requirement, not listed, but refuses anonymous calls
        "/chat": {"post": {"security": [{"bearer": []}]}},
        "/sessions/{id}": {
            "get": {"security": [{"bearer": []}], "parameters": [{"name": "id", "in": "path", "required": True}]}
        },
    },
}
VALID = "Bearer the-real-token"


class _Api(BaseHTTPRequestHandler):
    """/chat checks the token properly; /sessions/{id} accepts any bearer token (an auth bypass)."""

    def _answer(self) -> None:
        auth = self.headers.get("Authorization") or ""
        path = self.path.split("?")[0]
        if path in ("/health", "/admin"):
            status = 200
        elif path == "/private":
            status = 403
        elif path == "/chat":
            status = 200 if auth == VALID else 401
        elif path.startswith("/sessions/"):
            status = 404 if auth.startswith("Bearer ") and auth.split(" ", 1)[1] else 401
        else:
            status = 404
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    do_GET = do_POST = _answer

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def api() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Api)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_every_protected_operation_gets_four_bad_credentials_and_unlisted_public_ones_one(api):
    probes, findings, skipped = check_http(DOC, api, creds=BEARER, public={"GET /health"}, timeout_s=5)
    assert skipped == []
    seen = {(p.label, p.variant): p.status for p in probes}
    assert ("GET /health", "no token") not in seen
    assert seen[("POST /chat", "wrong token")] == 401 and seen[("GET /private", "no token")] == 403
    assert len([p for p in probes if p.label == "POST /chat"]) == 4
    bad = sorted((f.details["operation"], f.rule_id) for f in findings)
    assert bad == [
        ("GET /admin", "auth.no_token"),
        ("GET /sessions/{id}", "auth.malformed_token"),
        ("GET /sessions/{id}", "auth.wrong_token"),
    ]
    assert all(f.blocking and f.severity == "high" for f in findings)
    admin = next(f for f in findings if f.details["operation"] == "GET /admin")
    assert "is not marked public" in admin.title
    assert summary(probes) == f"3 of {len(probes)} probes not refused"


def test_a_websocket_endpoint_that_does_not_refuse_in_the_handshake_is_named(api):
    """A plain HTTP server answers the upgrade with 404: not a 401/403 refusal."""
    ws = api.replace("http://", "ws://")
    probes, findings = check_websocket(
        ws, ["/ws/{user_id}/{session_id}"], creds=BEARER, anonymous="refuse", timeout_s=5
    )
    assert [p.variant for p in probes] == ["malformed token", "wrong token", "wrong query token", "no token"]
    assert all(p.status == 404 for p in probes)
    assert len(findings) == 4 and "not refused in the handshake (handshake refused with HTTP 404" in findings[0].title
    assert findings[0].where.startswith("WS ws://127.0.0.1:") and "/ws/security-probe/auth-probe" in findings[0].where
