"""The deployment guide's smoke tests, run against any Target, plus a round trip through the stores."""

from __future__ import annotations

import json
import uuid

import pytest
import websocket
from prometheus_client.parser import text_string_to_metric_families

TIMEOUT = 10


@pytest.mark.check("smoke.health")
def test_health_endpoint(api, target):
    """Verify health endpoint is responding."""
    response = api.get(target.url("/health"), timeout=TIMEOUT)
    assert response.status_code == 200, (
        f"GET /health answered {response.status_code}, expected 200: {response.text[:200]}"
    )
    assert response.json()["status"] == "healthy", f"GET /health says {response.json().get('status')!r}"


@pytest.mark.check("smoke.chat_api")
def test_api_endpoint(api, target):
    """Test basic API functionality."""
    response = api.post(
        target.url("/chat/v2/chat"), json={"message": "test", "session_id": "smoke-test"}, timeout=TIMEOUT
    )
    assert response.status_code == 200, (
        f"POST /chat/v2/chat answered {response.status_code}, expected 200: {response.text[:200]}"
    )
    assert response.json()["success"] is True, f"POST /chat/v2/chat success={response.json().get('success')!r}"


@pytest.mark.check("smoke.websocket")
def test_websocket_connection(ws_connect):
    """Test WebSocket connectivity: a ping gets a pong."""
    ws = ws_connect("/chat/ws/smoke-test/session-1", timeout=5)
    ws.send('{"type": "ping"}')
    try:
        result = ws.recv()
    except websocket.WebSocketTimeoutException:
        pytest.fail("WebSocket /chat/ws/smoke-test/session-1: no answer to ping within 5 s", pytrace=False)
    assert result is not None
    frame = json.loads(result)
    assert frame.get("type") == "pong", f"WebSocket answered ping with {result[:200]!r}, expected a pong"


@pytest.mark.check("smoke.metrics")
def test_metrics_endpoint(api, target):
    """Verify metrics are being collected."""
    response = api.get(target.metrics_url, timeout=TIMEOUT)
    assert response.status_code == 200, f"GET /metrics answered {response.status_code}, expected 200"
    families = {f.name: f.type for f in text_string_to_metric_families(response.text)}
    # the parser names a counter's family without its _total suffix
    assert "http_requests_total" in response.text and families.get("http_requests") == "counter", (
        "GET /metrics does not export the counter http_requests_total"
    )


@pytest.mark.check("smoke.roundtrip")
def test_message_roundtrip(api, target):
    """A chat message is stored (PostgreSQL), cached (Redis) and read back through the API."""
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
def test_message_lands_in_postgres_and_redis(api, target):
    """Straight to the stores: the row is in chat_messages and the v2: key is in Redis."""
    if not (target.database_url and target.redis_url):
        pytest.skip("the stores are not reachable from here (external target without database/redis URLs)")
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
