"""The FastAPI application factory; `app` is built lazily from the environment on first access."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI

from app import cache, db, redact
from app.faults import Faults
from app.feature_flags import FeatureFlags
from app.http_security import SecurityHeadersMiddleware
from app.metrics import Metrics, MetricsMiddleware
from app.routes import chat, features, health, metrics, websocket
from app.settings import Settings
from app.state import AppState

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
    log.info(
        "AI Orchestra %s starting: environment=%s faults=%s websocket_max_connections=%d",
        settings.app_version,
        settings.environment,
        ",".join(sorted(settings.faults)) or "none",
        settings.websocket_max_connections,
    )
    try:
        yield
    finally:
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
    app.state.orchestra = AppState(
        settings=settings,
        faults=Faults.of(settings.faults),
        flags=FeatureFlags(settings.feature_flags),
        metrics=app_metrics,
    )
    for module in (health, chat, websocket, features, metrics):
        if module is features and app.state.orchestra.faults.active("breaking_api"):
            continue
        app.include_router(module.router)
    app.add_middleware(SecurityHeadersMiddleware, faults=app.state.orchestra.faults)
    app.add_middleware(MetricsMiddleware, metrics=app_metrics)
    return app


def __getattr__(name: str) -> Any:
    """Build the module-level `app` on first access, so importing create_app needs no environment."""
    if name == "app":
        instance = create_app()
        globals()["app"] = instance
        return instance
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
