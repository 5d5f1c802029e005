"""The auth probes follow the service profile: the scheme (`Token`, a query parameter, a cookie), a login as
the token source, public and optional-auth markings, role separation with a low-privilege identity, and the
run's scope on a target the harness did not start. Against a local stand-in service whose answers the test
controls (the real second service is examples/ledger, in tests/e2e)."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from harness.credentials import credentials_problem
from harness.evidence import Evidence
from harness.security.auth import check_http, check_roles, control_problem, positive_controls
from harness.security.findings import Finding
from harness.security.report import Reports
from harness.service.auth import PLACEHOLDER, Credentials, TokenSource, credentials_for
from harness.service.operations import Scope
from harness.service.profile import Auth, Identity, Login, Operations, Profile, ServiceProfile
from harness.target import Target

ROOT = Path(__file__).resolve().parents[2]

SECURED = [{"token": []}]
DOC = {
    "openapi": "3.1.0",
    "paths": {
        "/health": {"get": {}},
        "/feed": {"get": {}},  # optional auth: answers with or without a token
        "/accounts": {
            "get": {"security": SECURED},
            "post": {
                "security": SECURED,
                "requestBody": {
                    "content": {
                        "application/json": {
                            "schema": {"type": "object", "required": ["owner"], "properties": {"owner": {}}}
                        }
                    }
                },
            },
        },
        "/accounts/{account_id}": {
            "delete": {
                "security": SECURED,
                "parameters": [{"name": "account_id", "in": "path", "required": True, "schema": {"type": "integer"}}],
            }
        },
        "/admin/reset": {"post": {"security": SECURED, "tags": ["admin"]}},
    },
}
ADMIN_ONLY = ("DELETE /accounts/{account_id}", "POST /admin/reset")


class Service:
    """The stand-in's state: the tokens it issued (token -> role), what it received, and its faults."""

    def __init__(self) -> None:
        self.tokens: dict[str, str] = {}
        self.received: list[tuple[str, str, dict[str, str], dict[str, str], dict[str, str]]] = []
        self.logins = 0
        self.role_bypass = False
        self.scheme = "header"
        self.accounts = {n: {"id": n, "owner": f"owner-{n}"} for n in range(1, 9)}

    def issue(self, role: str) -> str:
        token = f"{role}-{secrets.token_urlsafe(16)}"
        self.tokens[token] = role
        return token

    def token_of(self, headers: dict[str, str], query: dict[str, str], cookies: dict[str, str]) -> str | None:
        if self.scheme == "query":
            return query.get("access_token")
        if self.scheme == "cookie":
            return cookies.get("session")
        value = headers.get("Authorization", "")
        return value.removeprefix("Token ") if value.startswith("Token ") else None

    def answer(self, method: str, path: str, headers: dict[str, str], query: dict[str, str], cookies: dict[str, str],
               body: Any) -> tuple[int, Any]:  # fmt: skip
        self.received.append((method, path, headers, query, cookies))
        if (method, path) == ("POST", "/login"):
            self.logins += 1
            users = {"alice": "admin", "bob": "user"}
            if body.get("password") != f"{body.get('username')}-password-1" or body.get("username") not in users:
                return 401, {"detail": "bad credentials"}
            return 200, {"access": self.issue(users[body["username"]]), "expires_in": 60}
        if path in ("/openapi.json", "/api/schema.json"):
            return 200, DOC
        if path in ("/health", "/feed"):
            return 200, {"ok": True}
        role = self.tokens.get(self.token_of(headers, query, cookies) or "")
        if role is None:
            return 401, {"detail": "not authenticated"}
        if path.startswith("/accounts/") or path == "/admin/reset":
            if role != "admin" and not self.role_bypass:
                return 403, {"detail": "admins only"}
            if path == "/admin/reset":
                return 200, {}
            gone = self.accounts.pop(int(path.rsplit("/", 1)[1]) if path.rsplit("/", 1)[1].isdigit() else 0, None)
            return (204 if gone else 404), {}
        if path == "/accounts":
            if method == "POST":
                return (422 if not isinstance(body, dict) else 201), {}
            return 200, {"accounts": list(self.accounts.values())}
        return 404, {}


