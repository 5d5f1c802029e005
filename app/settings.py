"""Service settings, read once from the environment into a frozen dataclass."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from app.faults import parse_faults
from app.feature_flags import merge_flags

LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
MIN_ADMIN_TOKEN = 16
_PG_PREFIXES = ("postgresql+psycopg://", "postgresql://", "postgres://")


def normalise_database_url(url: str) -> str:
    """Turn the guide's postgresql:// form into SQLAlchemy's postgresql+psycopg:// form."""
    for prefix in _PG_PREFIXES:
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    raise ValueError("DATABASE_URL: unsupported scheme; allowed: postgresql://, postgres://, postgresql+psycopg://")


def database_url_from_env(env: Mapping[str, str] | None = None) -> str:
    """The normalised DATABASE_URL, or a ValueError naming the variable."""
    env = os.environ if env is None else env
    raw = env.get("DATABASE_URL", "").strip()
    if not raw:
        raise ValueError("DATABASE_URL is required (e.g. postgresql://user@localhost:5432/ai_orchestra)")
    return normalise_database_url(raw)


def _int(env: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    """An integer variable in [low, high], or a ValueError naming it."""
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ValueError(f"{name}: expected an integer in {low}..{high}, got {raw!r}") from None
    if not low <= value <= high:
        raise ValueError(f"{name}: expected an integer in {low}..{high}, got {value}")
    return value


@dataclass(frozen=True)
class Settings:
    """Everything the service reads from its environment."""

    database_url: str
    redis_url: str
    environment: str = "development"
    log_level: str = "INFO"
    websocket_max_connections: int = 1000
    api_tokens: tuple[str, ...] = ()
    faults: frozenset[str] = frozenset()
    feature_flags: dict[str, dict[str, Any]] = field(default_factory=lambda: merge_flags(None))
    app_version: str = "2.0.0"
    host: str = "127.0.0.1"
    port: int = 8000
    admin_token: str | None = None  # ORCHESTRA_ADMIN_TOKEN: enables the harness's admin endpoint (app/admin.py)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Build settings from os.environ (or a given mapping); ValueError names the bad variable."""
        env = os.environ if env is None else env
        database_url = database_url_from_env(env)
        redis_url = env.get("REDIS_URL", "").strip()
        if not redis_url:
            raise ValueError("REDIS_URL is required (e.g. redis://localhost:6379/0)")
        if not redis_url.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError("REDIS_URL: unsupported scheme; allowed: redis://, rediss://, unix://")
        log_level = (env.get("LOG_LEVEL", "").strip() or "INFO").upper()
        if log_level not in LOG_LEVELS:
            raise ValueError(f"LOG_LEVEL: unknown level {log_level!r}; allowed: {', '.join(LOG_LEVELS)}")
        tokens = tuple(t.strip() for t in env.get("ORCHESTRA_API_TOKENS", "").split(",") if t.strip())
        admin_token = env.get("ORCHESTRA_ADMIN_TOKEN", "").strip() or None
        if admin_token is not None and len(admin_token) < MIN_ADMIN_TOKEN:
            raise ValueError(f"ORCHESTRA_ADMIN_TOKEN: at least {MIN_ADMIN_TOKEN} characters (it switches faults on)")
        return cls(
            database_url=database_url,
            redis_url=redis_url,
            environment=env.get("ENVIRONMENT", "").strip() or "development",
            log_level=log_level,
            websocket_max_connections=_int(env, "WEBSOCKET_MAX_CONNECTIONS", 1000, 1, 1_000_000),
            api_tokens=tokens,
            faults=parse_faults(env.get("ORCHESTRA_FAULTS")),
            feature_flags=merge_flags(env.get("ORCHESTRA_FEATURE_FLAGS")),
            app_version=env.get("APP_VERSION", "").strip() or "2.0.0",
            host=env.get("HOST", "").strip() or "127.0.0.1",
            port=_int(env, "PORT", 8000, 0, 65535),
            admin_token=admin_token,
        )

    def __repr__(self) -> str:
        """A repr that never shows tokens or URL credentials."""
        return (
            f"Settings(environment={self.environment!r}, version={self.app_version!r}, "
            f"tokens={len(self.api_tokens)}, faults={sorted(self.faults)}, admin={self.admin_token is not None})"
        )
