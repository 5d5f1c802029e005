"""The FastAPI application factory; `app` is built lazily from the environment on first access."""

from __future__ import annotations

import asyncio
import copy
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI

from app import admin, cache, db, redact
from app.faults import Faults
from app.feature_flags import FeatureFlags
from app.http_security import SecurityHeadersMiddleware
from app.metrics import Metrics, MetricsMiddleware
from app.routes import chat, features, health, metrics, websocket
from app.settings import Settings
from app.state import AppState
from app.throttle import ThrottleMiddleware

log = logging.getLogger("app")
SHUTDOWN_DRAIN_S = 3.0


def configure_logging(level: str) -> None:
    """Give the `app` logger a stderr handler at LOG_LEVEL (once per process)."""
    if not log.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        log.addHandler(handler)
        log.propagate = False
    log.setLevel(level)


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Create the PostgreSQL pool and Redis client (both connect lazily) and dispose of them on shutdown."""
    state: AppState = app.state.orchestra
    settings = state.settings
    state.pg = db.create_pool(settings.database_url)
    await db.open_pool(state.pg)
    state.redis = cache.create_client(settings.redis_url)
    redact.install()  # after the server configured its loggers
    follower = await admin.start_following(state) if settings.admin_token else None
    log.info(
        "AI Orchestra %s starting: environment=%s faults=%s websocket_max_connections=%d%s",
        settings.app_version,
        settings.environment,
        ",".join(sorted(settings.faults)) or "none",
        settings.websocket_max_connections,
        " admin endpoint on (faults switchable at run time)" if settings.admin_token else "",
    )
    try:
        yield
    finally:
        if follower is not None:
            follower.cancel()
            await asyncio.gather(follower, return_exceptions=True)
        if state.background:
            _, pending = await asyncio.wait(set(state.background), timeout=SHUTDOWN_DRAIN_S)
            for task in pending:
                task.cancel()
        await state.redis.aclose()
        await state.pg.close()
        state.pg, state.redis = None, None
        log.info("AI Orchestra %s stopped", settings.app_version)


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build one independent app instance (its own metrics registry, clients and state)."""
    settings = settings or Settings.from_env()
    configure_logging(settings.log_level)
    app = FastAPI(title="AI Orchestra", version=settings.app_version, lifespan=lifespan)
    app_metrics = Metrics()
    state = AppState(
        settings=settings,
        faults=Faults.of(settings.faults),
        flags=FeatureFlags(settings.feature_flags),
        metrics=app_metrics,
    )
    app.state.orchestra = state
    # faults ws_leaked_slots and ws_leak: leaked slots count as open connections
    app_metrics.websockets.set_function(
        lambda: state.open_websockets + state.leaked_websockets + int(state.faults.value("ws_leaked_slots") or 0)
    )
    for module in (health, chat, websocket, features, metrics):
        app.include_router(module.router)
    if settings.admin_token:
        app.include_router(admin.router)
    _serve_document_per_faults(app, state)
    app.add_middleware(ThrottleMiddleware, state=lambda: state, templates=lambda: app.openapi().get("paths", {}))
    app.add_middleware(SecurityHeadersMiddleware, faults=lambda: state.faults)
    app.add_middleware(MetricsMiddleware, metrics=app_metrics)
    return app


BREAKING_API_PATHS = ("/features",)  # fault breaking_api: what this build "removed"
_REF = "#/components/schemas/"


def _serve_document_per_faults(app: FastAPI, state: AppState) -> None:
    """/openapi.json as the build with the active faults would have it: with breaking_api on, without the
    removed operations and the schemas only they used, as if their router were not included."""
    clean = app.openapi  # FastAPI's own, cached
    broken: dict[str, Any] = {}

    def openapi() -> dict[str, Any]:
        if not state.faults.active("breaking_api"):
            return clean()
        if not broken:
            broken.update(without_paths(clean(), BREAKING_API_PATHS))
        return broken

    app.openapi = openapi  # type: ignore[method-assign]


def without_paths(doc: dict[str, Any], paths: tuple[str, ...]) -> dict[str, Any]:
    """A copy of an OpenAPI document without some paths, and without the component schemas nothing else uses."""
    out = copy.deepcopy(doc)
    for path in paths:
        out.get("paths", {}).pop(path, None)
    schemas = out.get("components", {}).get("schemas")
    if not schemas:
        return out
    used: set[str] = set()
    pending = [{k: v for k, v in out.items() if k != "components"}]
    while pending:
        node = pending.pop()
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith(_REF) and ref[len(_REF) :] not in used:
                used.add(ref[len(_REF) :])
                pending.append(schemas.get(ref[len(_REF) :]))
            pending.extend(node.values())
        elif isinstance(node, list):
            pending.extend(node)
    out["components"]["schemas"] = {k: v for k, v in schemas.items() if k in used}
    return out


def __getattr__(name: str) -> Any:
    """Build the module-level `app` on first access, so importing create_app needs no environment."""
    if name == "app":
        instance = create_app()
        globals()["app"] = instance
        return instance
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