@pytest.fixture
def service() -> Iterator[tuple[Service, str]]:
    state = Service()

    class Handler(BaseHTTPRequestHandler):
        def _any(self) -> None:
            parts = urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            body = json.loads(raw) if raw else None
            query = {k: v[0] for k, v in parse_qs(parts.query).items()}
            cookies = dict(c.strip().split("=", 1) for c in (self.headers.get("Cookie") or "").split(";") if "=" in c)
            status, doc = state.answer(self.command, parts.path, dict(self.headers.items()), query, cookies, body)
            data = json.dumps(doc).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_DELETE = do_PUT = do_PATCH = _any

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield state, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def login(user: str) -> Login:
    return Login(path="/login", json={"username": user, "password": "{env:" + user.upper() + "_PASSWORD}"},
                 token_field="access")  # fmt: skip


ENV = {"ALICE_PASSWORD": "alice-password-1", "BOB_PASSWORD": "bob-password-2"}
ENV_OK = {"ALICE_PASSWORD": "alice-password-1", "BOB_PASSWORD": "bob-password-1"}
TOKEN_AUTH = Auth(prefix="Token ", login=login("alice"), low_privilege=Identity(login=login("bob")))
OPS = Operations(public=("GET /health",), optional_auth=("GET /feed",), admin_only=ADMIN_ONLY)


def both(base: str, auth: Auth = TOKEN_AUTH, env: dict[str, str] = ENV_OK) -> tuple[Credentials, Credentials]:
    admin = credentials_for(auth, base, target_token=None, env=env)
    low = credentials_for(auth, base, target_token=None, low_privilege=True, env=env)
    assert admin is not None and low is not None
    return admin, low


HARNESS_STARTED = Scope(OPS, ephemeral=True, allow_unsafe=False)
EXTERNAL = Scope(OPS, ephemeral=False, allow_unsafe=False)


def test_probes_carry_the_profile_scheme_and_skip_public_and_optional_auth_operations(service):
    state, base = service
    admin, _ = both(base)
    controls = positive_controls(DOC, base, "", [], creds=admin, timeout_s=5, scope=HARNESS_STARTED)
    assert {c.label: c.result for c in controls} == {
        "GET /accounts": "accepted",
        "POST /accounts": "accepted",  # a schema-valid body: 200, not 422
        "DELETE /accounts/{account_id}": "accepted",  # 404: auth let the admin token through
        "POST /admin/reset": "accepted",
    }
    assert control_problem(controls, admin) is None and state.logins == 1  # one login, reused
    state.received.clear()
    out = check_http(DOC, base, creds=admin, timeout_s=5, scope=HARNESS_STARTED)
    assert out.findings == [] and out.unjudged == [] and all(p.ok for p in out.probes)
    assert {p.label for p in out.probes} == {"GET /accounts", "POST /accounts", *ADMIN_ONLY}
    assert [s.row() for s in out.skipped] == [
        {"operation": "GET /feed", "reason": "optional-auth (operations.optional_auth): not probed for refusal"}
    ]
    # the DELETE's control deleted a real (listed) account (204); each probe was sent for one that still exists
    control = next(c for c in out.controls if c.label == "DELETE /accounts/{account_id}")
    deletes = {(int(p.url.rsplit("/", 1)[1]), p.status) for p in out.probes if p.method == "DELETE"}
    assert control.status == 204 and len(deletes) == 1 and {s for _, s in deletes} == {401}
    assert next(iter(deletes))[0] in state.accounts
    sent = {h.get("Authorization") for _, _, h, _, _ in state.received}
    assert None in sent and "Token not a token;, really" in sent
    assert any(str(h).startswith("Basic ") for h in sent) and any(str(h).startswith("Token ") for h in sent)
    assert not any("Bearer" in str(h) for _, _, h, _, _ in state.received)


@pytest.mark.parametrize(("scheme", "name"), [("query", "access_token"), ("cookie", "session")])
def test_a_query_or_cookie_token_is_carried_and_probed_there(service, scheme, name):
    state, base = service
    state.scheme = scheme
    auth = Auth(scheme=scheme, name=name, login=login("alice"))
    admin = credentials_for(auth, base, target_token=None, env=ENV_OK)
    assert admin is not None
    controls = positive_controls(DOC, base, "", [], creds=admin, timeout_s=5, scope=HARNESS_STARTED)
    assert {c.result for c in controls} == {"accepted"}
    state.received.clear()
    out = check_http(DOC, base, creds=admin, timeout_s=5, scope=HARNESS_STARTED)
    assert out.findings == [] and {p.variant for p in out.probes} == {"no token", "malformed token", "wrong token"}
    where = 3 if scheme == "query" else 4
    carried = [r[where].get(name) for r in state.received]
    assert carried.count(None) == len(out.probes) // 3 and any(str(c).startswith("not a token") for c in carried)


