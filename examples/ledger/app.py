"""The ledger service: configuration from the environment, the FastAPI app, its auth and its faults.

Configuration (environment):
    LEDGER_USERS         "alice:pw1:admin,bob:pw2:user" (required): name:password:role, role admin or user
    LEDGER_TOKEN_TTL_S   login token lifetime in seconds (default 60; a fraction is allowed)
    LEDGER_FAULTS        comma-separated fault names (FAULTS below); an unknown name is refused
    LEDGER_ACCESS_LOG    a file that gets one line per request: "METHOD PATH STATUS"

Auth: `Authorization: Token <jwt>` (HS256, a random key per process, claims sub, role, exp). A missing,
malformed, expired or `Bearer` credential is 401; a valid token whose role may not call the operation is 403.

No `from __future__ import annotations` here: FastAPI reads the route signatures' annotations at run time,
and the dependencies they name are local to create_app.
"""

import asyncio
import hmac
import math
import secrets
import time
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal, Self, TextIO

import jwt
from fastapi import Depends, FastAPI, HTTPException, Path, Request, Response
from fastapi.exception_handlers import http_exception_handler
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field
from starlette.datastructures import MutableHeaders
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from examples.ledger import VERSION

ROLES = ("admin", "user")
DEFAULT_TTL_S = 60.0
FAULTS = {
    "health_down": "/healthz answers 503",
    "no_auth": "protected operations accept a request without a token",
    "role_bypass": "admin-only operations accept a user token",
    "schema_drift": "GET /api/accounts/{account_id} answers the balance as a string",
    "slow": "one /api/accounts request in ten waits 2.2 s (a P95 past 2 s)",
    "errors": "3 in every 100 GET /api/accounts requests answer 500",
    "no_security_headers": "responses lack X-Content-Type-Options and Content-Security-Policy",
}
SLOW_S = 2.2
SLOW_EVERY = 10  # a tenth of the requests: P95 is past 2 s, the fuzzing stays quick
ERROR_SLOTS = frozenset({33, 66, 99})  # of every 100 GET /api/accounts: exactly 3 %, spread out
SCHEME = "TokenAuth"
PROTECTED: list[dict[str, list[str]]] = [{SCHEME: []}]
OPTIONAL: list[dict[str, list[str]]] = [{}, {SCHEME: []}]
CSP = "default-src 'none'; frame-ancestors 'none'"
HSTS = "max-age=31536000; includeSubDomains"
USERS_EXAMPLE = 'LEDGER_USERS="alice:pw1:admin,bob:pw2:user"'


class ConfigError(ValueError):
    """A configuration the service refuses to start with; the message is one line saying what to set."""


@dataclass(frozen=True, slots=True)
class User:
    name: str
    password: str
    role: str


@dataclass(frozen=True, slots=True)
class Config:
    users: Mapping[str, User]
    token_ttl_s: float = DEFAULT_TTL_S
    faults: frozenset[str] = frozenset()
    access_log: str | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Self:
        """Read LEDGER_*; ConfigError (one line, never a password) if anything is missing or malformed."""
        return cls(
            users=parse_users(env.get("LEDGER_USERS")),
            token_ttl_s=parse_ttl(env.get("LEDGER_TOKEN_TTL_S")),
            faults=parse_faults(env.get("LEDGER_FAULTS")),
            access_log=env.get("LEDGER_ACCESS_LOG") or None,
        )


def parse_users(raw: str | None) -> dict[str, User]:
    if raw is None or not raw.strip():
        raise ConfigError(f"LEDGER_USERS is not set: list the users as name:password:role, e.g. {USERS_EXAMPLE}")
    users: dict[str, User] = {}
    for n, entry in enumerate(raw.split(","), 1):
        name, _, rest = entry.strip().partition(":")
        password, _, role = rest.rpartition(":")
        if not name or not password or role not in ROLES:
            raise ConfigError(
                f"LEDGER_USERS entry {n} is not name:password:role with role admin or user, e.g. {USERS_EXAMPLE}"
            )
        if name in users:
            raise ConfigError(f"LEDGER_USERS names the user {name!r} twice; give each user one entry")
        users[name] = User(name, password, role)
    return users


def parse_ttl(raw: str | None) -> float:
    if raw is None or not raw.strip():
        return DEFAULT_TTL_S
    try:
        ttl = float(raw)
    except ValueError:
        ttl = math.nan
    if not math.isfinite(ttl) or ttl <= 0:
        raise ConfigError(f"LEDGER_TOKEN_TTL_S={raw!r} is not a positive number of seconds (e.g. 60 or 3.5)")
    return ttl


