"""The shop service: configuration, a SQLite store, bearer tokens, and its faults.

Configuration (environment):
    SHOP_USERS       "alice:pw1:admin,bob:pw2:user" (required): name:password:role; short passwords are fine
    SHOP_FAULTS      comma-separated fault names (FAULTS below); an unknown name is refused
    SHOP_ACCESS_LOG  a file that gets one line per request: "METHOD PATH STATUS"

Behaviours of the clean build that trap a naive scanner (none of them is a vulnerability):
    - POST /api/orders validates the body (the item must be in the catalogue) before it checks the token:
      400 for every token, the right one included, when the item is unknown;
    - GET /api/orders/{order_id} answers 404 for an unknown order before it checks the token;
    - GET /api/products answers with or without a token (members see their prices), although its
      document declares the token;
    - the test users' passwords are shorter than 8 characters.

No `from __future__ import annotations`: FastAPI reads the signatures' annotations at run time.
"""

import secrets
import sqlite3
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, PlainTextResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Receive, Scope, Send

from examples.shop import VERSION

ROLES = ("admin", "user")
FAULTS = {
    "sqli": "GET /api/orders/{order_id} builds its SQL from the id: a quote answers 500 with the database error",
    "bola": "GET /api/orders/{order_id} answers any signed-in user's request for any order (no owner check)",
    "mass_assignment": 'POST /api/register honours "admin": true in the body',
    "user_enumeration": "POST /api/login answers 404 for an unknown user and 401 for a wrong password",
}
CATALOGUE = {"apple": 120, "pear": 90, "plum": 60}
SCHEME = "BearerAuth"
PROTECTED = [{SCHEME: []}]


class ConfigError(ValueError):
    """A configuration the service refuses; the message is one line saying what to set."""


@dataclass(frozen=True, slots=True)
class Config:
    users: Mapping[str, tuple[str, str]]  # name -> (password, role)
    faults: frozenset[str] = frozenset()
    access_log: str | None = None


def config_from_env(env: Mapping[str, str]) -> Config:
    raw = env.get("SHOP_USERS") or ""
    users: dict[str, tuple[str, str]] = {}
    for n, entry in enumerate(x for x in raw.split(",") if x.strip()):
        name, _, rest = entry.strip().partition(":")
        password, _, role = rest.rpartition(":")
        if not name or not password or role not in ROLES:
            raise ConfigError(
                f'SHOP_USERS entry {n + 1} is not name:password:role, e.g. "alice:pw1:admin,bob:pw2:user"'
            )
        users[name] = (password, role)
    if not users:
        raise ConfigError('SHOP_USERS is not set: list the users, e.g. "alice:pw1:admin,bob:pw2:user"')
    faults = frozenset(f.strip() for f in (env.get("SHOP_FAULTS") or "").split(",") if f.strip())
    unknown = sorted(faults - set(FAULTS))
    if unknown:
        raise ConfigError(f"SHOP_FAULTS: unknown fault {unknown[0]!r}; known faults: {', '.join(sorted(FAULTS))}")
    return Config(users, faults, env.get("SHOP_ACCESS_LOG") or None)


class Credentials(BaseModel):
    model_config = ConfigDict(extra="forbid")
    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=128)


class Registration(BaseModel):
    model_config = ConfigDict(extra="ignore")  # unknown fields are dropped (unless the mass_assignment fault)
    username: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")
    password: str = Field(min_length=1, max_length=128)


class User(BaseModel):
    username: str
    admin: bool


class Users(BaseModel):
    users: list[User]


class Token(BaseModel):
    token: str


class OrderIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    item: str = Field(min_length=1, max_length=32, description="an item of the catalogue (GET /api/products)")
    qty: int = Field(ge=1, le=100)


class Order(BaseModel):
    id: str
    item: str
    qty: int
    owner: str


class Orders(BaseModel):
    orders: list[Order]


class Product(BaseModel):
    name: str
    price: int
    member_price: int | None = None


class Products(BaseModel):
    products: list[Product]


class Detail(BaseModel):
    detail: str


