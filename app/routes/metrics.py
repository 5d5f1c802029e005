"""GET /metrics: Prometheus text from the app's own registry."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST

from app.state import AppState, get_state

router = APIRouter()


@router.get(
    "/metrics",
    response_class=Response,
    responses={
        200: {"description": "Prometheus text exposition", "content": {"text/plain": {"schema": {"type": "string"}}}}
    },
)
async def metrics(state: Annotated[AppState, Depends(get_state)]) -> Response:
    """Exposition text; the metrics_missing fault drops the HTTP families, metrics_down the whole scrape."""
    if state.faults.active("metrics_down"):
        return Response(content="metrics unavailable\n", status_code=503, media_type="text/plain")
    body = state.metrics.render(
        omit_http=state.faults.active("metrics_missing"), rename_requests=state.faults.active("metric_renamed")
    )
    return Response(content=body, media_type=CONTENT_TYPE_LATEST)