def parse_faults(raw: str | None) -> frozenset[str]:
    names = [n.strip() for n in (raw or "").split(",") if n.strip()]
    unknown = [n for n in names if n not in FAULTS]
    if unknown:
        raise ConfigError(f"LEDGER_FAULTS: unknown fault {unknown[0]!r}; known faults: {', '.join(sorted(FAULTS))}")
    return frozenset(names)


# --- the API's models (strict: "5" is not an integer and unknown fields are refused) ---


class Strict(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid")


def _whole_number(value: Any) -> Any:
    """JSON Schema's integer includes 598.0; strict pydantic would refuse it (and still refuses "598", true)."""
    return int(value) if isinstance(value, float) and value.is_integer() else value


WholeNumber = Annotated[int, BeforeValidator(_whole_number)]


class Error(BaseModel):
    detail: str


class Health(BaseModel):
    status: Literal["ok"]
    version: str


class Down(BaseModel):
    status: Literal["down"]


class LoginRequest(Strict):
    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=256)


class LoginResponse(BaseModel):
    access: str
    token_type: Literal["Token"]
    expires_in: float = Field(description="seconds the token stays valid")


class Rates(BaseModel):
    base: Literal["EUR"]
    rates: dict[str, float]
    fees: dict[str, float] | None = Field(None, description="only for an authenticated caller")


class AccountIn(Strict):
    owner: str = Field(min_length=1, max_length=64)
    balance: WholeNumber = Field(ge=0)


class Account(BaseModel):
    id: int
    owner: str
    balance: int


class Accounts(BaseModel):
    accounts: list[Account]


class ResetDone(BaseModel):
    reset: Literal[True]


RATES = {"USD": 1.08, "GBP": 0.86, "CHF": 0.95, "JPY": 162.4}
FEES = {"transfer_pct": 0.25, "withdrawal_flat": 1.5}
_DESCRIBED = {
    400: "The body is not JSON text (e.g. not UTF-8)",
    401: "Missing, malformed or expired `Authorization: Token <jwt>`",
    403: "The token's role may not call this operation",
    404: "No such account",
}


def errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    return {code: {"model": Error, "description": _DESCRIBED[code]} for code in codes}


@dataclass(frozen=True, slots=True)
class Identity:
    name: str
    role: str


@dataclass(slots=True)
class Store:
    accounts: dict[int, Account] = field(default_factory=dict)
    next_id: int = 1  # never reused, not even after a reset: a deleted id stays deleted

    def add(self, owner: str, balance: int) -> Account:
        account = Account(id=self.next_id, owner=owner, balance=balance)
        self.accounts[account.id] = account
        self.next_id += 1
        return account


def unauthorized(detail: str) -> HTTPException:
    return HTTPException(401, detail, headers={"WWW-Authenticate": "Token"})


class Tokens:
    """Issue and check the login tokens (HS256 with a key made at start-up: a restart logs everyone out)."""

    def __init__(self, users: Mapping[str, User], ttl_s: float) -> None:
        self.users = users
        self.ttl_s = ttl_s
        self._key = secrets.token_bytes(32)

    def issue(self, user: User) -> str:
        return jwt.encode({"sub": user.name, "role": user.role, "exp": time.time() + self.ttl_s}, self._key, "HS256")

    def identity(self, authorization: str | None) -> Identity | None:
        """None without an Authorization header; 401 for anything but a valid, unexpired Token credential."""
        if authorization is None:
            return None
        scheme, _, token = authorization.strip().partition(" ")
        if scheme.lower() != "token" or not token.strip():
            raise unauthorized("expected Authorization: Token <jwt> (log in at POST /api/auth/login)")
        try:
            # exp is checked below with its fraction (PyJWT truncates it to whole seconds)
            claims = jwt.decode(
                token.strip(),
                self._key,
                algorithms=["HS256"],
                options={"require": ["sub", "role", "exp"], "verify_exp": False},
            )
        except jwt.InvalidTokenError:
            raise unauthorized("invalid token") from None
        exp, name, role = claims["exp"], claims["sub"], claims["role"]
        if not isinstance(exp, int | float) or exp <= time.time():
            raise unauthorized("token expired: log in again")
        user = self.users.get(name) if isinstance(name, str) else None
        if user is None or user.role != role:
            raise unauthorized("invalid token")
        return Identity(user.name, user.role)