def _errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    said = {
        400: "The body is well-formed but names no item of the catalogue",
        401: "Missing or invalid bearer token",
        403: "The token's role may not call this operation",
        404: "No such order (or not yours)",
        409: "The user name is taken",
    }
    return {code: {"model": Detail, "description": said[code]} for code in codes}


class AccessLog:
    """One line per request: METHOD PATH STATUS (what the e2e tests read as the ground truth)."""

    def __init__(self, app: ASGIApp, path: str | None) -> None:
        self.app = app
        self.file = open(path, "a", encoding="utf-8") if path else None  # noqa: SIM115 (process lifetime)
        self.lock = threading.Lock()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def wrapped(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers["X-Content-Type-Options"] = "nosniff"
                headers["Content-Security-Policy"] = "default-src 'none'; frame-ancestors 'none'"
                headers["X-Frame-Options"] = "DENY"
                headers["Cache-Control"] = "no-store"
                if self.file is not None:
                    with self.lock:
                        self.file.write(f"{scope['method']} {scope['path']} {message['status']}\n")
                        self.file.flush()
            await send(message)

        await self.app(scope, receive, wrapped)


def create_app(config: Config) -> FastAPI:
    faults = config.faults
    db = sqlite3.connect(":memory:", check_same_thread=False)
    lock = threading.Lock()
    tokens: dict[str, str] = {}  # token -> user name
    with lock:
        db.execute("CREATE TABLE users (name TEXT PRIMARY KEY, password TEXT NOT NULL, admin INTEGER NOT NULL)")
        db.execute("CREATE TABLE orders (id TEXT PRIMARY KEY, item TEXT, qty INTEGER, owner TEXT)")
        for name, (password, role) in config.users.items():
            db.execute("INSERT INTO users VALUES (?, ?, ?)", (name, password, int(role == "admin")))
            for item in ("apple", "pear"):  # every user starts with two orders of its own
                db.execute("INSERT INTO orders VALUES (?, ?, 1, ?)", (f"ord-{secrets.token_hex(4)}", item, name))

    def query(sql: str, args: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        with lock:
            return db.execute(sql, args).fetchall()

    app = FastAPI(title="Shop", version=VERSION, openapi_url="/api/openapi.json", docs_url=None, redoc_url=None)
    app.add_middleware(AccessLog, path=config.access_log)

    def caller(request: Request) -> str | None:
        value = request.headers.get("authorization") or ""
        scheme, _, token = value.partition(" ")
        return tokens.get(token.strip()) if scheme.lower() == "bearer" else None

    def unauthorized() -> JSONResponse:
        return JSONResponse({"detail": "missing or invalid bearer token"}, 401, headers={"WWW-Authenticate": "Bearer"})

    def is_admin(name: str) -> bool:
        return bool(query("SELECT admin FROM users WHERE name = ?", (name,))[0][0])

    @app.get("/healthz", operation_id="health")
    def health() -> dict[str, str]:
        return {"status": "ok", "version": VERSION}

    @app.post("/api/login", operation_id="login", response_model=Token, responses=_errors(401, 404))
    def login(body: Credentials) -> Any:
        row = query("SELECT password FROM users WHERE name = ?", (body.username,))
        if not row and "user_enumeration" in faults:
            return JSONResponse({"detail": f"no user named {body.username}"}, 404)
        if not row or not secrets.compare_digest(row[0][0].encode(), body.password.encode()):
            return JSONResponse({"detail": "invalid credentials"}, 401)
        token = secrets.token_urlsafe(24)
        tokens[token] = body.username
        return {"token": token}

    @app.post("/api/register", operation_id="register", status_code=201, response_model=User, responses=_errors(409))
    async def register(body: Registration, request: Request) -> Any:
        admin = False
        if "mass_assignment" in faults:
            raw = await request.json()
            admin = isinstance(raw, dict) and raw.get("admin") is True
        if query("SELECT 1 FROM users WHERE name = ?", (body.username,)):
            return JSONResponse({"detail": "user name taken"}, 409)
        query("INSERT INTO users VALUES (?, ?, ?)", (body.username, body.password, int(admin)))
        return {"username": body.username, "admin": admin}

    @app.get(
        "/api/products",
        operation_id="products",
        response_model=Products,
        response_model_exclude_none=True,
        responses=_errors(401),
        openapi_extra={"security": PROTECTED},  # the document says so; the service answers anyone (optional)
    )
    def products(request: Request, q: str = "") -> Any:
        member = caller(request) is not None
        rows = [(n, p) for n, p in CATALOGUE.items() if q.lower() in n]
        return {"products": [{"name": n, "price": p, **({"member_price": p - 10} if member else {})} for n, p in rows]}

    @app.get(
        "/api/orders",
        operation_id="list_orders",
        response_model=Orders,
        responses=_errors(401),
        openapi_extra={"security": PROTECTED},
    )
    def list_orders(request: Request) -> Any:
        who = caller(request)
        if who is None:
            return unauthorized()
        rows = query("SELECT id, item, qty, owner FROM orders WHERE owner = ? ORDER BY id", (who,))
        return {"orders": [dict(zip(("id", "item", "qty", "owner"), r, strict=True)) for r in rows]}

    @app.post(
        "/api/orders",
        operation_id="create_order",
        status_code=201,
        response_model=Order,
        responses={
            201: {
                "description": "The order",
                "links": {"GetOrder": {"operationId": "get_order", "parameters": {"order_id": "$response.body#/id"}}},
            },
            **_errors(400, 401),
        },
        openapi_extra={"security": PROTECTED},
    )
    def create_order(body: OrderIn, request: Request) -> Any:
        if body.item not in CATALOGUE:  # the body first, then the token (a trap, not a vulnerability)
            return JSONResponse({"detail": f"no item {body.item!r} in the catalogue"}, 400)
        who = caller(request)
        if who is None:
            return unauthorized()
        order_id = f"ord-{secrets.token_hex(4)}"
        query("INSERT INTO orders VALUES (?, ?, ?, ?)", (order_id, body.item, body.qty, who))
        return {"id": order_id, "item": body.item, "qty": body.qty, "owner": who}

    @app.get(
        "/api/orders/{order_id}",
        operation_id="get_order",
        response_model=Order,
        responses=_errors(401, 404),
        openapi_extra={"security": PROTECTED},
    )
    def get_order(order_id: str, request: Request) -> Any:
        try:
            if "sqli" in faults:
                rows = query(f"SELECT id, item, qty, owner FROM orders WHERE id = '{order_id}'")  # noqa: S608 (the fault)
            else:
                rows = query("SELECT id, item, qty, owner FROM orders WHERE id = ?", (order_id,))
        except sqlite3.Error as exc:  # the fault's answer: the database's own words
            return PlainTextResponse(f"database error: sqlite3.{type(exc).__name__}: {exc}", 500)
        if not rows:  # 404 before the token (a trap, not a vulnerability)
            return JSONResponse({"detail": "no such order"}, 404)
        who = caller(request)
        if who is None:
            return unauthorized()
        order = dict(zip(("id", "item", "qty", "owner"), rows[0], strict=True))
        if order["owner"] != who and "bola" not in faults:
            return JSONResponse({"detail": "no such order"}, 404)
        return order

    @app.get(
        "/api/admin/users",
        operation_id="users",
        tags=["admin"],
        response_model=Users,
        responses=_errors(401, 403),
        openapi_extra={"security": PROTECTED},
    )
    def users(request: Request) -> Any:
        who = caller(request)
        if who is None:
            return unauthorized()
        if not is_admin(who):
            return JSONResponse({"detail": "admins only"}, 403)
        return {"users": [{"username": n, "admin": bool(a)} for n, a in query("SELECT name, admin FROM users")]}

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            from fastapi.openapi.utils import get_openapi

            doc = get_openapi(title=app.title, version=app.version, routes=app.routes)
            doc.setdefault("components", {})["securitySchemes"] = {SCHEME: {"type": "http", "scheme": "bearer"}}
            app.openapi_schema = doc
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    return app
