"""The HTTP API's documented bodies: what /openapi.json promises clients, and the contract suite checks."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field, field_validator


def _no_nul(value: str | None) -> str | None:
    """PostgreSQL text cannot hold NUL: reject it as bad input instead of failing the write."""
    if value is not None and "\x00" in value:
        raise ValueError("must not contain NUL characters")
    return value


def _one_path_segment(value: str) -> str:
    """A session id is read back at /chat/v2/sessions/{session_id}/messages: it must fit one URL path
    segment, or the turn would be stored under an id no client can ask for ('/' splits the segment; clients
    drop '.' and '..' segments)."""
    if "/" in value or value in (".", ".."):
        raise ValueError("must be usable as one URL path segment (no '/', not '.' or '..')")
    return value


class ChatRequest(BaseModel):
    """The POST /chat/v2/chat body."""

    message: str = Field(min_length=1, max_length=4000)
    session_id: str = Field(min_length=1, max_length=128)
    user_id: str | None = Field(default=None, min_length=1, max_length=128)

    _check_nul = field_validator("message", "session_id", "user_id")(_no_nul)
    _check_session = field_validator("session_id")(_one_path_segment)


class ChatResponse(BaseModel):
    """A chat turn that was answered and stored."""

    success: Literal[True]
    session_id: str
    message_id: int
    response: str
    version: str


class ChatFailure(BaseModel):
    """A chat turn that could not be answered."""

    success: Literal[False]
    error: str


class Detail(BaseModel):
    """An error with a human-readable detail (401, 404, 503)."""

    detail: str


class HealthChecks(BaseModel):
    """Each dependency's check: 'ok' or a short error."""

    postgres: str
    redis: str


class Health(BaseModel):
    """GET /health: 200 healthy, 503 unhealthy."""

    status: Literal["healthy", "unhealthy"]
    version: str
    environment: str
    checks: HealthChecks


class StoredMessage(BaseModel):
    """One message as stored in PostgreSQL."""

    id: int
    role: Literal["user", "assistant"]
    content: str
    created_at: str


class SessionMessages(BaseModel):
    """A session's stored messages and the cached last exchange (null when not cached)."""

    session_id: str
    messages: list[StoredMessage]
    cached_last: dict[str, Any] | None


class Features(BaseModel):
    """Every feature flag's value for one user."""

    flags: dict[str, bool]


UNAUTHORIZED: dict[int | str, dict[str, Any]] = {401: {"model": Detail, "description": "Missing or invalid token"}}