class LedgerMiddleware:
    """Per HTTP request: the `slow` fault's wait, the security headers, and the access log line."""

    def __init__(self, app: ASGIApp, faults: frozenset[str], log: TextIO | None) -> None:
        self.app = app
        self.faults = faults
        self.log = log
        self.account_requests = 0  # the `slow` fault delays every SLOW_EVERY-th one

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope.get("path", "")
        status: list[int] = []

        async def send_wrapper(message: Message) -> None:
            if message["type"] == "http.response.start":
                status.append(message["status"])
                self._log(scope, path, message["status"])  # before the client can see the answer
                headers = MutableHeaders(scope=message)
                if "no_security_headers" not in self.faults:
                    headers["X-Content-Type-Options"] = "nosniff"
                    headers["Content-Security-Policy"] = CSP
                headers["X-Frame-Options"] = "DENY"
                headers["Referrer-Policy"] = "no-referrer"
                headers["Cache-Control"] = "no-store"
                if scope.get("scheme") == "https":
                    headers["Strict-Transport-Security"] = HSTS
            await send(message)

        try:
            if "slow" in self.faults and (path == "/api/accounts" or path.startswith("/api/accounts/")):
                self.account_requests += 1
                if self.account_requests % SLOW_EVERY == 0:
                    await asyncio.sleep(SLOW_S)
            await self.app(scope, receive, send_wrapper)
        finally:
            if not status:  # no answer started: the server answers 500
                self._log(scope, path, 500)

    def _log(self, scope: Scope, path: str, status: int) -> None:
        if self.log is not None and not self.log.closed:
            self.log.write(f"{scope['method']} {path} {status}\n")
            self.log.flush()


def open_access_log(path: str | None) -> TextIO | None:
    if path is None:
        return None
    try:
        return open(path, "a", encoding="utf-8")  # noqa: SIM115 (closed at shutdown)
    except OSError as exc:
        raise ConfigError(f"LEDGER_ACCESS_LOG={path!r} cannot be opened for appending: {exc.strerror}") from None


