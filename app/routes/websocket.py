"""WebSocket /chat/ws/{user_id}/{session_id}: ping/pong and (streamed) chat over JSON text frames."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import socket
import time
from typing import Any

from fastapi import APIRouter, WebSocket
from fastapi.responses import JSONResponse
from starlette.websockets import WebSocketDisconnect, WebSocketDisconnected

from app import db
from app.auth import bearer_token, token_valid
from app.chat import run_exchange
from app.state import AppState, get_state

log = logging.getLogger(__name__)
router = APIRouter()

MAX_FRAME_BYTES = 64 * 1024
MAX_MESSAGE_CHARS = 4000
CLOSE_POLICY_VIOLATION = 1008
CLOSE_TOO_BIG = 1009
CLOSE_TRY_AGAIN_LATER = 1013
RECORD_TIMEOUT_S = 5.0


def presented_token(websocket: WebSocket) -> str | None:
    """The token offered by the Authorization header or ?token= query; None when none is offered."""
    header = websocket.headers.get("authorization")
    if header is not None:
        return bearer_token(header)
    return websocket.query_params.get("token")


def pool_id() -> str:
    """Identifies the process that holds the connection (websocket_connections.pool_id)."""
    return f"{socket.gethostname()}:{os.getpid()}"


async def _send(websocket: WebSocket, frame: dict[str, Any]) -> None:
    """Send one JSON text frame."""
    await websocket.send_text(json.dumps(frame))


async def _error(websocket: WebSocket, reason: str) -> None:
    """Send an error frame; the socket stays open."""
    await _send(websocket, {"type": "error", "error": reason})


async def _record_connect(state: AppState, user_id: str, session_id: str) -> int | None:
    """Best-effort websocket_connections insert; None when the database is unavailable."""
    try:
        coro = db.record_ws_connect(state.db(), user_id, session_id, pool_id())
        return await asyncio.wait_for(coro, RECORD_TIMEOUT_S)
    except Exception as exc:  # recording must never break the socket
        log.warning("websocket connect not recorded: %s", type(exc).__name__)
        return None


async def _record_disconnect(state: AppState, connect: asyncio.Task[int | None]) -> None:
    """Best-effort disconnected_at stamp once the connect row exists."""
    row_id = await connect
    if row_id is None:
        return
    try:
        await asyncio.wait_for(db.record_ws_disconnect(state.db(), row_id), RECORD_TIMEOUT_S)
    except Exception as exc:  # recording must never break the socket
        log.warning("websocket disconnect not recorded: %s", type(exc).__name__)


async def _chat(websocket: WebSocket, state: AppState, user_id: str, session_id: str, frame: dict) -> None:
    """Run one chat turn and stream its reply (token frames when websocket_streaming is on)."""
    message = frame.get("message")
    if not isinstance(message, str) or not message:
        await _error(websocket, "missing field: message")
        return
    if len(message) > MAX_MESSAGE_CHARS:
        await _error(websocket, f"message too long (max {MAX_MESSAGE_CHARS} characters)")
        return
    try:
        exchange = await run_exchange(state, user_id, session_id, message)
    except Exception as exc:  # the database is down or refused the write
        log.error("websocket chat turn not stored: %s", type(exc).__name__)
        await _error(websocket, "internal error")
        return
    if state.flags.is_enabled("websocket_streaming", user_id):
        for word in exchange.response.split():
            await _send(websocket, {"type": "token", "content": word + " "})
    await _send(websocket, {"type": "done", "message_id": exchange.message_id, "response": exchange.response})


async def _handle(websocket: WebSocket, state: AppState, ids: tuple[str, str], authed: bool, text: str) -> None:
    """Dispatch one text frame."""
    await state.throttle()  # fault throughput_cap_rps: a frame is a request too
    try:
        frame = json.loads(text)
    except ValueError:
        await _error(websocket, "invalid JSON")
        return
    if not isinstance(frame, dict):
        await _error(websocket, "expected a JSON object")
        return
    kind = frame.get("type")
    if kind == "ping":
        if not state.faults.active("ws_no_pong"):
            ts: float | str = str(time.time()) if state.faults.active("ws_bad_frame") else time.time()
            await _send(websocket, {"type": "pong", "ts": ts})
    elif kind == "chat":
        if not authed:
            await _error(websocket, "unauthorized")
            return
        await _chat(websocket, state, ids[0], ids[1], frame)
    elif kind is None:
        await _error(websocket, "missing field: type")
    else:
        await _error(websocket, "unknown type")


async def _serve(websocket: WebSocket, state: AppState, ids: tuple[str, str], authed: bool) -> None:
    """Read frames until the client goes away or sends one that is too large."""
    while True:
        message = await websocket.receive()
        if message["type"] == "websocket.disconnect":
            return
        text: str | None = message.get("text")
        data: bytes | None = message.get("bytes")
        size = len(text.encode()) if text is not None else len(data or b"")
        if size > MAX_FRAME_BYTES:
            await websocket.close(CLOSE_TOO_BIG, "frame too large")
            return
        if text is None:
            await _error(websocket, "text frames only")
            continue
        await _handle(websocket, state, ids, authed, text)


async def _refuse_handshake(websocket: WebSocket) -> None:
    """A token was offered and is not valid: refuse the upgrade with HTTP 401 (403 where the server cannot
    send a denial response). Anonymous sockets are still accepted: they may ping, not chat."""
    try:
        await websocket.send_denial_response(
            JSONResponse({"detail": "invalid bearer token"}, status_code=401, headers={"WWW-Authenticate": "Bearer"})
        )
    except RuntimeError:  # no websocket.http.response extension: closing before accept answers 403
        await websocket.close(CLOSE_POLICY_VIOLATION, "invalid token")


async def _refuse_unavailable(websocket: WebSocket) -> None:
    """Fault ws_refuse_every: refuse the upgrade with HTTP 503 (403 where the server cannot send a denial)."""
    try:
        await websocket.send_denial_response(JSONResponse({"detail": "service unavailable"}, status_code=503))
    except RuntimeError:  # no websocket.http.response extension
        await websocket.close(CLOSE_TRY_AGAIN_LATER, "service unavailable")


@router.websocket("/chat/ws/{user_id}/{session_id}")
async def chat_socket(websocket: WebSocket, user_id: str, session_id: str) -> None:
    """Refuse an invalid token, accept, enforce the connection limit, then serve frames."""
    state = get_state(websocket)
    if (every := state.faults.value("ws_refuse_every")) is not None:
        state.ws_handshakes += 1
        if state.ws_handshakes % int(every) == 0:
            await _refuse_unavailable(websocket)
            return
    token = presented_token(websocket)
    if token is not None and not token_valid(token, state.settings.api_tokens):
        await _refuse_handshake(websocket)
        return
    await websocket.accept()
    leaked = int(state.faults.value("ws_leaked_slots") or 0) + state.leaked_websockets
    if state.open_websockets + leaked >= state.settings.websocket_max_connections:
        await websocket.close(CLOSE_TRY_AGAIN_LATER, "connection limit reached")
        return
    state.open_websockets += 1
    connect = state.spawn(_record_connect(state, user_id, session_id))
    try:
        await _serve(websocket, state, (user_id, session_id), token is not None)
    except (WebSocketDisconnect, WebSocketDisconnected):
        pass
    finally:
        state.open_websockets -= 1
        if state.faults.active("ws_leak"):  # counted, never released
            state.leaked_websockets += 1
        state.spawn(_record_disconnect(state, connect))
