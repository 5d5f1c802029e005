"""Bearer-token checks against ORCHESTRA_API_TOKENS (no token is ever hard-coded or logged)."""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from app.state import AppState, get_state


def token_valid(token: str, accepted: tuple[str, ...]) -> bool:
    """Constant-time membership test; an empty accepted list accepts nothing."""
    if not token:
        return False
    encoded = token.encode()
    return any(hmac.compare_digest(encoded, candidate.encode()) for candidate in accepted)


def bearer_token(authorization: str | None) -> str | None:
    """The token of an 'Authorization: Bearer <token>' header, '' for another scheme, None if absent."""
    if authorization is None:
        return None
    scheme, _, credentials = authorization.strip().partition(" ")
    if scheme.lower() != "bearer":
        return ""
    return credentials.strip()


def _unauthorized(detail: str) -> HTTPException:
    """A 401 carrying the WWW-Authenticate challenge."""
    return HTTPException(status_code=401, detail=detail, headers={"WWW-Authenticate": "Bearer"})


BYPASSED_ROUTE = "/chat/v2/sessions/{session_id}/messages"  # fault auth_bypass
_bearer = HTTPBearer(auto_error=False, description="An API token from ORCHESTRA_API_TOKENS")


async def require_token(
    request: Request,
    state: Annotated[AppState, Depends(get_state)],
    _documented: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)] = None,
) -> None:
    """FastAPI dependency: 401 unless the request carries an accepted bearer token (declared as HTTPBearer)."""
    token = bearer_token(request.headers.get("authorization"))
    if not token:
        raise _unauthorized("missing bearer token")
    if state.faults.active("auth_bypass") and getattr(request.scope.get("route"), "path", "") == BYPASSED_ROUTE:
        return  # fault auth_bypass: this operation takes any bearer token
    if not token_valid(token, state.settings.api_tokens):
        raise _unauthorized("invalid bearer token")
