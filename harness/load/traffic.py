"""The load traffic from the service profile's [load] table, as the plan the locustfile runs (HARNESS_LOAD_PLAN).

    traffic = "reference"   the reference app's users (chat, health, WebSocket) of tests/load/locustfile.py
    traffic = "endpoints"   the [[load.endpoints]] listed: method, path, weight, JSON body, auth flag
    traffic = "openapi"     the service's OpenAPI document (paths.openapi): its GET/HEAD operations,
                            path and query parameters filled from their examples or schemas

Every kind keeps to the run's Scope: on a target the harness did not start, an unsafe operation is sent
only with --allow-unsafe or when the profile lists it in operations.unsafe_allowed, and the profile's
exclusions always apply; what was left out is in the plan's "excluded", with the reason. WebSocket users
run only when the profile has paths.websocket.

Auth travels as data: the scheme, the header name and prefix, and the login request (with its "{env:NAME}"
placeholders, never their values). A static token reaches Locust in HARNESS_LOAD_TOKEN; the login's
credentials in the environment variables the profile names: never on a command line.
"""

from __future__ import annotations

from typing import Any

import requests

from harness.errors import HarnessError
from harness.http import get as bounded_get
from harness.security.operations import operations, request_for
from harness.service.operations import DROPPED, Scope
from harness.service.profile import ServiceProfile

LOAD_METHODS = ("GET", "HEAD")  # what traffic = "openapi" calls: reads only, whatever the scope allows
REFERENCE = {  # the reference users' HTTP operations (tests/load/locustfile.py)
    "chat": ("POST", "/chat/v2/chat"),
    "health": ("GET", "/health"),
}


class TrafficError(HarnessError):
    """The profile's traffic leaves nothing to send, or its OpenAPI document cannot be read."""


def auth_plan(profile: ServiceProfile) -> dict[str, Any]:
    """How the Locust users carry their token; the login spec keeps its {env:NAME} placeholders."""
    auth = profile.auth
    login = auth.login.model_dump(by_alias=True) if auth.login is not None else None
    return {"scheme": auth.scheme, "name": auth.name, "prefix": auth.prefix, "login": login}


def _websocket(profile: ServiceProfile, scope: Scope, kind: str) -> dict[str, Any] | None:
    path = profile.paths.websocket
    if not path or scope.excluded("GET", path) is not None:
        return None
    # the reference app's protocol (ping -> pong, a streamed chat turn); another service: connect and close
    return {"path": path, "protocol": "reference" if kind == "reference" else "connect"}


def _endpoints(profile: ServiceProfile, scope: Scope) -> tuple[list[dict[str, Any]], list[str]]:
    out, excluded = [], []
    for e in profile.load.endpoints:
        label = f"{e.method} {e.path}"
        why = scope.excluded(e.method, e.path)
        if why:
            excluded.append(f"{label}: {why}")
            continue
        out.append(
            {"name": e.name or label, "method": e.method, "path": e.path, "weight": e.weight, "json": e.json_body}
            | {"auth": e.auth}
        )
    return out, excluded


OPENAPI_GETS_ONLY = "traffic = 'openapi' sends only GET and HEAD"


def openapi_endpoints(doc: dict[str, Any], scope: Scope) -> tuple[list[dict[str, Any]], list[str]]:
    """The document's GET/HEAD operations the scope allows, each a request with its parameters filled in."""
    out, excluded = [], []
    for op in operations(doc):
        if op.method not in LOAD_METHODS:
            excluded.append(f"{op.label}: {OPENAPI_GETS_ONLY}")
            continue
        why = scope.excluded(op.method, op.path, op.spec.get("tags") or ())
        if why:
            excluded.append(f"{op.label}: {why}")
            continue
        req = request_for(op, doc, "")
        auth = not scope.public(op.method, op.path)  # the token goes wherever the profile does not say public
        out.append({"name": op.label, "method": op.method, "path": req.url, "weight": 1, "json": None, "auth": auth})
    return out, excluded


