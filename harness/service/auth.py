"""Auth as the service profile says: where a token comes from (a variable of the environment, or a login
request refreshed before the token expires) and how a request carries it (a header with a prefix, a query
parameter, a cookie). Every suite (smoke, contract, security, load) sends its credentials through here,
and every repro line shows the token as $HARNESS_TOKEN.

Tokens a login returns are remembered as secrets of the run (harness.redact.remember_secret), so the
reports never show them.
"""

from __future__ import annotations

import base64
import os
import secrets
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import requests

from harness.errors import ConfigError, HarnessError
from harness.http import request as bounded_request
from harness.redact import remember_secret
from harness.service.profile import _PLACEHOLDER, Auth, Identity, Login

PLACEHOLDER = "$HARNESS_TOKEN"


class AuthError(HarnessError):
    """The token source could not give a token (a login refused or unreachable)."""


def _fill(value: Any, env: Mapping[str, str], where: str) -> Any:
    """A login body with every "{env:NAME}" and "{secret:NAME}" replaced by the variable's value."""
    if isinstance(value, str):

        def sub(m: Any) -> str:
            name = m.group(2)
            if not env.get(name):
                raise ConfigError(f"{where}: the login body needs the environment variable {name}, which is not set")
            if m.group(1) == "secret_b64":
                try:
                    return base64.b64decode(env[name], validate=True).decode()
                except (ValueError, UnicodeDecodeError):
                    raise ConfigError(
                        f"{where}: {name} is not base64 of a UTF-8 password ({{secret_b64:{name}}}); "
                        f"set it to the output of: printf %s 'the-password' | base64"
                    ) from None
            return env[name]

        return _PLACEHOLDER.sub(sub, value)
    if isinstance(value, dict):
        return {k: _fill(v, env, where) for k, v in value.items()}
    if isinstance(value, list):
        return [_fill(v, env, where) for v in value]
    return value


def _field(doc: Any, dotted: str) -> Any:
    for part in dotted.split("."):
        if not isinstance(doc, dict) or part not in doc:
            return None
        doc = doc[part]
    return doc


@dataclass
class TokenSource:
    """A valid token on demand. Static: the value of an environment variable (or the harness-started stack's
    own token). Login: the login request's answer, requested again before the token expires (or after
    `invalidate()`, when the service refused it)."""

    base_url: str
    static: str | None = field(default=None, repr=False)
    login: Login | None = None
    env: Mapping[str, str] = field(default_factory=lambda: dict(os.environ), repr=False)
    timeout_s: float = 10.0
    verify: bool | str = True
    label: str = "token"
    _token: str | None = field(default=None, repr=False)
    _expires: float = 0.0
    _refresh_at: float = 0.0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    logins: int = 0

    def token(self) -> str | None:
        if self.login is None:
            return self.static
        with self._lock:
            if self._token is None or time.monotonic() >= self._refresh_at:
                self._do_login()
            return self._token

    def invalidate(self) -> None:
        with self._lock:
            self._refresh_at = 0.0

    def _do_login(self) -> None:
        login = self.login
        assert login is not None
        where = f"service profile auth.login ({login.method} {login.path})"
        body = _fill(login.json_body, self.env, where)
        url = self.base_url.rstrip("/") + login.path
        try:
            resp = bounded_request(login.method, url, deadline_s=self.timeout_s, json=body or None, verify=self.verify)
        except requests.RequestException as exc:
            raise AuthError(f"{where}: no answer from {url} ({type(exc).__name__}); is the service up?") from None
        who = f"the {self.label} ({_who(login, self.env)})"
        if resp.status_code >= 400:
            raise AuthError(
                f"{where} answered HTTP {resp.status_code} {_quote(resp)} for {who}: its credentials were refused; "
                "check the environment variables the login body names"
            )
        try:
            doc = resp.json()
        except ValueError:
            raise AuthError(
                f"{where} answered {resp.status_code} without JSON {_quote(resp)} for {who}; check its credentials, "
                "or set auth.login.token_field"
            ) from None
        token = _field(doc, login.token_field)
        if not isinstance(token, str) or not token:
            raise AuthError(
                f"{where} answered {resp.status_code} {_quote(resp)} for {who}, with no string at "
                f"{login.token_field!r}: if the answer is a refusal, check its credentials; "
                "else set auth.login.token_field"
            )
        life = _field(doc, login.expires_in_field) if login.expires_in_field else None
        lifetime = float(life) if isinstance(life, int | float) and life > 0 else login.lifetime_s
        now = time.monotonic()
        remember_secret(token)
        self._token, self.logins = token, self.logins + 1
        self._expires = now + lifetime
        self._refresh_at = now + lifetime * (1 - login.refresh_margin)


def _who(login: Login, env: Mapping[str, str]) -> str:
    """The identity as a person knows it: the plain values of its login body ({env:NAME}), never a secret."""
    plain = []
    for key, value in login.json_body.items():
        m = _PLACEHOLDER.fullmatch(value) if isinstance(value, str) else None
        if m and m.group(1) == "env":
            plain.append(f"{key}={env.get(m.group(2), '')!r} from {m.group(2)}")
    return ", ".join(plain) or "its login"