def test_role_separation_holds_on_the_clean_service_and_a_bypass_is_a_finding(service):
    state, base = service
    admin, low = both(base)
    clean = check_roles(DOC, base, admin=admin, low=low, scope=HARNESS_STARTED, timeout_s=5)
    assert clean.problem is None and clean.findings == []
    assert [(p.label, p.status) for p in clean.probes] == [(op, 403) for op in ADMIN_ONLY]
    assert [(c.identity, c.result, c.status) for c in clean.controls][1:] == [
        ("harness", "accepted", 204),  # the admin's DELETE of a real account, before the low token tries another
        ("harness", "accepted", 200),
    ]
    assert [(c.identity, c.result) for c in clean.controls] == [
        ("low-privilege", "accepted"),
        ("harness", "accepted"),
        ("harness", "accepted"),
    ]
    state.role_bypass = True
    bypass = check_roles(DOC, base, admin=admin, low=low, scope=HARNESS_STARTED, timeout_s=5)
    assert [(f.rule_id, f.details["operation"]) for f in bypass.findings] == [
        ("auth.role_separation", op) for op in ADMIN_ONLY
    ]
    assert all(f.blocking for f in bypass.findings)
    assert "answered 204 to the low-privilege token (the right token got 204; expected 401/403)" in (
        bypass.findings[0].title
    )


def test_role_separation_with_a_dead_low_privilege_token_or_a_non_admin_main_identity_proves_nothing(service):
    _, base = service
    admin, low = both(base, env=ENV)  # bob's password is wrong: his login is refused
    with pytest.raises(Exception, match=r"auth.login \(POST /login\) answered HTTP 401"):
        check_roles(DOC, base, admin=admin, low=low, scope=HARNESS_STARTED, timeout_s=5)
    static_low = Credentials(TOKEN_AUTH, TokenSource(base, static="user-not-issued-by-the-service", label="low"))
    dead = check_roles(DOC, base, admin=admin, low=static_low, scope=HARNESS_STARTED, timeout_s=5)
    assert dead.probes == [] and "the low-privilege identity's token was refused by every" in dead.problem
    _, bob = both(base)
    not_admin = check_roles(DOC, base, admin=bob, low=bob, scope=HARNESS_STARTED, timeout_s=5)
    assert "the harness's own token got through no admin-only operation" in not_admin.problem


def test_on_a_target_the_harness_did_not_start_no_unsafe_operation_is_called_and_the_skips_say_why(service):
    state, base = service
    admin, low = both(base)
    skipped: list[Any] = []
    controls = positive_controls(DOC, base, "", [], creds=admin, timeout_s=5, scope=EXTERNAL, skipped=skipped)
    http = check_http(DOC, base, creds=admin, timeout_s=5, scope=EXTERNAL)
    probes, not_probed = http.probes, http.skipped
    roles = check_roles(DOC, base, admin=admin, low=low, scope=EXTERNAL, timeout_s=5)
    methods = {m for m, path, *_ in state.received if path != "/login"}
    assert methods == {"GET"}
    assert [c.label for c in controls] == ["GET /accounts"] and {p.label for p in probes} == {"GET /accounts"}
    assert roles.probes == [] and roles.problem is None and roles.admin_operations == list(ADMIN_ONLY)
    reasons = {s.operation: s.reason for s in [*skipped, *not_probed, *roles.skipped]}
    assert set(reasons) == {"POST /accounts", *ADMIN_ONLY, "GET /feed"}
    assert "unsafe and the harness did not start this target" in reasons["POST /admin/reset"]
    allowed = Scope(OPS, ephemeral=False, allow_unsafe=True)  # --allow-unsafe lifts it; exclusions stay
    excluded = Scope(Operations(admin_only=ADMIN_ONLY, exclude_tags=("admin",)), ephemeral=False, allow_unsafe=True)
    assert len(check_roles(DOC, base, admin=admin, low=low, scope=allowed, timeout_s=5).probes) == 2
    only_delete = check_roles(DOC, base, admin=admin, low=low, scope=excluded, timeout_s=5)
    assert [p.label for p in only_delete.probes] == ["DELETE /accounts/{account_id}"]
    assert "operations.exclude_tags" in only_delete.skipped[0].reason


