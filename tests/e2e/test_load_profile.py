"""The load suite against a service described by a profile: its own endpoints, its auth scheme, and login
tokens that expire during the run (issue 11: "a token that expires during the run is refreshed without
errors").

The service is a small HTTP server started by the test on loopback (an external target: `harness load
--target`, allowed because it is loopback), with the second example service's contract: login at
POST /api/auth/login answering {"access", "expires_in"}, `Authorization: Token <token>` on /api/* (or, in
two variants, the token as a query parameter or a cookie, as the profile says), a health
path of its own (/healthz), no WebSocket and no metrics. Its tokens live 2 s; the load runs 10 s. It counts
what it received, so the test can say how many logins there were and that no unsafe method arrived.
"""

from __future__ import annotations

import json
import secrets
import subprocess
import sys
import threading
import time
from http.cookies import SimpleCookie
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs

import pytest

from .conftest import ROOT, harness_env

PASSWORD = "alice-password-for-load-1"
TTL_S = 2.0
DURATION_S = "10"
POLICY = """
[phases.load]
gates = [{ id = "load.rps", threshold = 20, about = "e2e: 20 req/s (gate logic, not capacity)" }]
# the profile lists POST /api/accounts, which a run against a deployment leaves out: the team's policy drops it
# from the phase (without this the load gates are not run: a load that left out traffic is no pass)
drop = ["POST /api/accounts"]
"""
PROFILE = """
name = "token-service"
[paths]
health = "/healthz"
[auth]
{auth}
[auth.login]
path = "/api/auth/login"
json = {{ username = "alice", password = "{{env:TOKEN_SERVICE_PASSWORD}}" }}
token_field = "access"
refresh_margin = {margin}
[operations]
public = ["GET /healthz"]
[load]
traffic = "endpoints"
[[load.endpoints]]
path = "/api/accounts"
weight = 3
[[load.endpoints]]
path = "/api/rates"
[[load.endpoints]]
method = "POST"
path = "/api/accounts"
json = {{ owner = "load" }}
[[load.endpoints]]
path = "/healthz"
auth = false
"""


OPENAPI = {
    "openapi": "3.1.0",
    "info": {"title": "token service", "version": "1"},
    "components": {"securitySchemes": {"TokenAuth": {"type": "apiKey", "in": "header", "name": "Authorization"}}},
    "security": [{"TokenAuth": []}],
    "paths": {
        "/healthz": {"get": {"security": [], "responses": {"200": {"description": "up"}}}},
        "/api/auth/login": {"post": {"security": [], "responses": {"200": {"description": "a token"}}}},
        "/api/accounts": {
            "get": {"responses": {"200": {"description": "the accounts"}}},
            "post": {"responses": {"201": {"description": "created"}}},
        },
        "/api/accounts/{account_id}": {
            "get": {
                "parameters": [
                    {"in": "path", "name": "account_id", "required": True, "schema": {"type": "integer"}, "example": 7}
                ],
                "responses": {"200": {"description": "one account"}},
            },
            "delete": {"responses": {"204": {"description": "deleted"}}},
        },
        "/api/rates": {"get": {"responses": {"200": {"description": "the rates"}}}},
    },
}
HEADER = 'scheme = "header"\nname = "Authorization"\nprefix = "Token "'
SCHEMES = {  # how the profile says the token travels -> what the service reads
    "header": HEADER,
    "query": 'scheme = "query"\nname = "access_token"',
    "cookie": 'scheme = "cookie"\nname = "session"',
}


