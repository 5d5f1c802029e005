"""Faults throughput_cap_rps and fail_first as a pure ASGI middleware: every HTTP request and WebSocket
handshake waits for its slot (AppState.throttle); the first N HTTP calls of each operation (method and path
template) answer 503 (fail_first).
The harness's admin endpoint is never throttled nor failed, so a fault can always be switched off."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable

from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from app.state import AppState

ADMIN_PREFIX = "/__harness/"


class ThrottleMiddleware:
    """Hold each request until the throughput cap lets it start; a no-op while the fault is off."""

    def __init__(self, app: ASGIApp, state: Callable[[], AppState], templates: Callable[[], Iterable[str]] = tuple):
        self.app = app
        self.state = state
        self.templates = templates  # the API's path templates (its OpenAPI document's paths)
        self._patterns: list[tuple[re.Pattern[str], str]] | None = None

    def _operation(self, path: str) -> str:
        """The path template the path belongs to ('/chat/v2/sessions/{session_id}/messages'), else the path."""
        if self._patterns is None:
            self._patterns = [(re.compile("^" + re.sub(r"\{[^/}]+\}", "[^/]+", t) + "$"), t) for t in self.templates()]
        return next((t for pattern, t in self._patterns if pattern.match(path)), path)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Wrap one ASGI call."""
        if scope["type"] in ("http", "websocket") and not scope.get("path", "").startswith(ADMIN_PREFIX):
            state = self.state()
            await state.throttle()
            if scope["type"] == "http" and state.faults.value("fail_first") is not None:
                failing = state.fails_first(scope.get("method", "GET"), self._operation(scope.get("path", "")))
            else:
                failing = False
            if failing:
                await JSONResponse({"status": "unavailable", "error": "warming up (fault fail_first)"}, 503)(
                    scope, receive, send
                )
                return
        await self.app(scope, receive, send)