def create_app(config: Config) -> FastAPI:
    """The ledger app for one configuration (a fresh, empty store and a fresh token key)."""
    faults = config.faults
    tokens = Tokens(config.users, config.token_ttl_s)
    store = Store()
    log = open_access_log(config.access_log)
    accounts_seen = 0

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        try:
            yield
        finally:
            if log is not None:
                log.close()

    app = FastAPI(
        title="Ledger",
        lifespan=lifespan,
        version=VERSION,
        description="Accounts in memory; log in at POST /api/auth/login and send `Authorization: Token <jwt>`.",
        openapi_url="/api/openapi.json",
        docs_url=None,
        redoc_url=None,
        swagger_ui_oauth2_redirect_url=None,
    )
    app.add_middleware(LedgerMiddleware, faults=faults, log=log)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        """As FastAPI's, except that a 405's Allow lists every method of the path (Starlette names one route's)."""
        if exc.status_code == 405:
            allowed = {
                method
                for route in app.router.routes
                if isinstance(route, APIRoute) and route.matches(request.scope)[0] == Match.PARTIAL
                for method in route.methods
            }
            exc = StarletteHTTPException(405, exc.detail, headers={"Allow": ", ".join(sorted(allowed))})
        return await http_exception_handler(request, exc)

    def caller(request: Request) -> Identity | None:
        return tokens.identity(request.headers.get("authorization"))

    def requires(*roles: str) -> Callable[..., Identity]:
        admin_only = roles == ("admin",)

        def check(identity: Annotated[Identity | None, Depends(caller)]) -> Identity:
            if identity is None:
                if "no_auth" in faults:
                    return Identity("anonymous", "admin")
                raise unauthorized("missing Authorization: Token <jwt> (log in at POST /api/auth/login)")
            if identity.role not in roles and not (admin_only and "role_bypass" in faults):
                raise HTTPException(403, f"the role {identity.role!r} may not call this operation")
            return identity

        return check

    member = Depends(requires("admin", "user"))
    admin = Depends(requires("admin"))

    @app.get(
        "/healthz",
        operation_id="health",
        tags=["health"],
        response_model=Health,
        responses={503: {"model": Down, "description": "The service cannot serve requests"}},
    )
    async def health() -> Any:
        if "health_down" in faults:
            return JSONResponse({"status": "down"}, status_code=503)
        return {"status": "ok", "version": VERSION}

    @app.post(
        "/api/auth/login",
        operation_id="login",
        tags=["auth"],
        response_model=LoginResponse,
        responses={401: {"model": Error, "description": "Unknown user or wrong password"}, **errors(400)},
    )
    async def login(body: LoginRequest) -> Any:
        user = config.users.get(body.username)
        given = body.password.encode()
        if user is None or not hmac.compare_digest(given, user.password.encode()):
            raise unauthorized("unknown user or wrong password")
        ttl = config.token_ttl_s
        return {"access": tokens.issue(user), "token_type": "Token", "expires_in": ttl}

    @app.get(
        "/api/rates",
        operation_id="rates",
        tags=["rates"],
        response_model=Rates,
        response_model_exclude_none=True,
        responses=errors(401),
        openapi_extra={"security": OPTIONAL},
    )
    async def rates(identity: Annotated[Identity | None, Depends(caller)]) -> Any:
        out: dict[str, Any] = {"base": "EUR", "rates": RATES}
        if identity is not None:
            out["fees"] = FEES
        return out

    @app.get(
        "/api/accounts",
        operation_id="list_accounts",
        tags=["accounts"],
        response_model=Accounts,
        responses=errors(401),
        openapi_extra={"security": PROTECTED},
        dependencies=[member],
    )
    async def list_accounts() -> Any:
        nonlocal accounts_seen
        accounts_seen += 1
        if "errors" in faults and accounts_seen % 100 in ERROR_SLOTS:
            return JSONResponse({"detail": "internal error"}, status_code=500)
        return {"accounts": list(store.accounts.values())}

    @app.post(
        "/api/accounts",
        operation_id="create_account",
        tags=["accounts"],
        status_code=201,
        response_model=Account,
        responses={
            201: {
                "description": "The account, created",
                "links": {
                    "GetAccount": {
                        "operationId": "get_account",
                        "parameters": {"account_id": "$response.body#/id"},
                        "description": "The new account",
                    },
                    "DeleteAccount": {
                        "operationId": "delete_account",
                        "parameters": {"account_id": "$response.body#/id"},
                        "description": "Remove the new account (admin only)",
                    },
                },
            },
            **errors(400, 401),
        },
        openapi_extra={"security": PROTECTED},
        dependencies=[member],
    )
    async def create_account(body: AccountIn) -> Any:
        return store.add(body.owner, body.balance)

    account_id_param = Annotated[int, Path(ge=1, description="the account's id")]

    @app.get(
        "/api/accounts/{account_id}",
        operation_id="get_account",
        tags=["accounts"],
        response_model=Account,
        responses=errors(401, 404),
        openapi_extra={"security": PROTECTED},
        dependencies=[member],
    )
    async def get_account(account_id: account_id_param) -> Any:
        account = store.accounts.get(account_id)
        if account is None:
            raise HTTPException(404, f"no account {account_id}")
        if "schema_drift" in faults:
            return JSONResponse({**account.model_dump(), "balance": str(account.balance)})
        return account

    @app.delete(
        "/api/accounts/{account_id}",
        operation_id="delete_account",
        tags=["accounts", "admin"],
        status_code=204,
        response_class=Response,
        responses={204: {"description": "The account is gone"}, **errors(401, 403, 404)},
        openapi_extra={"security": PROTECTED},
        dependencies=[admin],
    )
    async def delete_account(account_id: account_id_param) -> Response:
        if store.accounts.pop(account_id, None) is None:
            raise HTTPException(404, f"no account {account_id}")
        return Response(status_code=204)

    @app.post(
        "/api/admin/reset",
        operation_id="reset",
        tags=["admin"],
        response_model=ResetDone,
        responses=errors(401, 403),
        openapi_extra={"security": PROTECTED},
        dependencies=[admin],
    )
    async def reset() -> Any:
        store.accounts.clear()
        return {"reset": True}

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            from fastapi.openapi.utils import get_openapi

            doc = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
            doc.setdefault("components", {})["securitySchemes"] = {
                SCHEME: {
                    "type": "apiKey",
                    "in": "header",
                    "name": "Authorization",
                    "description": "`Token <jwt>`, the `access` field of POST /api/auth/login (not `Bearer`)",
                }
            }
            app.openapi_schema = doc
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    return app
