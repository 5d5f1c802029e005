"""GET /features: every feature flag evaluated for one user."""

from __future__ import annotations

import asyncio
import logging
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query

from app.feature_flags import FLAGS_CONFIG_KEY, FLAGS_OFF_KEY, run_time_config
from app.schemas import Features
from app.state import AppState, get_state

router = APIRouter()
log = logging.getLogger(__name__)
SWITCH_TIMEOUT_S = 0.5


async def flag_service(state: AppState) -> tuple[frozenset[str], dict[str, dict[str, Any]]]:
    """The flag service's run-time state: the flags switched off (FLAGS_OFF_KEY) and the run-time config
    (FLAGS_CONFIG_KEY); none when Redis cannot say (flags as configured at start)."""
    if state.redis is None:
        return frozenset(), {}
    try:
        async with state.redis.pipeline(transaction=False) as pipe:
            pipe.smembers(FLAGS_OFF_KEY)
            pipe.hgetall(FLAGS_CONFIG_KEY)
            off, config = await asyncio.wait_for(pipe.execute(), SWITCH_TIMEOUT_S)
    except Exception as exc:  # noqa: BLE001 - the flag service is best-effort, like the cache
        log.warning("flag service not read: %s", type(exc).__name__)
        return frozenset(), {}
    if state.faults.active("flags_switch_ignored"):
        off = set()
    return frozenset(off), run_time_config(config)


@router.get("/features", response_model=Features)
async def features(
    state: Annotated[AppState, Depends(get_state)],
    user_id: Annotated[str | None, Query(max_length=128)] = None,
) -> dict[str, dict[str, bool]]:
    """{"flags": {name: bool}} with the guide's FeatureFlags semantics."""
    if state.faults.active("breaking_api"):  # removed from this build: answer as for any unknown path
        raise HTTPException(status_code=404, detail="Not Found")
    off, overrides = await flag_service(state)
    faults = state.faults
    pct = faults.value("v2_api_rollout_pct")
    if pct is not None:  # the bad build: v2_api's percentage is not the configured one
        overrides = {**overrides, "v2_api": {**overrides.get("v2_api", {}), "rollout_percentage": int(pct)}}
    flags = state.flags.merged(
        overrides, bad_hash=faults.active("flag_bucket_skew"), bad_allowlist=faults.active("allowlist_ignored")
    )
    return {"flags": flags.evaluate(user_id, off)}
