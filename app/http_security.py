"""Security response headers (a pure ASGI middleware), and the header faults that undo them.

Every HTTP response gets X-Content-Type-Options, X-Frame-Options, a Content-Security-Policy (strict for
the JSON API; the interactive docs get one that allows their CDN scripts and inline bootstrap),
Referrer-Policy and Cache-Control: no-store (responses carry user data and tokens are bearer tokens);
HTTPS responses also get Strict-Transport-Security. The faults `leaky_headers` and `cors_wildcard` add
what a badly configured build would send.
"""

from __future__ import annotations

import platform
from collections.abc import Callable

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.faults import Faults

API_CSP = "default-src 'none'; frame-ancestors 'none'"
DOCS_PATHS = frozenset({"/docs", "/docs/oauth2-redirect", "/redoc"})
DOCS_CSP = (
    "default-src 'self'; "
    "script-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net; "
    "style-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net https://fonts.googleapis.com; "
    "font-src 'self' https://fonts.gstatic.com; "
    "img-src 'self' data: https://fastapi.tiangolo.com https://cdn.redoc.ly; "
    "worker-src 'self' blob:; connect-src 'self'; frame-ancestors 'none'"
)
HSTS = "max-age=31536000; includeSubDomains"


def _leaky() -> tuple[str, str]:
    """(Server, X-Powered-By) as a build that advertises its stack would send them (fault leaky_headers)."""
    import fastapi
    import uvicorn

    return f"uvicorn/{uvicorn.__version__} Python/{platform.python_version()}", f"FastAPI/{fastapi.__version__}"


class SecurityHeadersMiddleware:
    """Add the security headers to every HTTP response the app sends; websocket and lifespan pass through."""

    def __init__(self, app: ASGIApp, faults: Callable[[], Faults]) -> None:
        self.app = app
        self.faults = faults  # read per response: the fault set can be switched at run time

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Wrap one ASGI call."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        docs = scope.get("path", "") in DOCS_PATHS
        https = scope.get("scheme") == "https"

        faults = self.faults()

        async def send_wrapper(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers.setdefault("X-Content-Type-Options", "nosniff")
                headers.setdefault("X-Frame-Options", "DENY")
                headers.setdefault("Content-Security-Policy", DOCS_CSP if docs else API_CSP)
                headers.setdefault("Referrer-Policy", "no-referrer")
                headers.setdefault("Cache-Control", "no-store")
                if https:
                    headers.setdefault("Strict-Transport-Security", HSTS)
                if faults.active("leaky_headers"):
                    server, powered_by = _leaky()
                    headers["Server"] = server
                    headers["X-Powered-By"] = powered_by
                if faults.active("cors_wildcard"):
                    headers["Access-Control-Allow-Origin"] = "*"
                    headers["Access-Control-Allow-Credentials"] = "true"
            await send(message)

        await self.app(scope, receive, send_wrapper)
