"""The harness's admin endpoint: switch a running app's faults without restarting it.

It exists only when the app is started with a secret (ORCHESTRA_ADMIN_TOKEN, which the harness's stacks
generate per run); a default deployment has none, and the path answers 404 like any unknown one. It is
left out of the OpenAPI document, so no suite tests or scans it.

    PUT /__harness/faults   Authorization: Bearer <admin token>   {"faults": "chat_5xx,chat_delay_ms=250"}
    GET /__harness/faults   Authorization: Bearer <admin token>

The body has ORCHESTRA_FAULTS' syntax and validation ("" switches every fault off). The new set replaces
the old one as a whole and its counters start again. With several uvicorn worker processes the set is
shared through Redis: every worker follows a key (namespaced by a hash of the admin token) and confirms
the version it runs, and the PUT answers once every live worker runs the new set.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import os
import socket
import time
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import JSONResponse

from app.auth import bearer_token
from app.faults import Faults, parse_faults
from app.state import AppState, get_state

log = logging.getLogger(__name__)
PATH = "/__harness/faults"
POLL_S = 0.1  # how often each worker looks for a new fault set
LIVE_S = 3.0  # a worker that confirmed nothing for this long is gone (uvicorn replaced it)
CONFIRM_TIMEOUT_S = 5.0
FIRST_SYNC_S = 2.0
ACKS_TTL_S = 60
# "<version> <faults>": the version comes from INCR, so the newest PUT always wins, even when two race
_PUBLISH = """
local v = redis.call('INCR', KEYS[2])
redis.call('SET', KEYS[1], v .. ' ' .. ARGV[1])
return v
"""


def _keys(admin_token: str) -> tuple[str, str, str]:
    """(fault set, version counter, confirmations) keys of this app (its baseline twin has another token)."""
    ns = f"orchestra:harness:{hashlib.sha256(admin_token.encode()).hexdigest()[:16]}"
    return f"{ns}:faults", f"{ns}:version", f"{ns}:acks"


def worker_id() -> str:
    """This worker process."""
    return f"{socket.gethostname()}:{os.getpid()}"


def _detail(status: int, detail: str) -> JSONResponse:
    return JSONResponse({"detail": detail}, status_code=status)


async def require_admin(request: Request, state: Annotated[AppState, Depends(get_state)]) -> None:
    """401 unless the request carries the admin token (never an API token)."""
    expected = state.settings.admin_token or ""
    token = bearer_token(request.headers.get("authorization"))
    if not expected or not token or not hmac.compare_digest(token.encode(), expected.encode()):
        raise HTTPException(status_code=401, detail="admin token required", headers={"WWW-Authenticate": "Bearer"})


router = APIRouter(include_in_schema=False, dependencies=[Depends(require_admin)])
State = Annotated[AppState, Depends(get_state)]


async def _confirm(state: AppState, version: int) -> list[str]:
    """Record this worker's confirmation, then wait until every live worker runs `version`; the laggards."""
    _, _, acks_key = _keys(state.settings.admin_token or "")
    client = state.cache()
    await client.hset(acks_key, worker_id(), f"{state.faults_version} {time.time():.3f}")
    deadline = time.monotonic() + CONFIRM_TIMEOUT_S
    while True:
        acks: dict[str, str] = await client.hgetall(acks_key)
        now = time.time()
        lagging = []
        for worker, value in acks.items():
            seen_version, _, at = value.partition(" ")
            if now - float(at or 0) <= LIVE_S and int(seen_version) < version:
                lagging.append(worker)
        if not lagging or time.monotonic() >= deadline:
            return sorted(lagging)
        await asyncio.sleep(POLL_S / 2)


@router.put(PATH)
async def put_faults(request: Request, state: State) -> JSONResponse:
    """Replace the active fault set; 422 names what is wrong with the body, 503 when it could not be shared."""
    try:
        body: Any = json.loads(await request.body())
    except ValueError:
        body = None
    if not isinstance(body, dict) or not isinstance(body.get("faults"), str):
        return _detail(422, 'the body must be a JSON object {"faults": "name,name=value,..."} ("" = clean)')
    try:
        faults = Faults.of(parse_faults(body["faults"], source="faults"))
    except ValueError as exc:
        return _detail(422, str(exc))
    faults_key, version_key, _ = _keys(state.settings.admin_token or "")
    previous = state.faults.text
    try:
        version = int(await state.cache().eval(_PUBLISH, 2, faults_key, version_key, faults.text))
        if version > state.faults_version:
            state.switch_faults(faults, version)
        lagging = await _confirm(state, version)
    except Exception as exc:  # Redis shares the set with the other worker processes: without it, no switch
        log.error("faults not switched: Redis unavailable (%s)", type(exc).__name__)
        why = f"Redis, which shares them between worker processes, failed ({type(exc).__name__})"
        return _detail(503, f"faults not switched: {why}")
    log.warning("faults switched at run time: %s -> %s", previous or "none", faults.text or "none")
    if lagging:
        return _detail(503, f"faults {faults.text!r} published, but worker(s) {', '.join(lagging)} did not confirm")
    return JSONResponse({"faults": faults.text, "previous": previous, "version": version})


@router.get(PATH)
async def get_faults(state: State) -> dict[str, Any]:
    """The active fault set of the worker that answers."""
    return {"faults": state.faults.text, "version": state.faults_version, "worker": worker_id()}


async def sync_once(state: AppState) -> None:
    """Adopt a newer shared fault set, then confirm the version this worker runs (raises when Redis fails)."""
    faults_key, _, acks_key = _keys(state.settings.admin_token or "")
    client = state.cache()
    raw = await client.get(faults_key)
    if raw:
        version, _, text = raw.partition(" ")
        if int(version) > state.faults_version:
            state.switch_faults(Faults.of(parse_faults(text, source="shared faults")), int(version))
            log.warning("faults switched at run time: %s (version %s)", text or "none", version)
    async with client.pipeline(transaction=False) as pipe:
        pipe.hset(acks_key, worker_id(), f"{state.faults_version} {time.time():.3f}")
        pipe.expire(acks_key, ACKS_TTL_S)
        await pipe.execute()


async def start_following(state: AppState) -> asyncio.Task[None]:
    """In each worker, before it serves anything: one sync (so a PUT waits for every worker that can answer
    a request), then a task that syncs every POLL_S for as long as the app runs (cancel it on shutdown)."""
    try:
        await asyncio.wait_for(sync_once(state), FIRST_SYNC_S)
    except Exception as exc:  # noqa: BLE001 - Redis is not there yet: the task keeps trying
        log.debug("shared faults not read at start: %s", type(exc).__name__)
    return asyncio.create_task(_follow(state))


async def _follow(state: AppState) -> None:
    while True:
        await asyncio.sleep(POLL_S)
        try:
            await sync_once(state)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - Redis is away for a moment: keep the current set, try again
            log.debug("shared faults not read: %s", type(exc).__name__)
