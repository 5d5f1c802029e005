"""The load traffic from the service profile (harness/load/traffic.py): the plan each traffic kind gives,
the scope it keeps to, and how the token travels to Locust. No network, no Locust."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from harness.load.profiles import DEFAULT_PROFILES
from harness.load.results import read_auth_log
from harness.load.runner import AUTH_LOG, LocustRunner
from harness.load.traffic import TrafficError, openapi_endpoints, public_plan, reference_plan, traffic_plan
from harness.service.operations import Scope
from harness.service.profile import DEFAULT_PROFILE, Profile, ServiceProfile, load_file

WEIGHTS = {"chat": 6, "health": 3, "websocket": 1}
LEDGER = {
    "name": "ledger",
    "paths": {"health": "/healthz", "openapi": "/api/openapi.json"},
    "auth": {
        "prefix": "Token ",
        "login": {
            "path": "/api/auth/login",
            "json": {"username": "alice", "password": "{env:LEDGER_PASSWORD}"},
            "token_field": "access",
        },
    },
    "operations": {"public": ["GET /healthz"], "exclude_paths": ["/api/admin/*"]},
    "load": {
        "traffic": "endpoints",
        "endpoints": [
            {"path": "/api/accounts", "weight": 3},
            {"name": "create", "method": "POST", "path": "/api/accounts", "json": {"owner": "load"}, "weight": 2},
            {"path": "/healthz", "auth": False},
            {"path": "/api/admin/stats"},
        ],
    },
}
DOC = {
    "openapi": "3.1.0",
    "security": [{"TokenAuth": []}],
    "paths": {
        "/healthz": {"get": {"security": [], "tags": ["health"]}},
        "/api/rates": {"get": {"security": [{}, {"TokenAuth": []}]}, "head": {}},
        "/api/accounts": {"get": {"tags": ["accounts"]}, "post": {"tags": ["accounts"]}},
        "/api/accounts/{account_id}": {
            "get": {
                "parameters": [
                    {"in": "path", "name": "account_id", "required": True, "schema": {"type": "integer"}, "example": 7},
                    {"in": "query", "name": "currency", "required": True, "schema": {"enum": ["EUR", "USD"]}},
                ]
            },
            "delete": {"tags": ["admin"]},
        },
        "/api/reports/{day}": {"get": {"tags": ["reports"]}},
        "/api/admin/stats": {"get": {}},
    },
}


def service(table: dict, tmp_path: Path | None = None) -> ServiceProfile:
    return ServiceProfile(Profile.model_validate(table), "test", tmp_path or Path("."))


def scope(profile: ServiceProfile, *, ephemeral: bool = False, allow_unsafe: bool = False) -> Scope:
    return Scope(profile.operations, ephemeral=ephemeral, allow_unsafe=allow_unsafe)


def test_reference_traffic_keeps_the_reference_users_on_a_stack_the_harness_started():
    ref = load_file(DEFAULT_PROFILE)
    plan = traffic_plan(ref, scope(ref, ephemeral=True), weights=WEIGHTS)
    assert plan["kind"] == "reference"
    assert plan["users"] == ["chat", "health", "websocket"]
    assert plan["websocket"] == {"path": "/chat/ws/{user_id}/{session_id}", "protocol": "reference"}
    assert plan["auth"] == {"scheme": "header", "name": "Authorization", "prefix": "Bearer ", "login": None}
    assert plan["excluded"] == [] and plan["endpoints"] == []
    # the same as the plan without a profile (a LocustRunner built by hand)
    assert {k: v for k, v in reference_plan(WEIGHTS).items() if k != "auth"} == {
        k: v for k, v in plan.items() if k != "auth"
    }
    no_ws = traffic_plan(ref, scope(ref, ephemeral=True), weights={**WEIGHTS, "websocket": 0})
    assert no_ws["users"] == ["chat", "health"]


def test_reference_chat_is_unsafe_on_a_target_the_harness_did_not_start_unless_allowed():
    ref = load_file(DEFAULT_PROFILE)
    plan = traffic_plan(ref, scope(ref), weights=WEIGHTS)
    assert plan["users"] == ["health", "websocket"]
    assert plan["excluded"][0].startswith("POST /chat/v2/chat (chat users): POST is unsafe")
    allowed = traffic_plan(ref, scope(ref, allow_unsafe=True), weights=WEIGHTS)
    assert allowed["users"] == ["chat", "health", "websocket"]


def test_endpoints_traffic_carries_weights_bodies_and_the_auth_flag_within_the_scope():
    ledger = service(LEDGER)
    plan = traffic_plan(ledger, scope(ledger, ephemeral=True), weights=WEIGHTS)
    assert plan["kind"] == "endpoints"
    assert plan["users"] == ["endpoints"]  # no paths.websocket: no WebSocket users, whatever the weight
    assert plan["websocket"] is None
    assert plan["http_weight"] == 9
    assert plan["endpoints"] == [
        {
            "name": "GET /api/accounts",
            "method": "GET",
            "path": "/api/accounts",
            "weight": 3,
            "json": None,
            "auth": True,
        },
        {"name": "create", "method": "POST", "path": "/api/accounts", "weight": 2, "json": {"owner": "load"}}
        | {"auth": True},
        {"name": "GET /healthz", "method": "GET", "path": "/healthz", "weight": 1, "json": None, "auth": False},
    ]
    assert plan["excluded"] == [
        "GET /api/admin/stats: path excluded by the service profile (operations.exclude_paths '/api/admin/*'); "
        "to check it: remove the exclusion from the service profile, or drop the gate in a team policy"
    ]
    external = traffic_plan(ledger, scope(ledger), weights=WEIGHTS)
    assert [e["name"] for e in external["endpoints"]] == ["GET /api/accounts", "GET /healthz"]
    assert any(x.startswith("POST /api/accounts: POST is unsafe") for x in external["excluded"])
    listed = service({**LEDGER, "operations": {**LEDGER["operations"], "unsafe_allowed": ["POST /api/accounts"]}})
    assert "create" in [e["name"] for e in traffic_plan(listed, scope(listed), weights=WEIGHTS)["endpoints"]]


def test_openapi_traffic_is_the_documents_safe_operations_with_parameters_filled():
    table = {
        **LEDGER,
        "load": {"traffic": "openapi"},
        "operations": {**LEDGER["operations"], "exclude_tags": ["reports"]},
    }
    ledger = service(table)
    plan = traffic_plan(ledger, scope(ledger, ephemeral=True, allow_unsafe=True), weights=WEIGHTS, openapi_doc=DOC)
    got = {e["name"]: (e["method"], e["path"], e["auth"]) for e in plan["endpoints"]}
    assert got == {
        "GET /healthz": ("GET", "/healthz", False),  # public in the profile: no token
        "GET /api/rates": ("GET", "/api/rates", True),
        "HEAD /api/rates": ("HEAD", "/api/rates", True),
        "GET /api/accounts": ("GET", "/api/accounts", True),
        "GET /api/accounts/{account_id}": ("GET", "/api/accounts/7?currency=EUR", True),
    }
    assert all(e["weight"] == 1 and e["json"] is None for e in plan["endpoints"])
    reasons = "\n".join(plan["excluded"])
    # unsafe methods never, even where the scope would allow them; exclusions by tag and by path
    assert "POST /api/accounts: traffic = 'openapi' sends only GET and HEAD" in reasons
    assert "DELETE /api/accounts/{account_id}: traffic = 'openapi' sends only GET and HEAD" in reasons
    assert "GET /api/reports/{day}: tag 'reports' excluded" in reasons
    assert "GET /api/admin/stats: path excluded" in reasons
    with pytest.raises(TrafficError, match="needs the service's OpenAPI document"):
        traffic_plan(ledger, scope(ledger), weights=WEIGHTS)


def test_a_traffic_that_leaves_nothing_to_send_is_one_clear_error():
    table = {**LEDGER, "operations": {"exclude_methods": ["GET"]}}
    table["load"] = {"traffic": "endpoints", "endpoints": [{"path": "/api/accounts"}]}
    ledger = service(table)
    with pytest.raises(TrafficError, match=r"leaves nothing to send: GET /api/accounts: method GET excluded"):
        traffic_plan(ledger, scope(ledger), weights=WEIGHTS)
    assert openapi_endpoints({"paths": {}}, scope(ledger)) == ([], [])


def test_a_websocket_path_of_another_service_is_connected_to_and_an_excluded_one_is_said():
    ledger = service({**LEDGER, "paths": {**LEDGER["paths"], "websocket": "/ws/{room}"}})
    plan = traffic_plan(ledger, scope(ledger), weights=WEIGHTS)
    assert plan["users"] == ["endpoints", "websocket"]
    assert plan["websocket"] == {"path": "/ws/{room}", "protocol": "connect"}
    table = {**LEDGER, "paths": {"websocket": "/ws/{room}"}, "operations": {"exclude_paths": ["/ws/*"]}}
    hidden = service(table)
    plan = traffic_plan(hidden, scope(hidden), weights=WEIGHTS)
    assert plan["websocket"] is None and plan["users"] == ["endpoints"]
    assert plan["excluded"][0].startswith("WebSocket /ws/{room}: path excluded")


@pytest.mark.parametrize(
    ("auth", "shown"),
    [
        ({"scheme": "query", "name": "api_key", "prefix": ""}, {"scheme": "query", "name": "api_key", "login": None}),
        ({"scheme": "cookie", "name": "session"}, {"scheme": "cookie", "name": "session", "login": None}),
        ({"scheme": "none"}, {"scheme": "none", "name": "Authorization", "login": None}),
    ],
)
def test_the_auth_scheme_travels_in_the_plan(auth, shown):
    profile = service({**LEDGER, "auth": auth})
    plan = traffic_plan(profile, scope(profile), weights=WEIGHTS)
    assert {k: plan["auth"][k] for k in ("scheme", "name")} == {k: shown[k] for k in ("scheme", "name")}
    assert public_plan(plan)["auth"] == shown


def test_the_login_travels_as_its_spec_and_its_secret_only_in_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("LEDGER_PASSWORD", "alice-password-1-secret")
    ledger = service(LEDGER)
    plan = traffic_plan(ledger, scope(ledger), weights=WEIGHTS)
    login = plan["auth"]["login"]
    assert login["path"] == "/api/auth/login" and login["token_field"] == "access"
    assert login["json"] == {"username": "alice", "password": "{env:LEDGER_PASSWORD}"}  # the placeholder only
    assert public_plan(plan)["auth"] == {"scheme": "header", "name": "Authorization", "login": "POST /api/auth/login"}

    profile = replace(DEFAULT_PROFILES["smoke"], users=4, processes=1)
    runner = LocustRunner(
        profile, "http://127.0.0.1:8765", locustfile=Path("locustfile.py"), out_dir=tmp_path, traffic=plan
    )
    env = runner._env()
    sent = json.loads(env["HARNESS_LOAD_PLAN"])
    assert sent["traffic"] == plan and sent["profile"] == "smoke"
    assert "alice-password-1-secret" not in env["HARNESS_LOAD_PLAN"]
    assert env["LEDGER_PASSWORD"] == "alice-password-1-secret"  # the Locust processes read it themselves
    assert "HARNESS_LOAD_TOKEN" not in env  # a login: no static token
    assert env["HARNESS_LOAD_AUTH_LOG"] == str(tmp_path / AUTH_LOG)
    argv = runner.master_argv(5557)
    assert argv[-1] == "EndpointUser" and "WebSocketUser" not in argv
    assert not any("alice" in a for a in argv)


def test_a_static_token_goes_in_the_environment_never_on_the_command_line(tmp_path):
    profile = replace(DEFAULT_PROFILES["smoke"], processes=1)
    runner = LocustRunner(
        profile, "http://127.0.0.1:8000", locustfile=Path("l.py"), out_dir=tmp_path, token="static-token-1234567"
    )
    assert runner.traffic == reference_plan(profile.weights)  # no traffic given: the reference users
    assert runner.master_argv(5557)[-3:] == ["ChatUser", "HealthUser", "WebSocketUser"]
    assert runner._env()["HARNESS_LOAD_TOKEN"] == "static-token-1234567"
    assert all("static-token" not in a for a in runner.master_argv(5557) + runner.worker_argv(5557))
    assert "static-token" not in runner._env()["HARNESS_LOAD_PLAN"]


def test_the_auth_log_counts_logins_and_retries_apart_from_the_load_statistics(tmp_path):
    assert read_auth_log(tmp_path / "absent.jsonl") == {}
    log = tmp_path / AUTH_LOG
    lines = [{"event": "login"}] * 3 + [{"event": "retry_401"}, {"event": "login_failed", "error": "HTTP 401"}]
    log.write_text("".join(json.dumps(x) + "\n" for x in lines) + "not json\n")
    assert read_auth_log(log) == {"logins": 3, "login_failures": 1, "retries_401": 1}
