"""The gate server's HTTP interface (FastAPI): what Argo Rollouts' web provider, Flagger's webhooks and a
CI job ask, and what they are answered. Every answer is JSON (Argo counts an empty or non-JSON 2xx body as
Successful whatever its conditions say), and 5xx/429 are never answered on purpose except the documented
503 of GET /gates while a run is in progress (an Argo measurement Error, retried every 10 s).

| endpoint | answers |
|---|---|
| GET /healthz | 200, no token needed |
| GET /metrics | Prometheus text: runs by phase and verdict, run durations, queue length |
| POST /runs {phase, target?, suites?, checksum?} | 202 {run_id, status}; 409 when the queue is full |
| GET /runs/{id} | 200 the run (and its verdict document once done); 404 unknown |
| GET /gates/{phase}?target=&checksum= | 200 {verdict, phase, run_id, gates, reasons} (a final verdict only); |
|   | 503 {status: running} otherwise (the run is started) |
| POST /flagger/{hook} | gate hooks: 200 go, 403 no-go/inconclusive, 423 running; |
|   | rollback: 200 only when the verdict is no-go, else 404 |

Bad requests: 401 (token), 400 (malformed JSON or field), 403 (target outside serve_targets), 404 (unknown
phase: the phases are named), 409 (queue full), 413 (body over 64 KiB).
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST
from starlette.exceptions import HTTPException as StarletteHTTPException

from harness.config import Settings
from harness.jsonfile import parse_json
from harness.serve.auth import OPEN_PATHS, authorized
from harness.serve.metrics import Metrics
from harness.serve.runs import LOCAL, QueueFull, Run, Runner
from harness.serve.store import Stored

MAX_BODY = 64 * 1024
CHECKSUM = re.compile(r"^[A-Za-z0-9._:-]{0,128}$")
# Flagger hook -> the phase gated when metadata.phase is absent (None: the hook runs no gate)
HOOKS: dict[str, str | None] = {
    "confirm-rollout": "pr",
    "pre-rollout": "pr",
    "rollout": "canary-10",
    "confirm-traffic-increase": "canary-10",
    "confirm-promotion": "canary-10",
    "rollback": None,  # reads the latest verdict for the checksum (of metadata.phase when given)
    "post-rollout": None,  # Flagger only logs the answer
    "event": None,
}
GATE_HOOKS = ("confirm-rollout", "pre-rollout", "rollout", "confirm-traffic-increase", "confirm-promotion")


class BadRequest(Exception):
    def __init__(self, status: int, body: dict[str, Any]) -> None:
        super().__init__(body.get("error"))
        self.status, self.body = status, body


def _json(status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(body, status_code=status, headers=headers)


class Guard:
    """ASGI middleware in front of every route: the bearer token (but /healthz), then the body cap, read
    once and replayed to the route."""

    def __init__(self, app: Any, token: str | None, max_body: int = MAX_BODY) -> None:
        self.app, self.token, self.max_body = app, token, max_body

    async def __call__(self, scope: dict[str, Any], receive: Callable[[], Awaitable[Any]], send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        try:
            await self._guarded(scope, receive, send)
        except Exception:  # noqa: BLE001 - a bug of ours is still a JSON answer, never a text/plain 500
            body = {"error": "harness serve failed; this is a bug of the harness"}
            try:
                await _json(500, body)(scope, receive, send)
            except Exception:  # noqa: BLE001 - the response had started: nothing more can be said
                pass

    async def _guarded(self, scope: dict[str, Any], receive: Callable[[], Awaitable[Any]], send: Any) -> None:
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        path = scope["path"]
        allowed = path in OPEN_PATHS or authorized(headers.get("authorization"), self.token)
        if not allowed and not path.startswith("/flagger/"):  # Flagger cannot send headers: see below
            await self._unauthorized(scope, receive, send)
            return
        too_big = _json(413, {"error": f"request body over {self.max_body} bytes", "limit_bytes": self.max_body})
        length = headers.get("content-length", "")
        if length.isdigit() and int(length) > self.max_body:
            await too_big(scope, receive, send)
            return
        chunks, size, more = [], 0, True
        while more:
            message = await receive()
            if message["type"] != "http.request":
                return  # the client went away
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body:
                await too_big(scope, receive, send)
                return
            chunks.append(chunk)
            more = message.get("more_body", False)
        body = b"".join(chunks)
        if not allowed and not authorized(f"Bearer {flagger_token(body)}", self.token):
            await self._unauthorized(scope, receive, send)
            return
        replayed = False

        async def replay() -> dict[str, Any]:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    async def _unauthorized(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        hint = "send Authorization: Bearer <HARNESS_SERVE_TOKEN> (Flagger: metadata.token)"
        body = {"error": "missing or wrong bearer token", "hint": hint}
        await _json(401, body, {"WWW-Authenticate": "Bearer"})(scope, receive, send)


def flagger_token(body: bytes) -> str:
    """Flagger's webhooks carry no headers: the token travels as metadata.token of its payload (the
    Canary's webhook metadata). Never echoed nor stored."""
    try:
        doc = parse_json(body.decode("utf-8"))
    except (ValueError, UnicodeDecodeError):
        return ""
    meta = doc.get("metadata") if isinstance(doc, dict) else None
    token = meta.get("token") if isinstance(meta, dict) else None
    return token if isinstance(token, str) else ""


