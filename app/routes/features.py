"""GET /features: every feature flag evaluated for one user."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query

from app.schemas import Features
from app.state import AppState, get_state

router = APIRouter()


@router.get("/features", response_model=Features)
async def features(
    state: Annotated[AppState, Depends(get_state)],
    user_id: Annotated[str | None, Query(max_length=128)] = None,
) -> dict[str, dict[str, bool]]:
    """{"flags": {name: bool}} with the guide's FeatureFlags semantics."""
    if state.faults.active("breaking_api"):  # removed from this build: answer as for any unknown path
        raise HTTPException(status_code=404, detail="Not Found")
    return {"flags": state.flags.evaluate(user_id)}