def _quote(resp: requests.Response, limit: int = 160) -> str:
    """The start of an answer's body, quoted on one line (a login's refusal says why; a token never gets here:
    only answers without one are quoted, and the reports redact known secrets anyway)."""
    text = " ".join(resp.text.split())[:limit]
    return f"({text!r})" if text else "(empty body)"


def token_source(
    identity: Identity, base_url: str, *, target_token: str | None, env: Mapping[str, str] | None = None, **kw: Any
) -> TokenSource:
    """The source of one identity: its login, or its variable (HARNESS_TOKEN: the target's own token)."""
    env = dict(os.environ if env is None else env)
    if identity.login is not None:
        return TokenSource(base_url, login=identity.login, env=env, **kw)
    name = identity.token_env
    static = target_token if name in (None, "HARNESS_TOKEN") else env.get(name) or None
    return TokenSource(base_url, static=static, env=env, **kw)


@dataclass
class Credentials:
    """One identity's token, carried as the profile's auth says."""

    auth: Auth
    source: TokenSource | None

    @property
    def scheme(self) -> str:
        return self.auth.scheme

    def token(self) -> str | None:
        return self.source.token() if self.source is not None and self.auth.scheme != "none" else None

    def present(self) -> bool:
        return (
            self.auth.scheme != "none"
            and self.source is not None
            and (self.source.login is not None or bool(self.source.static))
        )

    def parts(self, token: str | None = None) -> dict[str, dict[str, str]]:
        """{"headers": ..., "params": ..., "cookies": ...} carrying token (default: the current one)."""
        token = self.token() if token is None else token
        out: dict[str, dict[str, str]] = {"headers": {}, "params": {}, "cookies": {}}
        if not token:
            return out
        a = self.auth
        if a.scheme == "header":
            out["headers"][a.name] = f"{a.prefix}{token}"
        elif a.scheme == "query":
            out["params"][a.name] = token
        elif a.scheme == "cookie":
            out["cookies"][a.name] = token
        return out

    def headers(self, token: str | None = None) -> dict[str, str]:
        """Everything as headers (a cookie as a Cookie header): for clients that take headers only."""
        p = self.parts(token)
        headers = dict(p["headers"])
        if p["cookies"]:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in p["cookies"].items())
        return headers

    def url(self, url: str, token: str | None = None) -> str:
        """url with the query parameter of a `query` scheme added."""
        params = self.parts(token)["params"]
        if not params:
            return url
        from urllib.parse import urlencode

        return url + ("&" if "?" in url else "?") + urlencode(params)

    def ws_headers(self, token: str | None = None) -> list[str]:
        return [f"{k}: {v}" for k, v in self.headers(token).items()]

    def curl_args(self) -> list[str]:
        """The curl flags that carry the token, with the token as $HARNESS_TOKEN."""
        a = self.auth
        if a.scheme == "header":
            return ["-H", f'"{a.name}: {a.prefix}{PLACEHOLDER}"']
        if a.scheme == "cookie":
            return ["-b", f'"{a.name}={PLACEHOLDER}"']
        return []

    def is_auth_header(self, name: str) -> bool:
        return self.auth.scheme == "header" and name.lower() == self.auth.name.lower()

    def bad_variants(self) -> list[tuple[str, dict[str, dict[str, str]]]]:
        """(name, parts) of the credentials a protected operation must refuse; the wrong token looks real."""
        a = self.auth
        wrong = secrets.token_urlsafe(24)
        out: list[tuple[str, dict[str, dict[str, str]]]] = [("no token", {"headers": {}, "params": {}, "cookies": {}})]
        out.append(("malformed token", self.parts("not a token;, really")))
        if a.scheme == "header":
            other = "Basic " if a.prefix.strip().lower() != "basic" else "Bearer "
            out.append(
                ("wrong scheme", {"headers": {a.name: f"{other}c2VjdXJpdHk6cHJvYmU="}, "params": {}, "cookies": {}})
            )
        out.append(("wrong token", self.parts(wrong)))
        return out


class RequestsAuth(requests.auth.AuthBase):
    """requests' hook: each request gets the current token (refreshed by its source when due)."""

    def __init__(self, creds: Credentials) -> None:
        self.creds = creds

    def __call__(self, r: requests.PreparedRequest) -> requests.PreparedRequest:
        p = self.creds.parts()
        r.headers.update(p["headers"])
        if p["cookies"]:
            r.headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in p["cookies"].items())
        if p["params"]:
            r.prepare_url(r.url, p["params"])
        return r


def credentials_for(
    auth: Auth, base_url: str, *, target_token: str | None, low_privilege: bool = False, **kw: Any
) -> Credentials | None:
    """The main identity's credentials (or the low-privilege one's; None when the profile has none)."""
    if low_privilege:
        if auth.low_privilege is None:
            return None
        low = token_source(auth.low_privilege, base_url, target_token=None, label="low-privilege identity", **kw)
        return Credentials(auth, low)
    return Credentials(auth, token_source(auth.identity, base_url, target_token=target_token, **kw))