def fetch_openapi(base_url: str, path: str, *, headers: dict[str, str] | None = None, verify: Any = True) -> dict:
    """The service's OpenAPI document (one GET; with the run's credentials when it refuses an anonymous one)."""
    url = base_url.rstrip("/") + path
    try:
        resp = bounded_get(url, deadline_s=15, verify=verify)  # end to end: a trickled document ends at 15 s
        if resp.status_code in (401, 403) and headers:
            resp = bounded_get(url, deadline_s=15, headers=headers, verify=verify)
    except requests.RequestException as exc:
        raise TrafficError(f"traffic = 'openapi': GET {url} got no answer ({type(exc).__name__})") from None
    if resp.status_code != 200:
        raise TrafficError(f"traffic = 'openapi': GET {url} answered HTTP {resp.status_code}; check paths.openapi")
    try:
        doc = resp.json()
    except ValueError:
        raise TrafficError(f"traffic = 'openapi': {url} is not JSON; check paths.openapi") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("paths"), dict):
        raise TrafficError(f"traffic = 'openapi': {url} has no 'paths' object; is it an OpenAPI document?")
    return doc


def traffic_plan(
    profile: ServiceProfile, scope: Scope, *, weights: dict[str, int], openapi_doc: dict[str, Any] | None = None
) -> dict[str, Any]:
    """The traffic part of HARNESS_LOAD_PLAN: {"kind", "endpoints", "websocket", "auth", "excluded", "users"}.

    `users` are the Locust user classes to run; `weights` are the load profile's (chat, health, websocket),
    of which only websocket's counts for the endpoint kinds (their HTTP weight is the sum of the others)."""
    kind = profile.load.traffic
    websocket = _websocket(profile, scope, kind)
    excluded: list[str] = []
    if not websocket and profile.paths.websocket:
        excluded.append(f"WebSocket {profile.paths.websocket}: {scope.excluded('GET', profile.paths.websocket)}")
    endpoints: list[dict[str, Any]] = []
    if kind == "reference":
        users = []
        for key, (method, path) in REFERENCE.items():
            why = scope.excluded(method, path)
            if why:
                excluded.append(f"{method} {path} ({key} users): {why}")
            elif weights.get(key, 0) > 0:
                users.append(key)
    else:
        if kind == "endpoints":
            endpoints, more = _endpoints(profile, scope)
        else:
            if openapi_doc is None:
                raise TrafficError("traffic = 'openapi' needs the service's OpenAPI document (paths.openapi)")
            endpoints, more = openapi_endpoints(openapi_doc, scope)
        excluded += more
        users = ["endpoints"] if endpoints else []
    if websocket and weights.get("websocket", 0) > 0:
        users.append("websocket")
    if not users:
        detail = "; ".join(excluded[:5]) or "no traffic has a weight above 0"
        raise TrafficError(
            f"the load traffic of the {profile.describe()} (traffic = {kind!r}) leaves nothing to send: {detail}"
        )
    http_weight = sum(w for k, w in weights.items() if k != "websocket") or 1
    return {
        "kind": kind,
        "users": users,
        "http_weight": http_weight,
        "endpoints": endpoints,
        "websocket": websocket,
        "auth": auth_plan(profile),
        "excluded": excluded,
        # what the run could have loaded and did not (the safety scope, the profile's exclusions): the load
        # gates are then not_run, never pass, on a number that left these operations out
        "not_run": [e for e in excluded if not e.endswith((OPENAPI_GETS_ONLY, DROPPED))],
    }


def public_plan(plan: dict[str, Any]) -> dict[str, Any]:
    """The plan as reports show it: the auth scheme and the login request's method and path, no more."""
    auth = plan.get("auth") or {}
    login = auth.get("login")
    shown = {"scheme": auth.get("scheme"), "name": auth.get("name")}
    shown["login"] = f"{login['method']} {login['path']}" if login else None
    return {**plan, "auth": shown}


def reference_plan(weights: dict[str, int]) -> dict[str, Any]:
    """The plan without a service profile: the reference app's users and its Bearer token (as before)."""
    users = [k for k in ("chat", "health") if weights.get(k, 0) > 0]
    if weights.get("websocket", 0) > 0:
        users.append("websocket")
    return {
        "kind": "reference",
        "users": users,
        "http_weight": sum(w for k, w in weights.items() if k != "websocket") or 1,
        "endpoints": [],
        "websocket": {"path": "/chat/ws/{user_id}/{session_id}", "protocol": "reference"},
        "auth": {"scheme": "header", "name": "Authorization", "prefix": "Bearer ", "login": None},
        "excluded": [],
        "not_run": [],
    }