def test_a_refused_login_token_is_renewed_once_for_the_positive_control(service):
    state, base = service
    admin, _ = both(base)
    assert {c.result for c in positive_controls(DOC, base, "", [], creds=admin, timeout_s=5)} == {"accepted"}
    state.tokens.clear()  # the service forgot every token (a restart, or the token expired early)
    controls = positive_controls(DOC, base, "", [], creds=admin, timeout_s=5)
    assert {c.result for c in controls} == {"accepted"} and state.logins == 2


def test_no_report_of_the_security_suite_carries_a_token_from_a_login(service, tmp_path):
    """The token a login returned is a secret of the run (TokenSource remembers it): findings and every
    report file show *** in its place, and repro lines show $HARNESS_TOKEN."""
    _, base = service
    admin, _ = both(base)
    token = admin.token()
    assert token and token.startswith("admin-")
    leaky = Finding(
        source="auth",
        rule_id="auth.wrong_token",
        title=f"echoed Token {token}",
        severity="high",
        level="FAIL",
        method="GET",
        url=f"{base}/accounts?access_token={token}",
        evidence=f"Authorization: Token {token}",
    )
    reports = Reports(tmp_path, Target(base, ephemeral=True))
    reports.finish("auth", [leaky], [], {"controls": [{"detail": token}], "repro": admin.curl_args()})
    reports.write("trivy-fs.json", json.dumps({"SchemaVersion": 2, "note": token}))
    files = [p for p in reports.dir.rglob("*") if p.is_file() and not p.name.startswith(".")]
    assert len(files) >= 3
    for path in files:
        text = path.read_text()
        assert token not in text, path
    doc = json.loads((reports.dir / "findings" / "auth.json").read_text())
    assert doc["findings"][0]["evidence"] == "Authorization: Token ***"
    assert doc["repro"] == ["-H", f'"Authorization: Token {PLACEHOLDER}"']


PROFILE = """
name = "ledger-like"
[paths]
openapi = "/openapi.json"
health = "/health"
[auth]
prefix = "Token "
[auth.login]
path = "/login"
json = { username = "alice", password = "{env:ALICE_PASSWORD}" }
token_field = "access"
[auth.low_privilege.login]
path = "/login"
json = { username = "bob", password = "{env:BOB_PASSWORD}" }
token_field = "access"
[operations]
public = ["GET /health"]
optional_auth = ["GET /feed"]
admin_only = ["DELETE /accounts/{account_id}", "POST /admin/reset"]
"""


def run_auth_check(target: Target, tmp_path: Path) -> tuple[Evidence, dict[str, Any]]:
    """tests/security/test_auth.py as the gate runs it, with the profile above -> (record, findings/auth.json)."""
    (tmp_path / "service.toml").write_text(PROFILE)
    evidence = tmp_path / "reports" / "evidence.json"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HARNESS_", "PYTEST_", "ZAP_"))}
    env.update(ENV_OK, HARNESS_TARGET_JSON=target.to_json(), HARNESS_SERVICE_FILE=str(tmp_path / "service.toml"))
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "tests/security/test_auth.py", "-q", "--harness-evidence", str(evidence)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    records = [Evidence.from_dict(r) for r in json.loads(evidence.read_text())["records"]]
    assert records, done.stdout[-2000:]
    return records[0], json.loads((tmp_path / "reports/security/findings/auth.json").read_text())