class TokenService(ThreadingHTTPServer):
    """Issues tokens that live `valid_s` (and says they live `says_s`), refuses expired ones with 401; reads
    the token where `scheme` says (`Authorization: Token <t>`, ?access_token=<t>, or the cookie session=<t>)."""

    daemon_threads = True

    def __init__(self, valid_s: float, says_s: float, scheme: str = "header") -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.valid_s, self.says_s, self.scheme = valid_s, says_s, scheme
        self.tokens: dict[str, float] = {}
        self.lock = threading.Lock()
        self.logins = 0
        self.expired = 0  # requests refused because their token had expired
        self.methods: dict[str, int] = {}
        self.thread = threading.Thread(target=self.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def close(self) -> None:
        self.shutdown()
        self.server_close()
        self.thread.join(timeout=5)


class Handler(BaseHTTPRequestHandler):
    server: TokenService
    protocol_version = "HTTP/1.1"

    def log_message(self, *_args) -> None:  # quiet
        pass

    def _send(self, status: int, doc: object) -> None:
        body = json.dumps(doc).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _count(self) -> None:
        with self.server.lock:
            self.server.methods[self.command] = self.server.methods.get(self.command, 0) + 1

    def do_POST(self) -> None:
        self._count()
        length = int(self.headers.get("Content-Length") or 0)
        body = json.loads(self.rfile.read(length) or b"{}")
        if self.path != "/api/auth/login":
            return self._send(405, {"detail": "method not allowed"})
        if body.get("username") != "alice" or body.get("password") != PASSWORD:
            return self._send(401, {"detail": "unknown user or wrong password"})
        token = secrets.token_urlsafe(24)
        with self.server.lock:
            self.server.tokens[token] = time.monotonic() + self.server.valid_s
            self.server.logins += 1
        return self._send(200, {"access": token, "token_type": "Token", "expires_in": self.server.says_s})

    def _token(self, query: str) -> str | None:
        if self.server.scheme == "query":
            return (parse_qs(query).get("access_token") or [None])[0]
        if self.server.scheme == "cookie":
            cookies = SimpleCookie(self.headers.get("Cookie") or "")
            return cookies["session"].value if "session" in cookies else None
        scheme, _, token = (self.headers.get("Authorization") or "").partition(" ")
        return token if scheme == "Token" else None

    def do_GET(self) -> None:
        self._count()
        path, _, query = self.path.partition("?")
        if path == "/healthz":
            return self._send(200, {"status": "ok"})
        if path == "/api/openapi.json":
            return self._send(200, OPENAPI)
        if path not in ("/api/accounts", "/api/rates", "/api/accounts/7"):
            return self._send(404, {"detail": "not found"})
        token = self._token(query)
        with self.server.lock:
            until = self.server.tokens.get(token) if token else None
            if until is not None and until <= time.monotonic():
                self.server.expired += 1
        if until is None or until <= time.monotonic():
            return self._send(401, {"detail": "missing, unknown or expired token"})
        return self._send(200, {"accounts": []} if path == "/api/accounts" else {"EUR": 1.0})


@pytest.fixture
def service_factory():
    made: list[TokenService] = []

    def make(valid_s: float, says_s: float, scheme: str = "header") -> TokenService:
        made.append(TokenService(valid_s, says_s, scheme))
        return made[-1]

    yield make
    for s in made:
        s.close()


def run_load(tmp_path, url: str, margin: float, password: str = PASSWORD, scheme: str = "header", openapi=False):
    profile = tmp_path / "service.toml"
    text = PROFILE.format(margin=margin, auth=SCHEMES[scheme])
    if openapi:  # the same service, its traffic generated from its OpenAPI document
        text = text.replace('health = "/healthz"', 'health = "/healthz"\nopenapi = "/api/openapi.json"')
        text = text.split("[load]")[0] + '[load]\ntraffic = "openapi"\n'
    profile.write_text(text)
    policy = tmp_path / "policy.toml"
    policy.write_text(POLICY)
    reports = tmp_path / "reports"
    argv = [sys.executable, "-m", "harness.cli", "load", "--target", url, "--service", str(profile)]
    argv += ["--profile", "smoke", "--reports-dir", str(reports), "--policy-file", str(policy)]
    env = harness_env(
        HARNESS_STACK="auto",  # harness_env pins local, which contradicts --target
        HARNESS_LOAD_DURATION_S=DURATION_S,
        HARNESS_LOAD_USERS="10",
        TOKEN_SERVICE_PASSWORD=password,
    )
    done = subprocess.run(argv, capture_output=True, text=True, timeout=120, cwd=ROOT, env=env, check=False)
    return done, reports


def judged(reports) -> tuple[dict, dict, dict]:
    doc = json.loads((reports / "verdict.json").read_text())
    statuses = {g["id"]: g["status"] for g in doc["gates"]}
    summary = json.loads((reports / "load" / "endpoints.json").read_text())
    return doc, statuses, summary


@pytest.mark.parametrize(
    ("valid_s", "says_s", "margin", "scheme"),
    [
        (TTL_S, TTL_S, 0.25, "header"),  # refreshed before expiry
        (TTL_S, 2 * TTL_S, 0.0, "header"),  # the service refuses tokens before the time it said: 401, retry
        (TTL_S, TTL_S, 0.25, "query"),
        (TTL_S, TTL_S, 0.25, "cookie"),
    ],
    ids=["refresh-before-expiry", "refused-early-401-retry", "query-parameter", "cookie"],
)
def test_tokens_expiring_during_the_run_are_refreshed_without_errors(
    tmp_path, service_factory, valid_s, says_s, margin, scheme
):
    service = service_factory(valid_s, says_s, scheme)
    done, reports = run_load(tmp_path, service.url, margin, scheme=scheme)
    out = done.stdout + done.stderr
    assert done.returncode == 0, out
    assert "Traceback" not in out
    doc, statuses, summary = judged(reports)
    assert doc["verdict"] == "go", doc["reasons"]
    assert all(statuses[g] == "pass" for g in ("load.run", "load.p95_ms", "load.error_ratio", "load.rps"))
    # no WebSocket path in the profile: no WebSocket users, and the gate says why it does not apply
    assert statuses["load.ws_connect_ratio"] == "not_applicable"
    reason = next(r for r in doc["gates"] if r["id"] == "load.ws_connect_ratio")
    assert "no WebSocket path" in json.dumps(reason)
    assert not any(e["method"] == "WS" for e in summary["endpoints"])
    # zero errors over a run five token lifetimes long, and the tokens were renewed (logins counted apart)
    assert summary["measurements"]["failures"] == 0 and summary["failures"] == [], summary["failures"]
    names = {e["name"]: e["requests"] for e in summary["endpoints"]}
    assert set(names) == {"GET /api/accounts", "GET /api/rates", "GET /healthz"}, names
    assert all(n > 0 for n in names.values())
    assert summary["auth"]["logins"] > 1 and summary["auth"]["login_failures"] == 0, summary["auth"]
    assert service.logins == summary["auth"]["logins"]  # what the service saw is what the harness says
    assert "POST /api/auth/login" not in names  # the logins are not load traffic
    if margin == 0.0:
        assert service.expired > 0 and summary["auth"]["retries_401"] > 0, (service.expired, summary["auth"])
    # the listed POST endpoint was left out (the team's policy dropped it), and said; never called
    assert set(service.methods) == {"GET", "POST"} and service.methods["POST"] == service.logins
    assert any(x.startswith("POST /api/accounts: dropped from the phase") for x in summary["traffic"]["excluded"])
    assert summary["traffic"]["not_run"] == []
    # the password and the tokens stay out of every report
    for path in [*reports.rglob("*")]:
        if path.is_file():
            text = path.read_text(errors="replace")
            assert PASSWORD not in text and not any(t in text for t in list(service.tokens)[:50]), path


def test_a_refused_login_is_no_go_on_the_error_gate(tmp_path, service_factory):
    service = service_factory(TTL_S, TTL_S)
    done, reports = run_load(tmp_path, service.url, 0.25, password="not-the-password-of-alice")
    out = done.stdout + done.stderr
    assert done.returncode == 1, out
    assert "Traceback" not in out
    doc, statuses, summary = judged(reports)
    assert statuses["load.error_ratio"] == "fail"
    assert summary["auth"]["logins"] == 0 and summary["auth"]["login_failures"] > 0, summary["auth"]
    # every protected request went without a token and was refused; the health probes were not
    rows = {e["name"]: e for e in summary["endpoints"]}
    assert rows["GET /api/accounts"]["failures"] == rows["GET /api/accounts"]["requests"] > 0
    assert rows["GET /healthz"]["failures"] == 0


def test_openapi_traffic_is_generated_from_the_services_document(tmp_path, service_factory):
    service = service_factory(TTL_S, TTL_S)
    done, reports = run_load(tmp_path, service.url, 0.25, openapi=True)
    out = done.stdout + done.stderr
    assert done.returncode == 0, out
    doc, statuses, summary = judged(reports)
    assert doc["verdict"] == "go", doc["reasons"]
    assert statuses["load.ws_connect_ratio"] == "not_applicable"
    assert summary["traffic"]["kind"] == "openapi"
    names = {e["name"]: e["requests"] for e in summary["endpoints"]}
    # the document's GET operations, the path parameter from its example (7); no unsafe method, no login call
    assert set(names) == {"GET /healthz", "GET /api/accounts", "GET /api/accounts/{account_id}", "GET /api/rates"}
    assert all(n > 0 for n in names.values()) and summary["failures"] == [], summary["failures"]
    excluded = "\n".join(summary["traffic"]["excluded"])
    for op in ("POST /api/auth/login", "POST /api/accounts", "DELETE /api/accounts/{account_id}"):
        assert f"{op}: traffic = 'openapi' sends only GET and HEAD" in excluded
    assert set(service.methods) == {"GET", "POST"} and service.methods["POST"] == service.logins > 1
