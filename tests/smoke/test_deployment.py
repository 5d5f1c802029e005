"""The deployment guide's smoke tests, run against any Target: the service profile's checks as data (method,
path, expected status, JSONPath expressions), plus the reference app's checks in code (WebSocket ping, metrics
series, a round trip through the stores). A check the profile does not declare, or that needs what the
service lacks, is not applicable (N/A) with the reason; an unsafe request is sent only to a target the
harness started, or with --allow-unsafe: without it the check is not run (inconclusive), saying how to run it."""

from __future__ import annotations

import json
import re
import uuid

import pytest
import websocket
from prometheus_client.parser import text_string_to_metric_families

from harness.checks import not_applicable, not_run
from harness.service.operations import DROPPED, unsafe_reason

TIMEOUT = 10


def _needs_builtin(service, name: str) -> None:
    if name not in service.builtin_smoke:
        not_applicable(f"the {service.describe()} does not enable the built-in smoke check {name!r}")


def _needs_unsafe_ok(scope, method: str, path: str) -> None:
    if scope.excluded(method, path) == DROPPED:  # the check's only call: its gate goes with it (missing until dropped)
        pytest.skip(f"{method} {path} is {DROPPED}: drop this check's gate too")
    if not scope.unsafe_ok(method, path):
        not_run(f"{method} {path}: {unsafe_reason(method, path)}")


def _jsonpath_holds(body, expr: str, want) -> str | None:
    """None when the JSONPath finds want in body; else what it found."""
    from jsonpath_ng.ext import parse

    found = [m.value for m in parse(expr).find(body)]
    if not found:
        return f"{expr} matched nothing"
    if want not in found:
        return f"{expr} is {found[0]!r}, expected {want!r}"
    return None


def test_profile_check(smoke_check, api, target, service, scope):
    """One smoke check of the profile: the request, its status, then each JSONPath expression."""
    if isinstance(smoke_check, str):
        pytest.fail(f"service profile: {smoke_check}", pytrace=False)
    if smoke_check is None:
        not_applicable(f"the {service.describe()} declares no such smoke check")
    c = smoke_check
    _needs_unsafe_ok(scope, c.method, c.path)
    kwargs = {"json": c.json_body} if c.json_body is not None else {}
    if not c.auth:
        api.auth = None
    response = api.request(c.method, target.url(c.path), timeout=TIMEOUT, **kwargs)
    assert response.status_code == c.status, (
        f"{c.method} {c.path} answered {response.status_code}, expected {c.status}: {response.text[:200]}"
    )
    if not c.expect:
        return
    try:
        body = response.json()
    except ValueError:
        pytest.fail(
            f"{c.method} {c.path} answered {response.status_code} without JSON: {response.text[:200]}", pytrace=False
        )
    problems = [p for expr, want in c.expect.items() if (p := _jsonpath_holds(body, expr, want))]
    assert not problems, f"{c.method} {c.path}: " + "; ".join(problems)


def _fill(template: str) -> str:
    """A concrete path for a WebSocket template: /chat/ws/{user_id}/{session_id} -> /chat/ws/smoke-test/session-1."""
    values = {"user_id": "smoke-test", "session_id": "session-1"}
    return re.sub(r"\{(\w+)\}", lambda m: values.get(m.group(1), f"smoke-{m.group(1)}"), template)


@pytest.mark.check("smoke.websocket")
def test_websocket_connection(ws_connect, service):
    """Test WebSocket connectivity: a ping gets a pong."""
    _needs_builtin(service, "websocket")
    if not service.paths.websocket:
        not_applicable(f"the {service.describe()} has no WebSocket path")
    path = _fill(service.paths.websocket)
    ws = ws_connect(path, timeout=5)
    ws.send('{"type": "ping"}')
    try:
        result = ws.recv()
    except websocket.WebSocketTimeoutException:
        pytest.fail(f"WebSocket {path}: no answer to ping within 5 s", pytrace=False)
    assert result is not None
    frame = json.loads(result)
    assert frame.get("type") == "pong", f"WebSocket answered ping with {result[:200]!r}, expected a pong"


@pytest.mark.check("smoke.metrics")
def test_metrics_endpoint(api, target, service):
    """Verify metrics are being collected."""
    _needs_builtin(service, "metrics")
    if not service.paths.metrics:
        not_applicable(f"the {service.describe()} has no metrics path")
    path = service.paths.metrics
    response = api.get(target.url(path), timeout=TIMEOUT)
    assert response.status_code == 200, f"GET {path} answered {response.status_code}, expected 200"
    families = {f.name: f.type for f in text_string_to_metric_families(response.text)}
    # the parser names a counter's family without its _total suffix
    assert "http_requests_total" in response.text and families.get("http_requests") == "counter", (
        f"GET {path} does not export the counter http_requests_total"
    )


@pytest.mark.check("smoke.roundtrip")
def test_message_roundtrip(api, target, service, scope):
    """A chat message is stored (PostgreSQL), cached (Redis) and read back through the API."""
    _needs_builtin(service, "roundtrip")
    _needs_unsafe_ok(scope, "POST", "/chat/v2/chat")
    session_id = f"smoke-{uuid.uuid4().hex[:12]}"
    text = f"roundtrip {uuid.uuid4().hex}"
    sent = api.post(target.url("/chat/v2/chat"), json={"message": text, "session_id": session_id}, timeout=TIMEOUT)
    assert sent.status_code == 200, f"POST /chat/v2/chat answered {sent.status_code}: {sent.text[:200]}"
    history = api.get(target.url(f"/chat/v2/sessions/{session_id}/messages"), timeout=TIMEOUT)
    assert history.status_code == 200, f"GET session history answered {history.status_code}: {history.text[:200]}"
    body = history.json()
    contents = [(m["role"], m["content"]) for m in body["messages"]]
    assert ("user", text) in contents, f"the message sent was not read back from storage: {contents[:4]}"
    assert any(role == "assistant" for role, _ in contents), "no assistant reply was stored"
    assert body.get("cached_last") is not None, "the exchange was not cached (Redis v2:session:<id>:last)"


@pytest.mark.check("smoke.store")
def test_message_lands_in_postgres_and_redis(api, target, service, scope):
    """Straight to the stores: the row is in chat_messages and the v2: key is in Redis."""
    _needs_builtin(service, "store")
    if not (target.database_url and target.redis_url):
        not_applicable("the stores are not reachable from here (external target without database/redis URLs)")
    _needs_unsafe_ok(scope, "POST", "/chat/v2/chat")
    import psycopg
    import redis

    session_id = f"store-{uuid.uuid4().hex[:12]}"
    sent = api.post(target.url("/chat/v2/chat"), json={"message": "stored?", "session_id": session_id}, timeout=TIMEOUT)
    assert sent.status_code == 200, f"POST /chat/v2/chat answered {sent.status_code}: {sent.text[:200]}"
    with psycopg.connect(target.database_url, connect_timeout=5) as conn:
        rows = conn.execute(
            "SELECT role, content FROM chat_messages WHERE session_id = %s ORDER BY id", (session_id,)
        ).fetchall()
    assert ("user", "stored?") in rows, f"chat_messages has no row for the message: {rows}"
    client = redis.Redis.from_url(target.redis_url, socket_timeout=5)
    try:
        cached = client.get(f"v2:session:{session_id}:last")
    finally:
        client.close()
    assert cached is not None, f"Redis has no key v2:session:{session_id}:last"
