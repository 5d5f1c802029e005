"""The WebSocket message contract: real connections, every frame validated, malformed input handled."""

from __future__ import annotations

import json
import uuid

import pytest
import websocket

from harness.checks import not_applicable
from harness.contract.websocket import frame_problem

TIMEOUT = 5


@pytest.fixture(autouse=True)
def _needs_websocket(service):
    """The reference app's WebSocket protocol: only for a service whose profile has a WebSocket path."""
    if not service.paths.websocket:
        not_applicable(f"the {service.describe()} has no WebSocket path")


def recv_valid(ws) -> dict:
    """The next server frame, which must arrive in time and match the schema."""
    try:
        raw = ws.recv()
    except websocket.WebSocketTimeoutException:
        pytest.fail(f"no frame within {TIMEOUT} s (hung socket)", pytrace=False)
    problem = frame_problem(raw)
    assert problem is None, problem
    return json.loads(raw)


def path() -> str:
    return f"/chat/ws/contract-{uuid.uuid4().hex[:8]}/session-{uuid.uuid4().hex[:8]}"


@pytest.mark.check("contract.websocket.ping")
def test_ping_gets_a_valid_pong(ws_connect):
    ws = ws_connect(path(), timeout=TIMEOUT)
    ws.send(json.dumps({"type": "ping"}))
    assert recv_valid(ws)["type"] == "pong"


@pytest.mark.check("contract.websocket.chat")
@pytest.mark.parametrize("user", ["beta-users", "smoke-test"])  # one streams tokens, one may not
def test_chat_streams_valid_frames_ending_in_done(ws_connect, user):
    ws = ws_connect(f"/chat/ws/{user}/contract-{uuid.uuid4().hex[:8]}", timeout=TIMEOUT, token=True)
    ws.send(json.dumps({"type": "chat", "message": "contract check"}))
    frames = []
    while not frames or frames[-1]["type"] not in ("done", "error"):
        frames.append(recv_valid(ws))
        assert len(frames) < 100, "no done frame after 100 frames"
    assert frames[-1]["type"] == "done", f"chat ended with {frames[-1]}"
    tokens = "".join(f["content"] for f in frames if f["type"] == "token")
    assert not tokens or tokens.strip() == frames[-1]["response"].strip(), "streamed tokens differ from the response"


@pytest.mark.check("contract.websocket.malformed")
@pytest.mark.parametrize(
    "frame",
    [
        "{not json",
        "[1, 2]",
        json.dumps({"type": "teleport"}),
        json.dumps({"message": "no type"}),
        json.dumps({"type": "chat", "message": "anonymous"}),
    ],
    ids=["invalid-json", "not-an-object", "unknown-type", "missing-type", "unauthorized-chat"],
)
def test_malformed_frame_gets_an_error_frame_and_the_socket_survives(ws_connect, frame):
    ws = ws_connect(path(), timeout=TIMEOUT)
    ws.send(frame)
    assert recv_valid(ws)["type"] == "error"
    ws.send(json.dumps({"type": "ping"}))
    assert recv_valid(ws)["type"] == "pong", "the socket did not survive a malformed frame"


@pytest.mark.check("contract.websocket.oversized")
def test_oversized_frame_is_refused_promptly_and_the_server_survives(ws_connect):
    """A frame over 64 KiB ends the connection (close code 1009 when the client can read it; servers may
    reset the TCP stream while the payload is still arriving) within the timeout, and the server lives on."""
    ws = ws_connect(path(), timeout=TIMEOUT)
    try:
        ws.send("x" * (64 * 1024 + 1))
        opcode, data = ws.recv_data(control_frame=True)
    except websocket.WebSocketTimeoutException:
        pytest.fail("an oversized frame left the socket hanging (no close within 5 s)", pytrace=False)
    except (ConnectionResetError, BrokenPipeError, websocket.WebSocketConnectionClosedException):
        pass  # refused by closing before the payload was read: prompt, not hung
    else:
        assert opcode == websocket.ABNF.OPCODE_CLOSE, f"expected a close frame, got opcode {opcode}"
        code = int.from_bytes(data[:2], "big")
        assert code == 1009, f"close code {code}, expected 1009 (message too big)"
    again = ws_connect(path(), timeout=TIMEOUT)
    again.send(json.dumps({"type": "ping"}))
    assert recv_valid(again)["type"] == "pong", "the server did not survive an oversized frame"
