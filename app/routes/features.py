"""GET /features: every feature flag evaluated for one user."""

from __future__ import annotations

import asyncio
import logging
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query

from app.feature_flags import FLAGS_OFF_KEY
from app.schemas import Features
from app.state import AppState, get_state

router = APIRouter()
log = logging.getLogger(__name__)
SWITCH_TIMEOUT_S = 0.5


async def switched_off(state: AppState) -> frozenset[str]:
    """The flags switched off at run time (FLAGS_OFF_KEY); none when Redis cannot say (flags as configured)."""
    if state.redis is None or state.faults.active("flags_switch_ignored"):
        return frozenset()
    try:
        return frozenset(await asyncio.wait_for(state.redis.smembers(FLAGS_OFF_KEY), SWITCH_TIMEOUT_S))
    except Exception as exc:  # noqa: BLE001 - the flag switches are best-effort, like the cache
        log.warning("flag switches not read: %s", type(exc).__name__)
        return frozenset()


@router.get("/features", response_model=Features)
async def features(
    state: Annotated[AppState, Depends(get_state)],
    user_id: Annotated[str | None, Query(max_length=128)] = None,
) -> dict[str, dict[str, bool]]:
    """{"flags": {name: bool}} with the guide's FeatureFlags semantics."""
    if state.faults.active("breaking_api"):  # removed from this build: answer as for any unknown path
        raise HTTPException(status_code=404, detail="Not Found")
    return {"flags": state.flags.evaluate(user_id, await switched_off(state))}
