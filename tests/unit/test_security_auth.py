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
        "/sessions": {"get": {"security": [{"bearer": []}]}},
        "/sessions/{id}": {
            "get": {"security": [{"bearer": []}], "parameters": [{"name": "id", "in": "path", "required": True}]}
        },
        # validates the body before the token: 400 for every token, the right one included
        "/orders": {
            "post": {
                "security": [{"bearer": []}],
                "requestBody": {"content": {"application/json": {"schema": {"type": "object"}}}},
            }
        },
        # answers 404 for an unknown slug before it checks the token
        "/things/{slug}": {
            "get": {"security": [{"bearer": []}], "parameters": [{"name": "slug", "in": "path", "required": True}]}
        },
        "/crash": {"get": {"security": [{"bearer": []}]}},  # 500 whatever the token
    },
}
VALID = "Bearer the-real-token"


class _Api(BaseHTTPRequestHandler):
    """/chat checks the token properly; /sessions/{id} accepts any bearer token (an auth bypass) for the
    sessions /sessions lists; /orders and /things/{slug} refuse by validation before auth; /crash fails."""

    def _answer(self) -> None:
        auth = self.headers.get("Authorization") or ""
        path = self.path.split("?")[0]
        body = b""
        if path in ("/health", "/admin"):
            status = 200
        elif path == "/private":
            status = 200 if auth == VALID else 403
        elif path == "/chat":
            status = 200 if auth == VALID else 401
        elif path == "/sessions":
            status, body = (200, b'{"sessions": [{"id": "s-1", "title": "x"}]}') if auth == VALID else (401, b"")
        elif path.startswith("/sessions/"):
            known = path == "/sessions/s-1"
            status = (200 if known else 404) if auth.startswith("Bearer ") and auth.split(" ", 1)[1] else 401
        elif path == "/orders":
            status = 400
        elif path.startswith("/things/"):
            status = 404 if path != "/things/real-slug" else (200 if auth == VALID else 403)
        elif path == "/crash":
            status = 500
        else:
            status = 404
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self._answer()

    do_GET = _answer

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def api() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Api)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_every_judged_operation_gets_four_bad_credentials_and_unlisted_public_ones_one(api):
    out = check_http(DOC, api, creds=BEARER, public={"GET /health"}, timeout_s=5, examples={"slug": "real-slug"})
    assert out.skipped == []
    seen = {(p.label, p.variant): p.status for p in out.probes}
    assert ("GET /health", "no token") not in seen
    assert seen[("POST /chat", "wrong token")] == 401 and seen[("GET /private", "no token")] == 403
    assert len([p for p in out.probes if p.label == "POST /chat"]) == 4
    # the session id came from the listing: with a real id the bypass shows (with an invented one, 404 for all)
    assert any(p.url.endswith("/sessions/s-1") for p in out.probes)
    assert out.identifiers["GET /sessions/{id}"] == "id from a listing"
    # the profile's example is a real slug: the right token gets 200, no token 403: judged, no finding
    assert seen[("GET /things/{slug}", "no token")] == 403
    bad = sorted((f.details["operation"], f.rule_id) for f in out.findings)
    assert bad == [
        ("GET /admin", "auth.no_token"),
        ("GET /sessions/{id}", "auth.malformed_token"),
        ("GET /sessions/{id}", "auth.wrong_token"),
    ]
    assert all(f.blocking and f.severity == "high" for f in out.findings)
    admin = next(f for f in out.findings if f.details["operation"] == "GET /admin")
    assert "is not marked public" in admin.title
    wrong = next(f for f in out.findings if f.rule_id == "auth.wrong_token")
    assert wrong.title == "answered 200 with wrong token (the right token got 200; expected 401/403)"
    assert summary(out.probes) == f"3 of {len(out.probes)} probes not refused"


def test_a_probe_whose_control_was_refused_by_validation_or_failed_is_never_a_finding_nor_a_pass(api):
    """POST /orders answers 400 to every token, GET /things/{slug} 404 to an invented slug before auth,
    GET /crash 500: nothing the bad tokens get there can be told from the right token's answer."""
    out = check_http(DOC, api, creds=BEARER, public={"GET /health"}, timeout_s=5)
    unjudged = {u.operation: u for u in out.unjudged}
    assert set(unjudged) == {"POST /orders", "GET /things/{slug}", "GET /crash"}
    assert (
        unjudged["POST /orders"].status == 400 and "refused by validation (HTTP 400)" in unjudged["POST /orders"].reason
    )
    assert unjudged["GET /things/{slug}"].status == 404 and "[examples]" in unjudged["GET /things/{slug}"].reason
    assert unjudged["GET /crash"].status == 500 and "failed (HTTP 500)" in unjudged["GET /crash"].reason
    assert not any(f.details["operation"] in unjudged for f in out.findings)
    assert not any(p.label in unjudged for p in out.probes)  # no probe sent, so none counts as coverage
    controls = {c.label: c.status for c in out.controls}
    assert controls["POST /orders"] == 400 and controls["GET /sessions/{id}"] == 200


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
