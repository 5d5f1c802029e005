"""The v2 chat HTTP API: POST /chat/v2/chat and GET /chat/v2/sessions/{session_id}/messages."""

from __future__ import annotations

import asyncio
import logging
import time
import traceback
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import JSONResponse, PlainTextResponse

from app import cache, db
from app.auth import require_token
from app.chat import DEFAULT_USER, reply_for, run_exchange
from app.metrics import STARTED
from app.schemas import UNAUTHORIZED, ChatFailure, ChatRequest, ChatResponse, Detail, SessionMessages
from app.state import AppState, get_state

log = logging.getLogger(__name__)
router = APIRouter(dependencies=[Depends(require_token)])
State = Annotated[AppState, Depends(get_state)]
SLOW_CHAT_S = 2.5  # fault slow_chat
UNSTORED_IDS = 1_000_000_000  # fault roundtrip_no_store: message ids that no row has


def _disclosed_error(session_id: str) -> PlainTextResponse:
    """Fault error_disclosure: a debug-style 500 whose body is the Python stack trace."""
    try:
        raise LookupError(f"session {session_id!r} not found in chat_messages")
    except LookupError:
        return PlainTextResponse(f"Internal Server Error\n\n{traceback.format_exc()}", status_code=500)


def _failure(status: int, error: str) -> JSONResponse:
    """The chat endpoint's error body."""
    return JSONResponse({"success": False, "error": error}, status_code=status)


@router.post(
    "/chat/v2/chat",
    response_model=ChatResponse,
    operation_id="chat",
    responses={
        200: {
            "description": "The answered turn",
            "links": {
                "SessionMessages": {
                    "operationId": "session_messages",
                    "parameters": {"session_id": "$request.body#/session_id"},
                    "description": "The session the turn was stored in",
                }
            },
        },
        **UNAUTHORIZED,
        400: {"model": Detail, "description": "The body is not parseable JSON"},
        404: {"model": Detail, "description": "The v2 API is not enabled for this user"},
        500: {"model": ChatFailure, "description": "Internal error"},
        503: {"model": ChatFailure, "description": "The database is unavailable"},
    },
)
async def chat(body: ChatRequest, state: State, request: Request) -> dict[str, Any] | JSONResponse:
    """Answer one chat turn, persisted in PostgreSQL and cached in Redis."""
    started = request.scope.get(STARTED) or time.perf_counter()
    try:
        return await _chat(body, state)
    finally:
        if (pct := state.faults.value("latency_regression")) is not None:  # the same request, PCT % slower
            await asyncio.sleep((time.perf_counter() - started) * pct / 100)


async def _chat(body: ChatRequest, state: State) -> dict[str, Any] | JSONResponse:
    user_id = body.user_id or DEFAULT_USER
    if not state.flags.is_enabled("v2_api", user_id):
        raise HTTPException(status_code=404, detail="v2 API not enabled")
    if state.faults.active("chat_5xx"):
        return _failure(500, "internal error")
    if (pct := state.faults.value("error_burst")) is not None:  # PCT % of calls, spread evenly
        state.burst_calls += 1
        if int(state.burst_calls * pct / 100) != int((state.burst_calls - 1) * pct / 100):
            return _failure(500, "internal error")
    if state.faults.active("chat_errors_1pct"):
        state.chat_calls += 1
        if state.chat_calls % 100 == 0:
            return _failure(500, "internal error")
    if state.faults.active("slow_chat"):
        await asyncio.sleep(SLOW_CHAT_S)
    if (delay_ms := state.faults.value("chat_delay_ms")) is not None:
        await asyncio.sleep(delay_ms / 1000)
    if state.faults.active("server_error_on_edge") and not body.message.isascii():
        return _failure(500, "internal error")
    if state.faults.active("roundtrip_no_store"):  # a success answer for a turn that is never stored
        state.unstored += 1
        return _success(state, body.session_id, UNSTORED_IDS + state.unstored, reply_for(body.message))
    try:
        exchange = await run_exchange(state, user_id, body.session_id, body.message)
    except Exception as exc:  # the database is down or refused the write
        log.error("chat turn not stored: %s", type(exc).__name__)
        return _failure(503, "database unavailable")
    if state.faults.active("schema_drift"):
        drifted = {"success": True, "session_id": body.session_id, "message_id": str(exchange.message_id)}
        return JSONResponse({**drifted, "response": exchange.response})
    return _success(state, body.session_id, exchange.message_id, exchange.response)


def _success(state: AppState, session_id: str, message_id: int, response: str) -> dict[str, Any]:
    """The chat endpoint's success body."""
    return {
        "success": True,
        "session_id": session_id,
        "message_id": message_id,
        "response": response,
        "version": state.settings.app_version,
    }


@router.get(
    "/chat/v2/sessions/{session_id}/messages",
    response_model=SessionMessages,
    operation_id="session_messages",
    responses={
        **UNAUTHORIZED,
        404: {"model": Detail, "description": "No such session"},
        503: {"model": Detail, "description": "The database is unavailable"},
    },
)
async def session_messages(session_id: str, state: State) -> dict[str, Any] | JSONResponse:
    """A session's messages from PostgreSQL in id order, plus the cached last exchange."""
    if state.faults.active("session_messages_404"):  # the session may well exist: the read path is broken
        raise HTTPException(status_code=404, detail="session not found")
    try:
        rows = await db.session_messages(state.db(), session_id)
    except Exception as exc:  # the database is down
        log.error("session read failed: %s", type(exc).__name__)
        return JSONResponse({"detail": "database unavailable"}, status_code=503)
    if rows is None:
        if state.faults.active("error_disclosure"):
            return _disclosed_error(session_id)
        raise HTTPException(status_code=404, detail="session not found")
    try:
        cached = await asyncio.wait_for(cache.load_last(state.cache(), session_id), 1.0)
    except Exception as exc:  # the cache is best-effort
        log.warning("redis read failed: %s", type(exc).__name__)
        cached = None
    return {
        "session_id": session_id,
        "messages": [
            {"id": r.id, "role": r.role, "content": r.content, "created_at": r.created_at.isoformat()} for r in rows
        ],
        "cached_last": cached,
    }