def create_app(
    settings: Settings, runner: Runner, metrics: Metrics, phases: list[str], suites: set[str], token: str | None
) -> Any:
    """The ASGI application: FastAPI routes behind the Guard."""

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        runner.shutdown()  # the server stops: so does every gate run it started

    api = FastAPI(title="harness serve", docs_url=None, redoc_url=None, openapi_url=None, lifespan=lifespan)
    default_target = settings.target.rstrip("/") if settings.target else LOCAL
    allowed = {t.rstrip("/") for t in settings.serve_targets} | ({default_target} - {LOCAL})

    @api.exception_handler(BadRequest)
    async def _bad(_: Request, exc: BadRequest) -> JSONResponse:
        return _json(exc.status, exc.body)

    @api.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        return _json(exc.status_code, {"error": str(exc.detail)})

    @api.exception_handler(Exception)
    async def _bug(_: Request, exc: Exception) -> JSONResponse:
        return _json(500, {"error": f"harness serve failed ({type(exc).__name__}); this is a bug of the harness"})

    def phase_of(name: str) -> str:
        if name not in phases:
            raise BadRequest(404, {"error": f"unknown phase {name!r}", "phases": phases})
        return name

    def target_of(value: Any) -> str:
        if value is None or value == "":
            return default_target
        if not isinstance(value, str):
            raise BadRequest(400, {"error": "target must be a URL string"})
        if value.rstrip("/") not in allowed:
            raise BadRequest(
                403,
                {"error": f"target {value!r} is not in serve_targets", "hint": "add it to serve_targets in the config"},
            )
        return value.rstrip("/")

    def checksum_of(value: Any) -> str:
        value = "" if value is None else value
        if not isinstance(value, str) or not CHECKSUM.match(value):
            raise BadRequest(400, {"error": "checksum must be up to 128 characters of A-Z a-z 0-9 . _ : -"})
        return value

    async def body_of(request: Request) -> dict[str, Any]:
        raw = await request.body()
        try:
            doc = parse_json(raw.decode("utf-8"))  # NaN, duplicate keys and nesting over 64 are bad requests
        except (ValueError, UnicodeDecodeError) as exc:
            raise BadRequest(400, {"error": f"request body is not valid JSON ({exc})"}) from None
        if not isinstance(doc, dict):
            raise BadRequest(400, {"error": "request body must be a JSON object"})
        return doc

    def ask(phase: str, target: str, checksum: str, suites: tuple[str, ...] | None = None) -> Run | Stored:
        try:
            return runner.request(phase, target, checksum, suites)[0]
        except QueueFull as exc:
            raise BadRequest(409, {"error": f"queue full: {exc}", "hint": "retry later"}) from None

    @api.get("/healthz")
    async def healthz() -> dict[str, Any]:
        return {"status": "ok", "queue": runner.queue_length(), "running": runner.running()}

    @api.get("/metrics")
    async def prom() -> Response:
        return Response(metrics.render(), media_type=CONTENT_TYPE_LATEST)

    @api.post("/runs")
    async def post_run(request: Request) -> JSONResponse:
        doc = await body_of(request)
        unknown = sorted(set(doc) - {"phase", "target", "suites", "checksum"})
        if unknown:
            raise BadRequest(
                400,
                {
                    "error": f"unknown field(s) {', '.join(unknown)}",
                    "fields": ["phase", "target", "suites", "checksum"],
                },
            )
        if not isinstance(doc.get("phase"), str):
            raise BadRequest(400, {"error": "phase (a string) is required", "phases": phases})
        phase, target, checksum = phase_of(doc["phase"]), target_of(doc.get("target")), checksum_of(doc.get("checksum"))
        picked = _suites(doc.get("suites"), suites)
        got = ask(phase, target, checksum, picked)
        body = _describe(got)
        return _json(202, {**body, "url": f"/runs/{body['run_id']}"})

    @api.get("/runs/{run_id}")
    async def get_run(run_id: str) -> JSONResponse:
        got = runner.get(run_id)
        if got is None:
            raise BadRequest(404, {"error": f"no run {run_id!r}"})
        return _json(200, _describe(got))

    @api.get("/gates/{phase}")
    async def gates(phase: str, target: str | None = None, checksum: str | None = None) -> JSONResponse:
        key = (phase_of(phase), target_of(target), checksum_of(checksum))
        got = ask(*key)
        if isinstance(got, Stored):
            return _json(200, verdict_body(got.doc, got.run_id, got.target, got.checksum))
        body = {
            "status": got.status,
            "run_id": got.id,
            "phase": got.phase,
            "target": got.target,
            "checksum": got.checksum,
        }
        body["reason"] = "the gate run is in progress; this answer is an Argo measurement Error, retried in 10 s"
        return _json(503, body, {"Retry-After": "10"})

    @api.post("/flagger/{hook}")
    async def flagger(hook: str, request: Request) -> JSONResponse:
        if hook not in HOOKS:
            raise BadRequest(404, {"error": f"unknown Flagger hook {hook!r}", "hooks": list(HOOKS)})
        doc = await body_of(request)
        meta = _flagger_payload(doc)
        target, checksum = target_of(meta.get("target")), checksum_of(doc.get("checksum"))
        given = phase_of(meta["phase"]) if "phase" in meta else None
        if hook == "rollback":
            latest = runner.store.fresh(given, target, checksum)
            verdict = latest.verdict if latest else None
            if latest is not None and verdict == "no-go":
                return _json(200, {"rollback": True, **verdict_body(latest.doc, latest.run_id, target, checksum)})
            why = f"the latest verdict for checksum {checksum!r} is {verdict or 'not known yet'}, not no-go"
            return _json(404, {"rollback": False, "verdict": verdict, "reasons": [why]})
        if hook not in GATE_HOOKS:
            return _json(200, {"ok": True, "hook": hook})
        phase = given or phase_of(str(HOOKS[hook]))
        got = ask(phase, target, checksum)
        if isinstance(got, Run):
            why = f"the {phase} gate run {got.id} for checksum {checksum!r} is {got.status}; Flagger will ask again"
            return _json(423, {"status": got.status, "run_id": got.id, "phase": phase, "reasons": [why]})
        body = verdict_body(got.doc, got.run_id, target, checksum)
        return _json(200 if got.verdict == "go" else 403, body)

    return Guard(api, token)


