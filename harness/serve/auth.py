"""Who may ask the gate server anything: a bearer token (HARNESS_SERVE_TOKEN) on every endpoint but
/healthz, and no start on a non-loopback address without one."""

from __future__ import annotations

import hmac

from harness.errors import ConfigError
from harness.net import is_loopback
from harness.redact import MIN_SECRET_LENGTH

TOKEN_ENV = "HARNESS_SERVE_TOKEN"
OPEN_PATHS = ("/healthz",)


def server_token(host: str, env: dict[str, str]) -> str | None:
    """The token every request must carry, or None (loopback only). ConfigError when the server would be
    reachable from elsewhere without one, or when the token is too short to be a secret."""
    raw = env.get(TOKEN_ENV)
    token = raw.strip() if raw is not None else None  # a trailing newline ($(cat file)) is not part of it
    if raw is not None and not token:
        raise ConfigError(f"{TOKEN_ENV} is set but blank; set it to a long random token or unset it")
    if token is not None and any(c.isspace() or ord(c) < 32 for c in token):
        raise ConfigError(f"{TOKEN_ENV} holds whitespace or a control character inside it; use a token without")
    if token is not None and len(token) < MIN_SECRET_LENGTH:
        raise ConfigError(f"{TOKEN_ENV} is shorter than {MIN_SECRET_LENGTH} characters; use a long random token")
    shown = f"[{host}]" if ":" in host else host
    if token is None and not is_loopback(f"http://{shown}/"):
        raise ConfigError(
            f"harness serve --host {host}: not a loopback address and {TOKEN_ENV} is not set; "
            f"set {TOKEN_ENV} (e.g. openssl rand -hex 32) or use --host 127.0.0.1"
        )
    return token


def authorized(header: str | None, token: str | None) -> bool:
    """Whether an Authorization header carries the token (constant-time comparison)."""
    if token is None:
        return True
    if not header or not header.startswith("Bearer "):
        return False
    return hmac.compare_digest(header[len("Bearer ") :].strip().encode(), token.encode())
