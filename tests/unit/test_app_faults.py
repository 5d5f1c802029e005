"""The reference service's faults: parsing, and switching them at run time through the admin endpoint.

The app runs for real (uvicorn in a thread, a real redis-server for the shared fault set); PostgreSQL is
not needed by anything here (the pool connects lazily). Every fault's effect against the full stack is
tests/e2e/test_fault_switching.py.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import requests
import uvicorn
from fastapi import FastAPI

from app.faults import FAULTS, NUMERIC_FAULTS, Faults, parse_faults
from app.main import create_app, without_paths
from app.routes import chat, health, metrics, websocket
from app.schemas import ChatRequest
from app.settings import Settings
from app.state import AppState

ADMIN = "a-test-admin-secret-0123456789"
API = "api-token"
DOWN_DB = "postgresql://nobody@127.0.0.1:9/none"  # nothing listens: the app still starts


def test_new_faults_parse_with_their_ranges():
    assert parse_faults("ws_refuse_every=10, throughput_cap_rps=2.5,ws_leaked_slots=950") == {
        "ws_refuse_every=10",
        "throughput_cap_rps=2.5",
        "ws_leaked_slots=950",
    }
    assert parse_faults("roundtrip_no_store,session_messages_404") == {"roundtrip_no_store", "session_messages_404"}
    for bad, why in [
        ("ws_refuse_every=0", "needs an integer from 1 to"),
        ("ws_refuse_every=2.5", "needs an integer from 1 to"),
        ("throughput_cap_rps=0", "needs a number from 0.1 to"),
        ("ws_leaked_slots=-1", "needs an integer from 0 to"),
        ("ws_refuse_every", "needs a value, e.g. ws_refuse_every=10"),
        ("roundtrip_no_store=1", "takes no value"),
    ]:
        with pytest.raises(ValueError, match=why):
            parse_faults(bad)
    with pytest.raises(ValueError, match=r"^faults: unknown fault\(s\) nope"):
        parse_faults("nope", source="faults")
    assert set(NUMERIC_FAULTS) <= set(FAULTS)


def test_faults_values_text_and_the_last_numeric_value_wins():
    faults = Faults.of(parse_faults("chat_delay_ms=250,chat_5xx,chat_delay_ms=100"))
    assert faults.value("chat_delay_ms") == 100.0 and faults.active("chat_delay_ms") and faults.active("chat_5xx")
    assert faults.text == "chat_5xx,chat_delay_ms=100"
    assert Faults().text == "" and not Faults() and Faults().value("chat_delay_ms") is None


def test_switching_replaces_the_set_and_restarts_its_counters():
    state = AppState(settings=None, faults=Faults(), flags=None, metrics=None)  # type: ignore[arg-type]
    state.chat_calls, state.ws_handshakes = 99, 7
    state.switch_faults(Faults.of({"chat_errors_1pct"}))
    assert state.faults.active("chat_errors_1pct") and state.faults_version == 1
    assert state.chat_calls == 0 and state.ws_handshakes == 0
    state.switch_faults(Faults(), version=5)
    assert not state.faults and state.faults_version == 5


def test_session_ids_must_fit_one_path_segment():
    """A turn stored under an id that no URL can name is a broken round trip (found by following the link)."""
    assert ChatRequest(message="m", session_id="a b%2F?#é").session_id == "a b%2F?#é"
    for bad in ("a/b", ".", "..", "/x"):
        with pytest.raises(ValueError, match="one URL path segment"):
            ChatRequest(message="m", session_id=bad)


def _settings(**env: str) -> Settings:
    return Settings.from_env({"DATABASE_URL": DOWN_DB, "REDIS_URL": "redis://127.0.0.1:9/0", **env})


def test_breaking_api_document_is_the_build_without_the_features_router():
    app = create_app(_settings())
    clean = app.openapi()
    app.state.orchestra.switch_faults(Faults.of({"breaking_api"}))
    broken = app.openapi()
    old_way = FastAPI(title="AI Orchestra", version="2.0.0")  # how the fault used to build the app
    for module in (health, chat, websocket, metrics):
        old_way.include_router(module.router)
    assert broken == old_way.openapi()
    assert "/features" not in broken["paths"] and "Features" not in broken["components"]["schemas"]
    app.state.orchestra.switch_faults(Faults())
    assert app.openapi() == clean and "/features" in clean["paths"]
    assert without_paths(clean, ()) == clean


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def serve(settings: Settings) -> Iterator[str]:
    """The app under a real uvicorn on a free loopback port, in a thread."""
    server = uvicorn.Server(
        uvicorn.Config(create_app(settings), host="127.0.0.1", port=_free_port(), log_level="error", lifespan="on")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the app did not start"
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{server.config.port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@pytest.fixture(scope="module")
def app_url(redis_url) -> Iterator[str]:
    with serve(_settings(REDIS_URL=redis_url, ORCHESTRA_API_TOKENS=API, ORCHESTRA_ADMIN_TOKEN=ADMIN)) as url:
        yield url


def put(url: str, faults: object, token: str | None = ADMIN) -> requests.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return requests.put(f"{url}/__harness/faults", json={"faults": faults}, headers=headers, timeout=10)


def test_without_an_admin_secret_there_is_no_admin_endpoint():
    with serve(_settings(ORCHESTRA_API_TOKENS=API)) as url:
        for token in (None, ADMIN, API):
            assert put(url, "chat_5xx", token).status_code == 404
        assert requests.get(f"{url}/__harness/faults", timeout=5).status_code == 404
        assert "/__harness/faults" not in requests.get(f"{url}/openapi.json", timeout=5).json()["paths"]


def test_the_admin_endpoint_wants_the_admin_secret(app_url):
    for token in (None, API, ADMIN + "x"):
        resp = put(app_url, "chat_5xx", token)
        assert resp.status_code == 401 and resp.headers["www-authenticate"] == "Bearer", token
    assert requests.get(f"{app_url}/__harness/faults", timeout=5).status_code == 401
    assert "/__harness/faults" not in requests.get(f"{app_url}/openapi.json", timeout=5).json()["paths"]


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        ("chat_500", "faults: unknown fault(s) chat_500; allowed: "),
        ("chat_delay_ms", "faults: chat_delay_ms needs a value, e.g. chat_delay_ms=250"),
        (["chat_5xx"], 'the body must be a JSON object {"faults": '),
        (None, 'the body must be a JSON object {"faults": '),
    ],
)
def test_a_bad_fault_list_is_422_and_changes_nothing(app_url, body, detail):
    assert put(app_url, "health_503").status_code == 200
    resp = put(app_url, body)
    assert resp.status_code == 422 and resp.json()["detail"].startswith(detail), resp.text
    got = requests.get(f"{app_url}/__harness/faults", headers={"Authorization": f"Bearer {ADMIN}"}, timeout=5)
    assert got.json()["faults"] == "health_503"
    assert put(app_url, "").status_code == 200


def test_faults_switch_on_and_off_at_run_time(app_url):
    auth = {"Authorization": f"Bearer {ADMIN}"}
    clean = requests.get(f"{app_url}/metrics", timeout=5)
    assert "orchestra_http_requests_total" not in clean.text
    assert "/" not in clean.headers.get("server", "") and "x-powered-by" not in clean.headers
    resp = put(app_url, "metric_renamed,leaky_headers,cors_wildcard,breaking_api,ws_leaked_slots=950")
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["faults"] == "breaking_api,cors_wildcard,leaky_headers,metric_renamed,ws_leaked_slots=950"
    assert body["previous"] == "" and body["version"] >= 1
    on = requests.get(f"{app_url}/metrics", timeout=5)
    assert "orchestra_http_requests_total" in on.text and "\nwebsocket_connections 950.0" in on.text
    assert "uvicorn/" in on.headers["server"] and on.headers["x-powered-by"].startswith("FastAPI/")
    assert on.headers["access-control-allow-origin"] == "*"
    assert requests.get(f"{app_url}/features", timeout=5).status_code == 404
    assert "/features" not in requests.get(f"{app_url}/openapi.json", timeout=5).json()["paths"]
    assert requests.get(f"{app_url}/__harness/faults", headers=auth, timeout=5).json()["faults"] == body["faults"]
    assert put(app_url, "").status_code == 200
    off = requests.get(f"{app_url}/metrics", timeout=5)
    assert "orchestra_http_requests_total" not in off.text and "\nwebsocket_connections 0.0" in off.text
    assert "x-powered-by" not in off.headers and "access-control-allow-origin" not in off.headers
    assert requests.get(f"{app_url}/features", timeout=5).status_code == 200
    assert "/features" in requests.get(f"{app_url}/openapi.json", timeout=5).json()["paths"]


def test_throughput_cap_spaces_requests_but_never_the_admin_endpoint(app_url):
    assert put(app_url, "throughput_cap_rps=10").status_code == 200
    t0 = time.monotonic()
    for _ in range(6):
        requests.get(f"{app_url}/features", timeout=5)
    assert time.monotonic() - t0 >= 0.45  # 6 starts, 0.1 s apart
    t0 = time.monotonic()
    assert put(app_url, "").status_code == 200
    assert time.monotonic() - t0 < 0.5
    t0 = time.monotonic()
    for _ in range(6):
        requests.get(f"{app_url}/features", timeout=5)
    assert time.monotonic() - t0 < 0.45


def test_without_redis_the_switch_is_refused_with_503(redis_url):
    with serve(_settings(ORCHESTRA_API_TOKENS=API, ORCHESTRA_ADMIN_TOKEN=ADMIN)) as url:  # Redis on port 9
        resp = put(url, "chat_5xx")
        assert resp.status_code == 503 and resp.json()["detail"].startswith("faults not switched: Redis")
        assert requests.get(f"{url}/__harness/faults", headers={"Authorization": f"Bearer {ADMIN}"}).json()[
            "faults"
        ] == ("")


def test_a_too_short_admin_secret_is_a_configuration_error():
    with pytest.raises(ValueError, match="ORCHESTRA_ADMIN_TOKEN: at least 16 characters"):
        _settings(ORCHESTRA_ADMIN_TOKEN="short")
    assert "admin=True" in repr(_settings(ORCHESTRA_ADMIN_TOKEN=ADMIN)) and ADMIN not in repr(
        _settings(ORCHESTRA_ADMIN_TOKEN=ADMIN)
    )


def test_every_fault_is_documented_in_the_reference():
    doc = (Path(__file__).resolve().parents[2] / "docs/reference/reference-service.md").read_text()
    missing = [name for name in FAULTS if f"`{name}" not in doc]
    assert not missing, f"the reference service's fault table lacks {missing}"


def test_the_harness_client_switches_faults_and_fails_in_one_line(app_url, redis_url):
    from harness.errors import StackError
    from harness.stack.admin import get_faults, set_faults
    from harness.target import Target

    target = Target(base_url=app_url, token=API, admin_token=ADMIN, ephemeral=True)
    set_faults(target, "chat_5xx,chat_delay_ms=20")
    assert get_faults(target) == "chat_5xx,chat_delay_ms=20"
    set_faults(target, "")
    assert get_faults(target) == ""
    cases = [
        (Target(base_url=app_url), "chat_5xx", "cannot switch faults at run time: no admin token"),
        (Target(base_url=app_url, admin_token="wrong-admin-token-000"), "chat_5xx", "refused the admin token"),
        (target, "chat_500", "answered 422: faults: unknown fault(s) chat_500"),
        (Target(base_url="http://127.0.0.1:9", admin_token=ADMIN), "", "failed: ConnectionRefusedError"),
    ]
    for bad, faults, message in cases:
        with pytest.raises(StackError) as exc:
            set_faults(bad, faults, timeout_s=5)
        assert message in str(exc.value) and "\n" not in str(exc.value) and ADMIN not in str(exc.value)
    with serve(_settings(ORCHESTRA_API_TOKENS=API)) as plain, pytest.raises(StackError, match="has no admin endpoint"):
        set_faults(Target(base_url=plain, admin_token=ADMIN), "chat_5xx")
