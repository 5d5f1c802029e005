"""The ledger example service (examples/ledger/): auth, roles, the operations, each fault's effect, the access
log and the configuration it refuses, in process with FastAPI's TestClient; plus one real start and stop."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import jwt
import pytest
import requests
from fastapi.testclient import TestClient

from examples.ledger import VERSION
from examples.ledger import app as ledger
from examples.ledger.app import FAULTS, Config, ConfigError, create_app

ROOT = Path(__file__).resolve().parents[2]
USERS = "alice:pw1:admin,bob:pw2:user"


def make_client(**env: str) -> TestClient:
    return TestClient(create_app(Config.from_env({"LEDGER_USERS": USERS, **env})))


def login(client: TestClient, user: str = "alice", password: str = "pw1") -> str:
    resp = client.post("/api/auth/login", json={"username": user, "password": password})
    assert resp.status_code == 200, resp.text
    return resp.json()["access"]


def token(value: str) -> dict[str, str]:
    return {"Authorization": f"Token {value}"}


@pytest.fixture
def client() -> TestClient:
    return make_client()


@pytest.fixture
def admin(client) -> dict[str, str]:
    return token(login(client))


@pytest.fixture
def user(client) -> dict[str, str]:
    return token(login(client, "bob", "pw2"))


# --- health, the OpenAPI document, what is not there ---


def test_health_and_security_headers(client):
    resp = client.get("/healthz")
    assert resp.status_code == 200
    assert resp.json() == {"status": "ok", "version": VERSION}
    assert resp.headers["x-content-type-options"] == "nosniff"
    assert "frame-ancestors 'none'" in resp.headers["content-security-policy"]
    assert resp.headers["x-frame-options"] == "DENY"
    assert resp.headers["cache-control"] == "no-store"
    assert "strict-transport-security" not in resp.headers  # http: HSTS only on https
    assert "x-powered-by" not in resp.headers


def test_hsts_on_https():
    with TestClient(create_app(Config.from_env({"LEDGER_USERS": USERS})), base_url="https://ledger.test") as c:
        assert c.get("/healthz").headers["strict-transport-security"].startswith("max-age=")


@pytest.mark.parametrize("path", ["/openapi.json", "/docs", "/redoc", "/metrics", "/ws", "/docs/oauth2-redirect"])
def test_default_paths_are_not_served(client, path):
    assert client.get(path).status_code == 404


def test_openapi_document(client):
    resp = client.get("/api/openapi.json")
    assert resp.status_code == 200
    doc = resp.json()
    ops = {(m.upper(), p): o for p, item in doc["paths"].items() for m, o in item.items()}
    assert set(ops) == {
        ("GET", "/healthz"),
        ("POST", "/api/auth/login"),
        ("GET", "/api/rates"),
        ("GET", "/api/accounts"),
        ("POST", "/api/accounts"),
        ("GET", "/api/accounts/{account_id}"),
        ("DELETE", "/api/accounts/{account_id}"),
        ("POST", "/api/admin/reset"),
    }
    scheme = doc["components"]["securitySchemes"]["TokenAuth"]
    assert (scheme["type"], scheme["in"], scheme["name"]) == ("apiKey", "header", "Authorization")
    assert "security" not in ops["GET", "/healthz"] and "security" not in ops["POST", "/api/auth/login"]
    assert ops["GET", "/api/rates"]["security"] == [{}, {"TokenAuth": []}]  # optional auth
    protected = [k for k in ops if k[1].startswith("/api/accounts") or k[1] == "/api/admin/reset"]
    assert all(ops[k]["security"] == [{"TokenAuth": []}] for k in protected)
    links = ops["POST", "/api/accounts"]["responses"]["201"]["links"]
    assert links["GetAccount"] == {
        "operationId": "get_account",
        "parameters": {"account_id": "$response.body#/id"},
        "description": "The new account",
    }
    assert {"401", "403", "404", "422"} <= set(ops["DELETE", "/api/accounts/{account_id}"]["responses"])
    assert {"401", "403"} <= set(ops["POST", "/api/admin/reset"]["responses"])
    for op in ops.values():
        for status, response in op["responses"].items():
            if status != "204":
                assert "application/json" in response["content"], (op["operationId"], status)


def test_405_allows_every_method_of_the_path(client, admin):
    resp = client.put("/api/accounts", headers=admin)
    assert resp.status_code == 405
    assert resp.headers["allow"] == "GET, POST"
    assert client.options("/api/accounts/1").headers["allow"] == "DELETE, GET"


# --- auth ---


def test_login_issues_a_token_with_its_claims():
    client = make_client(LEDGER_TOKEN_TTL_S="3")
    resp = client.post("/api/auth/login", json={"username": "bob", "password": "pw2"})
    assert resp.status_code == 200
    body = resp.json()
    assert body["token_type"] == "Token" and body["expires_in"] == 3
    claims = jwt.decode(body["access"], options={"verify_signature": False})
    assert (claims["sub"], claims["role"]) == ("bob", "user")
    assert 2 < claims["exp"] - time.time() <= 3
    assert jwt.get_unverified_header(body["access"])["alg"] == "HS256"


@pytest.mark.parametrize(
    "body",
    [
        {"username": "alice", "password": "pw2"},
        {"username": "carol", "password": "pw1"},
        {"username": "alice", "password": "PW1"},
    ],
)
def test_bad_credentials_are_401(client, body):
    resp = client.post("/api/auth/login", json=body)
    assert resp.status_code == 401
    assert "access" not in resp.json() and isinstance(resp.json()["detail"], str)


@pytest.mark.parametrize("body", [{}, {"username": "alice"}, {"username": "alice", "password": 1}, [], "x"])
def test_malformed_login_is_422(client, body):
    assert client.post("/api/auth/login", json=body).status_code == 422


def test_token_scheme_not_bearer(client):
    access = login(client)
    assert client.get("/api/accounts", headers={"Authorization": f"Token {access}"}).status_code == 200
    bearer = client.get("/api/accounts", headers={"Authorization": f"Bearer {access}"})
    assert bearer.status_code == 401
    assert "Token" in bearer.json()["detail"]
    assert client.get("/api/accounts", headers={"Authorization": access}).status_code == 401


@pytest.mark.parametrize("header", [None, "Token", "Token ", "Token not-a-jwt", "Basic YWxpY2U6cHcx"])
def test_missing_or_invalid_credential_is_401_json(client, header):
    headers = {} if header is None else {"Authorization": header}
    resp = client.get("/api/accounts", headers=headers)
    assert resp.status_code == 401
    assert resp.headers["content-type"] == "application/json"
    assert resp.headers["www-authenticate"] == "Token"
    assert isinstance(resp.json()["detail"], str)


def test_a_token_from_another_key_or_tampered_is_401(client):
    other = make_client()
    foreign = login(other)  # same users, another process key
    assert client.get("/api/accounts", headers=token(foreign)).status_code == 401
    head, payload, sig = login(client, "bob", "pw2").split(".")
    claims = json.loads(jwt.utils.base64url_decode(payload))
    forged = jwt.utils.base64url_encode(json.dumps({**claims, "role": "admin"}).encode()).decode()
    assert client.post("/api/admin/reset", headers=token(f"{head}.{forged}.{sig}")).status_code == 401


def test_token_expires_after_its_ttl():
    client = make_client(LEDGER_TOKEN_TTL_S="0.5")
    access = login(client)
    assert client.get("/api/accounts", headers=token(access)).status_code == 200
    time.sleep(0.7)
    resp = client.get("/api/accounts", headers=token(access))
    assert resp.status_code == 401
    assert "expired" in resp.json()["detail"]
    assert client.get("/api/accounts", headers=token(login(client))).status_code == 200  # a new login works


# --- operations and roles ---


def test_rates_are_optional_auth(client, user):
    anonymous = client.get("/api/rates")
    assert anonymous.status_code == 200
    assert anonymous.json()["base"] == "EUR" and anonymous.json()["rates"]
    assert "fees" not in anonymous.json()
    assert client.get("/api/rates", headers=user).json()["fees"]
    assert client.get("/api/rates", headers={"Authorization": "Token nope"}).status_code == 401


def test_accounts_round_trip_and_role_separation(client, admin, user):
    created = client.post("/api/accounts", json={"owner": "Ada", "balance": 120}, headers=user)
    assert created.status_code == 201
    account = created.json()
    assert account == {"id": account["id"], "owner": "Ada", "balance": 120}
    assert client.get(f"/api/accounts/{account['id']}", headers=user).json() == account
    assert client.get("/api/accounts", headers=admin).json() == {"accounts": [account]}

    assert client.delete(f"/api/accounts/{account['id']}", headers=user).status_code == 403
    assert client.post("/api/admin/reset", headers=user).status_code == 403
    assert client.get(f"/api/accounts/{account['id']}", headers=user).status_code == 200  # still there

    assert client.delete(f"/api/accounts/{account['id']}", headers=admin).status_code == 204
    assert client.get(f"/api/accounts/{account['id']}", headers=user).status_code == 404
    assert client.delete(f"/api/accounts/{account['id']}", headers=admin).status_code == 404


def test_reset_empties_the_store_and_ids_are_not_reused(client, admin, user):
    first = client.post("/api/accounts", json={"owner": "a", "balance": 0}, headers=user).json()
    resp = client.post("/api/admin/reset", headers=admin)
    assert (resp.status_code, resp.json()) == (200, {"reset": True})
    assert client.get("/api/accounts", headers=user).json() == {"accounts": []}
    second = client.post("/api/accounts", json={"owner": "b", "balance": 0}, headers=user).json()
    assert second["id"] > first["id"]


@pytest.mark.parametrize(
    "body",
    [
        {"owner": "x", "balance": "5"},
        {"owner": "x", "balance": True},
        {"owner": "x", "balance": -1},
        {"owner": "x", "balance": 1.5},
        {"owner": "", "balance": 1},
        {"owner": "x" * 65, "balance": 1},
        {"owner": 7, "balance": 1},
        {"owner": "x", "balance": 1, "extra": 1},
        {"balance": 1},
    ],
)
def test_create_refuses_invalid_bodies(client, user, body):
    assert client.post("/api/accounts", json=body, headers=user).status_code == 422


def test_create_takes_a_whole_float_as_an_integer(client, user):
    resp = client.post("/api/accounts", json={"owner": "x", "balance": 5.0}, headers=user)
    assert resp.status_code == 201 and resp.json()["balance"] == 5


@pytest.mark.parametrize("account_id", ["0", "-1", "abc", "1.5"])
def test_invalid_account_id_is_422(client, user, account_id):
    assert client.get(f"/api/accounts/{account_id}", headers=user).status_code == 422


@pytest.mark.parametrize(("body", "status"), [(b"\xff\xfe{", 400), (b"not json", 422), (b"[1]", 422)])
def test_a_body_that_is_not_json_is_a_documented_error(client, user, body, status):
    resp = client.post("/api/accounts", content=body, headers={**user, "Content-Type": "application/json"})
    assert resp.status_code == status
    doc = client.get("/api/openapi.json").json()
    assert str(status) in doc["paths"]["/api/accounts"]["post"]["responses"]


# --- faults: each one's effect, and its absence on the clean build ---


def test_fault_health_down():
    resp = make_client(LEDGER_FAULTS="health_down").get("/healthz")
    assert (resp.status_code, resp.json()) == (503, {"status": "down"})


def test_fault_no_auth():
    client = make_client(LEDGER_FAULTS="no_auth")
    assert client.get("/api/accounts").status_code == 200
    assert client.post("/api/accounts", json={"owner": "x", "balance": 1}).status_code == 201
    assert client.post("/api/admin/reset").status_code == 200
    assert client.get("/api/accounts", headers={"Authorization": "Token bad"}).status_code == 401
    assert "fees" not in client.get("/api/rates").json()


def test_fault_role_bypass():
    client = make_client(LEDGER_FAULTS="role_bypass")
    bob = token(login(client, "bob", "pw2"))
    made = client.post("/api/accounts", json={"owner": "x", "balance": 1}, headers=bob).json()
    assert client.delete(f"/api/accounts/{made['id']}", headers=bob).status_code == 204
    assert client.post("/api/admin/reset", headers=bob).status_code == 200
    assert client.get("/api/accounts").status_code == 401  # a token is still required


def test_fault_schema_drift():
    client = make_client(LEDGER_FAULTS="schema_drift")
    bob = token(login(client, "bob", "pw2"))
    made = client.post("/api/accounts", json={"owner": "x", "balance": 42}, headers=bob).json()
    assert made["balance"] == 42  # only the single-account read drifts
    assert client.get(f"/api/accounts/{made['id']}", headers=bob).json()["balance"] == "42"


def test_fault_slow(monkeypatch):
    assert ledger.SLOW_S > 2.0  # past the load gate's P95 < 2 s
    monkeypatch.setattr(ledger, "SLOW_S", 0.4)  # the same code path, a shorter wait
    client = make_client(LEDGER_FAULTS="slow")
    bob = token(login(client, "bob", "pw2"))
    slow = []
    for i in range(20):
        start = time.monotonic()
        client.get("/api/accounts" if i % 2 else "/api/accounts/1", headers=bob)
        slow.append(time.monotonic() - start >= 0.4)
    assert sum(slow) == 2 and slow[9] and slow[19]  # one in ten, on either path
    start = time.monotonic()
    client.get("/api/rates")
    assert time.monotonic() - start < 0.4


def test_fault_errors_is_three_percent_of_account_lists():
    client = make_client(LEDGER_FAULTS="errors")
    bob = token(login(client, "bob", "pw2"))
    statuses = [client.get("/api/accounts", headers=bob).status_code for _ in range(200)]
    assert statuses.count(500) == 6 and statuses.count(200) == 194
    assert all(client.get("/api/rates").status_code == 200 for _ in range(100))


def test_fault_no_security_headers():
    resp = make_client(LEDGER_FAULTS="no_security_headers").get("/healthz")
    assert "x-content-type-options" not in resp.headers
    assert "content-security-policy" not in resp.headers


def test_clean_build_has_no_fault_effect(client, user):
    assert client.get("/healthz").status_code == 200
    assert client.get("/api/accounts").status_code == 401
    assert client.post("/api/admin/reset", headers=user).status_code == 403
    made = client.post("/api/accounts", json={"owner": "x", "balance": 3}, headers=user).json()
    assert client.get(f"/api/accounts/{made['id']}", headers=user).json()["balance"] == 3
    assert all(client.get("/api/accounts", headers=user).status_code == 200 for _ in range(100))


def test_faults_combine():
    client = make_client(LEDGER_FAULTS=" health_down , no_auth,")
    assert client.get("/healthz").status_code == 503
    assert client.get("/api/accounts").status_code == 200


# --- the access log ---


def test_access_log_has_one_line_per_request(tmp_path):
    log = tmp_path / "access.log"
    log.write_text("GET /earlier 200\n")  # appended to, not truncated
    with TestClient(create_app(Config.from_env({"LEDGER_USERS": USERS, "LEDGER_ACCESS_LOG": str(log)}))) as c:
        c.get("/healthz?probe=1")
        c.post("/api/auth/login", json={"username": "alice", "password": "nope"})
        c.delete("/api/accounts/7")
        c.put("/api/rates")
        c.get("/no/such/path")
        assert log.read_text().splitlines() == [  # flushed per line: readable while the service runs
            "GET /earlier 200",
            "GET /healthz 200",
            "POST /api/auth/login 401",
            "DELETE /api/accounts/7 401",
            "PUT /api/rates 405",
            "GET /no/such/path 404",
        ]


def test_access_log_that_cannot_be_opened_is_refused(tmp_path):
    with pytest.raises(ConfigError, match="LEDGER_ACCESS_LOG"):
        create_app(Config.from_env({"LEDGER_USERS": USERS, "LEDGER_ACCESS_LOG": str(tmp_path / "no" / "log")}))


# --- configuration ---


@pytest.mark.parametrize(
    "users",
    [None, "", "alice", "alice:pw1", "alice:pw1:root", ":pw1:admin", "alice::admin", "alice:s3cret:admin,alice:x:user"],
)
def test_bad_users_are_refused_in_one_line(users):
    env = {} if users is None else {"LEDGER_USERS": users}
    with pytest.raises(ConfigError) as err:
        Config.from_env(env)
    message = str(err.value)
    assert "LEDGER_USERS" in message and "\n" not in message
    assert "s3cret" not in message  # never a password


def test_users_parse():
    users = Config.from_env({"LEDGER_USERS": " alice:p:w:admin , bob:pw2:user"}).users
    assert (users["alice"].password, users["alice"].role) == ("p:w", "admin")
    assert users["bob"].role == "user"


@pytest.mark.parametrize("ttl", ["abc", "0", "-1", "nan", "inf"])
def test_bad_ttl_is_refused(ttl):
    with pytest.raises(ConfigError, match="LEDGER_TOKEN_TTL_S"):
        Config.from_env({"LEDGER_USERS": USERS, "LEDGER_TOKEN_TTL_S": ttl})


@pytest.mark.parametrize(("raw", "ttl"), [(None, 60.0), ("3", 3.0), ("0.5", 0.5)])
def test_ttl(raw, ttl):
    env = {"LEDGER_USERS": USERS} | ({} if raw is None else {"LEDGER_TOKEN_TTL_S": raw})
    assert Config.from_env(env).token_ttl_s == ttl


def test_unknown_fault_is_refused():
    with pytest.raises(ConfigError, match="unknown fault 'slowly'"):
        Config.from_env({"LEDGER_USERS": USERS, "LEDGER_FAULTS": "slow,slowly"})
    assert Config.from_env({"LEDGER_USERS": USERS, "LEDGER_FAULTS": ",".join(FAULTS)}).faults == set(FAULTS)


# --- the real process ---


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LEDGER_")}
    return {**env, "PYTHONPATH": str(ROOT), **extra}


@pytest.mark.parametrize(
    ("env", "says"),
    [({}, "LEDGER_USERS is not set"), ({"LEDGER_USERS": USERS, "LEDGER_FAULTS": "nope"}, "unknown fault 'nope'")],
)
def test_main_refuses_bad_configuration_with_exit_2(env, says):
    proc = subprocess.run(
        [sys.executable, "-m", "examples.ledger", "--port", "1"],
        cwd=ROOT,
        env=_env(**env),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("ledger: ") and says in lines[0], proc.stderr


def test_a_taken_port_is_exit_3():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        proc = subprocess.run(
            [sys.executable, "-m", "examples.ledger", "--port", str(taken.getsockname()[1])],
            cwd=ROOT,
            env=_env(LEDGER_USERS=USERS),
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert proc.returncode == 3
    assert "address already in use" in proc.stderr and "Traceback" not in proc.stderr


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_serves_for_real_and_stops_on_sigterm(tmp_path):
    port = _free_port()
    log = tmp_path / "access.log"
    proc = subprocess.Popen(
        [sys.executable, "-m", "examples.ledger", "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"],
        cwd=ROOT,
        env=_env(LEDGER_USERS=USERS, LEDGER_ACCESS_LOG=str(log)),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 30
        resp = None
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                resp = requests.get(f"http://127.0.0.1:{port}/healthz", timeout=5)
                break
            except requests.RequestException:  # not listening yet, or slow to answer on a busy machine
                time.sleep(0.1)
        assert resp is not None and resp.status_code == 200, proc.stderr.read() if proc.poll() is not None else ""
        assert "server" not in resp.headers  # uvicorn's Server header is off: no product, no version
        assert resp.headers["x-content-type-options"] == "nosniff"
        access = requests.post(
            f"http://127.0.0.1:{port}/api/auth/login", json={"username": "bob", "password": "pw2"}, timeout=5
        ).json()["access"]
        assert requests.get(f"http://127.0.0.1:{port}/api/accounts", headers=token(access), timeout=5).ok
        assert log.read_text().splitlines() == ["GET /healthz 200", "POST /api/auth/login 200", "GET /api/accounts 200"]
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        try:
            rc = proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            raise
        stderr = proc.stderr.read().decode()
        proc.stderr.close()
    assert rc == 0, stderr
    assert "Traceback" not in stderr
    with socket.socket() as s:  # nothing listens any more
        assert s.connect_ex(("127.0.0.1", port)) != 0
