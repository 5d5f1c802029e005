"""Fault throughput_cap_rps as a pure ASGI middleware: every HTTP request and WebSocket handshake waits for
its slot (AppState.throttle). The harness's admin endpoint is never throttled, so a cap can be switched off."""

from __future__ import annotations

from collections.abc import Callable

from starlette.types import ASGIApp, Receive, Scope, Send

from app.state import AppState

ADMIN_PREFIX = "/__harness/"


class ThrottleMiddleware:
    """Hold each request until the throughput cap lets it start; a no-op while the fault is off."""

    def __init__(self, app: ASGIApp, state: Callable[[], AppState]) -> None:
        self.app = app
        self.state = state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Wrap one ASGI call."""
        if scope["type"] in ("http", "websocket") and not scope.get("path", "").startswith(ADMIN_PREFIX):
            await self.state().throttle()
        await self.app(scope, receive, send)