def _suites(value: Any, known: set[str]) -> tuple[str, ...] | None:
    if value is None:
        return None
    names = value.split(",") if isinstance(value, str) else value
    if not isinstance(names, list) or not all(isinstance(n, str) and n.strip() for n in names) or not names:
        raise BadRequest(400, {"error": "suites must be a list of suite names (or A,B)", "suites": sorted(known)})
    bad = [n for n in names if n.strip() not in known]
    if bad:
        raise BadRequest(400, {"error": f"unknown suite(s) {', '.join(bad)}", "suites": sorted(known)})
    return tuple(n.strip() for n in names)


def _flagger_payload(doc: dict[str, Any]) -> dict[str, str]:
    """Flagger's CanaryWebhookPayload: name, namespace, phase and checksum strings; metadata string -> string."""
    for key in ("name", "namespace"):
        if not isinstance(doc.get(key), str):
            raise BadRequest(400, {"error": f"Flagger payload: {key} (a string) is required"})
    for key in ("phase", "checksum"):
        if key in doc and not isinstance(doc[key], str):
            raise BadRequest(400, {"error": f"Flagger payload: {key} must be a string"})
    meta = doc.get("metadata") or {}
    if not isinstance(meta, dict) or not all(isinstance(v, str) for v in meta.values()):
        raise BadRequest(400, {"error": "Flagger payload: metadata must be an object of strings"})
    return meta


def _describe(got: Run | Stored) -> dict[str, Any]:
    if isinstance(got, Run):
        return got.public()
    return {
        "run_id": got.run_id,
        "status": "done",
        "phase": got.phase,
        "target": got.target,
        "checksum": got.checksum,
        "verdict": got.verdict,
        "document": got.doc,
    }


def verdict_body(doc: dict[str, Any], run_id: str, target: str, checksum: str) -> dict[str, Any]:
    """What Argo's jsonPath and Flagger's events read: the verdict, its gates and reasons."""
    keys = ("id", "status", "observed", "threshold", "reason")
    return {
        "verdict": doc["verdict"],
        "phase": doc.get("phase"),
        "run_id": run_id,
        "target": target,
        "checksum": checksum,
        "finished_at": doc.get("finished_at"),
        "gates": [{k: g.get(k) for k in keys} for g in doc.get("gates", [])],
        "reasons": doc.get("reasons", []),
    }