def test_the_auth_check_with_a_profile_on_an_external_target_calls_only_safe_operations(service, tmp_path):
    """No token in the environment: the profile's logins. Only GET reaches the service (and the logins);
    the unsafe operations, admin-only ones among them, are listed as skipped with the reason."""
    state, base = service
    rec, doc = run_auth_check(Target(base), tmp_path)
    # nothing found on what it may call; the unsafe operations it left out make the check not run, never pass
    assert rec.outcome == "not_run", rec.message
    assert rec.message.startswith("not run: the auth probes left out ") and "--allow-unsafe" in rec.message
    assert rec.measurements["auth_failures"] == 0
    assert {m for m, path, *_ in state.received if path != "/login"} == {"GET"}
    assert state.logins == 1  # alice; bob's token is not needed: no admin-only operation may be called here
    skipped = {s["operation"]: s["reason"] for s in doc["skipped"]}
    assert set(skipped) == {"POST /accounts", "DELETE /accounts/{account_id}", "POST /admin/reset", "GET /feed"}
    assert "POST is unsafe and the harness did not start this target" in skipped["POST /admin/reset"]
    assert doc["admin_only_operations"] == list(ADMIN_ONLY) and rec.measurements["auth_role_probes"] == 0
    assert not any("Bearer" in str(h) for _, _, h, _, _ in state.received)


def test_the_auth_check_on_a_harness_started_target_fails_a_role_bypass(service, tmp_path):
    state, base = service
    state.role_bypass = True
    rec, doc = run_auth_check(Target(base, ephemeral=True), tmp_path)
    assert rec.outcome == "failed", rec.message
    assert "auth.role_separation" in rec.message and rec.measurements["auth_role_probes"] == 2
    bad = sorted(f["details"]["operation"] for f in doc["findings"] if f["rule_id"] == "auth.role_separation")
    assert bad == sorted(ADMIN_ONLY)
    assert {m for m, *_ in state.received} >= {"DELETE", "POST"}  # everything is called on a stack of its own


def _profile(**auth: Any) -> ServiceProfile:
    data = Profile.model_validate(
        {"name": "ledger-like", "paths": {"openapi": "/api/schema.json"}, "auth": {"prefix": "Token ", **auth}}
    )
    return ServiceProfile(data, "service.toml", ROOT)


def test_the_credentials_preflight_uses_the_profiles_document_scheme_and_login(service, monkeypatch):
    state, base = service
    alice = {
        "path": "/login",
        "json": {"username": "alice", "password": "{env:ALICE_PASSWORD}"},
        "token_field": "access",
    }
    monkeypatch.setenv("ALICE_PASSWORD", "alice-password-1")
    assert credentials_problem(Target(base), 5, _profile(login=alice), EXTERNAL) is None
    assert ("GET", "/api/schema.json") in [(m, p) for m, p, *_ in state.received]
    assert {m for m, path, *_ in state.received if path != "/login"} == {"GET"}  # safe operations only
    assert all(h.get("Authorization", "Token ").startswith("Token ") for _, _, h, _, _ in state.received)

    monkeypatch.setenv("ALICE_PASSWORD", "not-alices-password")
    line = credentials_problem(Target(base), 5, _profile(login=alice), EXTERNAL)
    assert line.startswith(f"the harness could not log in to {base}: service profile auth.login (POST /login)")
    assert "answered HTTP 401" in line and "reads ALICE_PASSWORD" in line and "\n" not in line
    monkeypatch.delenv("ALICE_PASSWORD")
    line = credentials_problem(Target(base), 5, _profile(login=alice), EXTERNAL)
    assert "needs the environment variable ALICE_PASSWORD, which is not set" in line

    monkeypatch.setenv("LEDGER_TOKEN", "a-token-the-service-never-issued")
    line = credentials_problem(Target(base), 5, _profile(token_env="LEDGER_TOKEN"), EXTERNAL)
    assert "credentials were refused by" in line and "(GET /accounts: HTTP 401)" in line
    assert line.endswith("set LEDGER_TOKEN to a token the target accepts")
    monkeypatch.delenv("LEDGER_TOKEN")
    line = credentials_problem(Target(base), 5, _profile(token_env="LEDGER_TOKEN"), EXTERNAL)
    assert "has no credentials for" in line and line.endswith("set LEDGER_TOKEN")


def test_no_auth_scheme_is_written_into_the_security_suite_or_the_credentials_preflight():
    """Every credential the security suite sends comes from the service profile (harness.service.auth)."""
    files = [*sorted((ROOT / "harness" / "security").glob("*.py")), ROOT / "harness" / "credentials.py"]
    files += sorted((ROOT / "tests" / "security").glob("*.py"))
    assert len(files) > 10
    for path in files:
        text = path.read_text()
        assert "Bearer" not in text and '"Authorization"' not in text.replace('("Authorization", "Token <jwt>")', ""), (
            path
        )
