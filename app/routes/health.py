"""GET /health: a real PostgreSQL SELECT 1 and Redis PING, each bounded by a short timeout."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse

from app import db
from app.schemas import Health
from app.state import AppState, get_state

router = APIRouter()
CHECK_TIMEOUT_S = 1.0
_CREDENTIALS = re.compile(r"://[^/@\s]*@")


def short_error(exc: BaseException) -> str:
    """A one-line, secret-free description of a failed check."""
    if isinstance(exc, TimeoutError):
        return "timeout"
    inner = getattr(exc, "orig", None) or exc
    first_line = (str(inner).strip().splitlines() or [""])[0]
    first_line = _CREDENTIALS.sub("://***@", first_line)[:160]
    name = type(inner).__name__
    return f"{name}: {first_line}" if first_line else name


async def _check(probe: Callable[[], Awaitable[object]]) -> str:
    """'ok' or a short error string."""
    try:
        await asyncio.wait_for(probe(), CHECK_TIMEOUT_S)
    except Exception as exc:  # any failure is a failed check, reported not raised
        return short_error(exc)
    return "ok"


@router.get(
    "/health",
    response_model=Health,
    responses={200: {"description": "Healthy"}, 503: {"model": Health, "description": "Unhealthy"}},
)
async def health(state: Annotated[AppState, Depends(get_state)]) -> JSONResponse:
    """200 healthy when both dependencies answer, 503 unhealthy otherwise."""
    postgres, redis_ = await asyncio.gather(_check(lambda: db.ping(state.db())), _check(lambda: state.cache().ping()))
    healthy = postgres == "ok" and redis_ == "ok" and not state.faults.active("health_503")
    body = {
        "status": "healthy" if healthy else "unhealthy",
        "version": state.settings.app_version,
        "environment": state.settings.environment,
        "checks": {"postgres": postgres, "redis": redis_},
    }
    return JSONResponse(body, status_code=200 if healthy else 503)
