"""The load traffic for Locust: the reference app's users (authenticated chat calls, health probes and
WebSocket sessions), or the endpoints of the service profile's [load] table (listed, or generated from
its OpenAPI document: harness/load/traffic.py).

Run only by harness.load.runner, in Locust's own process(es): `import locust` monkey-patches gevent,
so this file must never be imported into the pytest process. The mix (user weights, think time,
timeouts) and the traffic (which users, which endpoints, how the token is carried, the login request)
come in HARNESS_LOAD_PLAN; a static token in HARNESS_LOAD_TOKEN, a login's credentials in the environment
variables the profile names (never on the command line, where `ps` would show them).

A login token is requested here, in each Locust process, by the harness's own token source
(harness.service.auth.TokenSource), and requested again before it expires; a 401 answer makes one refresh
and one retry. The login requests and the 401 answers that were retried are not Locust requests: they are
in no statistic the gates judge, and are counted in HARNESS_LOAD_AUTH_LOG instead.

Failures that never got an answer from the server (refused, reset, timed out) are reported with an
error text starting "no answer", so the harness can tell "the target is gone" from "the target
answered badly".
"""

from __future__ import annotations

import json
import os
import re
import threading
import time
import uuid
from collections import deque

import gevent
import gevent.event
import websocket
from locust import FastHttpUser, User, between, constant, events, task
from locust.runners import MasterRunner, WorkerRunner

PLAN: dict = json.loads(os.environ.get("HARNESS_LOAD_PLAN") or "{}")
TOKEN = os.environ.get("HARNESS_LOAD_TOKEN", "")
WEIGHTS: dict = PLAN.get("weights", {"chat": 6, "health": 3, "websocket": 1})
TRAFFIC: dict = PLAN.get("traffic") or {}
AUTH: dict = TRAFFIC.get("auth") or {"scheme": "header", "name": "Authorization", "prefix": "Bearer ", "login": None}
WS_PLAN: dict = TRAFFIC.get("websocket") or {"path": "/chat/ws/{user_id}/{session_id}", "protocol": "reference"}
AUTH_LOG = os.environ.get("HARNESS_LOAD_AUTH_LOG")
WAIT_S: list = PLAN.get("wait_s", [0.0, 0.0])
TIMEOUT_S = float(PLAN.get("request_timeout_s", 10.0))
PROGRESS_FILE = os.environ.get("HARNESS_LOAD_PROGRESS")
PROGRESS_EVERY_S = float(PLAN.get("progress_interval_s", 3.0))  # workers report every 3 s
DURATION_S = float(PLAN.get("duration_s") or 0)  # 0: Locust's --run-time alone ends the run
NO_ANSWER = "no answer"


def _think_time():
    low, high = (float(x) for x in WAIT_S)
    return constant(low) if low == high else between(low, high)


class NoAnswer(Exception):
    """The server never answered: connection refused, reset, closed or timed out."""


def _auth_event(event: str, **detail) -> None:
    """One line of the auth log (logins and retried 401s are not load traffic: they are counted here)."""
    if AUTH_LOG:
        with open(AUTH_LOG, "a") as fh:
            fh.write(json.dumps({"event": event, "pid": os.getpid(), "t": round(time.time(), 3), **detail}) + "\n")


class Tokens:
    """This process's token: the static one (HARNESS_LOAD_TOKEN), or the profile's login, done here and
    refreshed before the token expires (one source shared by the process's users)."""

    _lock = threading.Lock()
    _source = None
    _failed_at = 0.0
    _logged = 0  # logins written to the auth log

    @classmethod
    def current(cls, host: str) -> str:
        login = AUTH.get("login")
        if AUTH.get("scheme") == "none":
            return ""
        if not login:
            return TOKEN
        with cls._lock:
            if cls._source is None:
                from harness.service.auth import TokenSource
                from harness.service.profile import Login

                cls._source = TokenSource(host.rstrip("/"), login=Login.model_validate(login), timeout_s=TIMEOUT_S)
        source = cls._source
        if time.monotonic() - cls._failed_at < 1.0:  # a refused login is not asked again at once by every user
            return ""
        try:
            token = source.token() or ""
        except Exception as exc:  # noqa: BLE001 - an AuthError or ConfigError: said once per try, then no token
            cls._failed_at = time.monotonic()
            _auth_event("login_failed", error=str(exc)[:300])
            return ""
        with cls._lock:  # each login once, whichever user's call made it
            new, cls._logged = source.logins - cls._logged, source.logins
        for _ in range(new):
            _auth_event("login")
        return token

    @classmethod
    def refreshable(cls) -> bool:
        return bool(AUTH.get("login")) and AUTH.get("scheme") != "none"

    @classmethod
    def refused(cls, host: str, used: str) -> str:
        """The service refused `used` (401): a new token, unless another user already got one."""
        if cls._source is not None and cls.current(host) == used:
            cls._source.invalidate()
        return cls.current(host)


def _carry(token: str) -> dict:
    """Request arguments (headers, params, cookies as a header) carrying token as the profile says."""
    if not token:
        return {}
    scheme, name = AUTH.get("scheme", "header"), AUTH.get("name", "Authorization")
    if scheme == "header":
        return {"headers": {name: f"{AUTH.get('prefix', '')}{token}"}}
    if scheme == "query":
        return {"params": {name: token}}
    if scheme == "cookie":
        return {"headers": {"Cookie": f"{name}={token}"}}
    return {}


def _merge(kwargs: dict, extra: dict) -> dict:
    out = dict(kwargs)
    for key, value in extra.items():
        out[key] = {**(out.get(key) or {}), **value}
    return out


class _Api(FastHttpUser):
    abstract = True
    wait_time = _think_time()
    network_timeout = TIMEOUT_S
    connection_timeout = TIMEOUT_S
    insecure = False

    def _call(self, method: str, path: str, *, name: str, auth: bool, ok=None, **kwargs) -> None:
        """One request carrying the token (when auth), judged; a 401 makes one refresh and one retry,
        and only the retry is a Locust request."""
        token = Tokens.current(self.host) if auth else ""
        resp = self.client.request(method, path, name=name, catch_response=True, **_merge(kwargs, _carry(token)))
        if resp.status_code == 401 and auth and Tokens.refreshable():
            _auth_event("retry_401", name=name)
            token = Tokens.refused(self.host, token)
            resp = self.client.request(method, path, name=name, catch_response=True, **_merge(kwargs, _carry(token)))
        with resp:
            self._judge(resp, ok)

    def _judge(self, resp, ok) -> None:
        if resp.status_code == 0:
            resp.failure(f"{NO_ANSWER}: {type(resp.error).__name__}")
        elif ok is None:  # the endpoint kinds: any answer below 400
            if resp.status_code >= 400:
                resp.failure(f"HTTP {resp.status_code}")
            else:
                resp.success()
        elif resp.status_code != 200:
            resp.failure(f"HTTP {resp.status_code}")
        else:
            try:
                body = resp.json()
            except ValueError:
                resp.failure("HTTP 200 but the body is not JSON")
                return
            if not ok(body):
                resp.failure("HTTP 200 but the body says it failed")


class ChatUser(_Api):
    """An API client: authenticated chat turns in its own session."""

    weight = int(WEIGHTS.get("chat", 0))

    def on_start(self) -> None:
        self.session_id = f"load-{uuid.uuid4().hex[:12]}"

    @task
    def chat(self) -> None:
        body = {"message": "load test turn", "session_id": self.session_id}
        self._call(
            "POST",
            "/chat/v2/chat",
            name="POST /chat/v2/chat",
            auth=True,
            json=body,
            ok=lambda b: isinstance(b, dict) and b.get("success") is True,
        )


class HealthUser(_Api):
    """A load balancer or orchestrator probing /health."""

    weight = int(WEIGHTS.get("health", 0))

    @task
    def health(self) -> None:
        with self.client.get("/health", name="GET /health", catch_response=True) as resp:
            self._judge(resp, lambda b: isinstance(b, dict) and b.get("status") == "healthy")


def _endpoint_task(endpoint: dict):
    method, path, name = endpoint["method"], endpoint["path"], endpoint["name"]
    kwargs = {"json": endpoint["json"]} if endpoint.get("json") is not None else {}

    def call(user) -> None:
        user._call(method, path, name=name, auth=bool(endpoint.get("auth", True)), **kwargs)

    call.__name__ = re.sub(r"\W+", "_", name).strip("_") or "endpoint"
    return call


class EndpointUser(_Api):
    """A client of the service profile's endpoints (listed, or the OpenAPI document's safe operations),
    each called as often as its weight says."""

    weight = int(TRAFFIC.get("http_weight", 1))
    tasks = {_endpoint_task(e): int(e.get("weight", 1)) for e in TRAFFIC.get("endpoints") or ()}


class WebSocketUser(User):
    """A browser session on the WebSocket: connect, ping -> pong, one chat turn streamed back, close.

    Each step is reported through Locust's request event (type "WS"), so it shows in the stats."""

    weight = int(WEIGHTS.get("websocket", 0))
    wait_time = _think_time()

    def on_start(self) -> None:
        base = self.host.rstrip("/")
        self.ws_base = "wss" + base[5:] if base.startswith("https") else "ws" + base[4:]

    def _step(self, name: str, action):
        """Time one step and report it; return its result, or None when it failed."""
        t0 = time.perf_counter()
        result, length, error = None, 0, None
        try:
            result, length = action()
        except (websocket.WebSocketTimeoutException, websocket.WebSocketConnectionClosedException, OSError) as exc:
            error = NoAnswer(f"{NO_ANSWER}: {type(exc).__name__}")
        except Exception as exc:  # a bad status, a bad frame: the server answered, badly
            error = exc
        self.environment.events.request.fire(
            request_type="WS",
            name=name,
            response_time=(time.perf_counter() - t0) * 1000,
            response_length=length,
            exception=error,
            context={},
        )
        return None if error else result

    def _url(self, token: str) -> str:
        ident = uuid.uuid4().hex[:12]
        path = WS_PLAN["path"].replace("{user_id}", f"load-{ident}").replace("{session_id}", f"s-{ident}")
        url = self.ws_base + re.sub(r"\{[^}]*\}", f"load-{ident}", path)
        params = _carry(token).get("params")
        if params:
            from urllib.parse import urlencode

            url += ("&" if "?" in url else "?") + urlencode(params)
        return url

    @task
    def session(self) -> None:
        token = Tokens.current(self.host)
        header = [f"{k}: {v}" for k, v in (_carry(token).get("headers") or {}).items()]
        url = self._url(token)

        def connect():
            try:
                return websocket.create_connection(url, timeout=TIMEOUT_S, header=header), 0
            except websocket.WebSocketBadStatusException as exc:
                raise RuntimeError(f"handshake answered HTTP {exc.status_code}") from None

        ws = self._step("connect", connect)
        if ws is None:
            return
        try:
            if WS_PLAN.get("protocol") != "reference":  # another service's protocol is unknown: connect, close
                return
            if self._step("ping", lambda: _exchange(ws, {"type": "ping"}, "pong")) is not None:
                self._step("chat (streamed)", lambda: _exchange(ws, {"type": "chat", "message": "load ws"}, "done"))
        finally:
            try:
                ws.close(timeout=1)
            except Exception:  # noqa: BLE001 - closing a dead socket is not a result
                pass


def _exchange(ws, frame: dict, until: str):
    """Send one frame, read frames until one of type `until`; raise on an error frame."""
    ws.send(json.dumps(frame))
    received = 0
    while True:
        text = ws.recv()
        received += len(text)
        try:
            kind = json.loads(text).get("type")
        except (ValueError, AttributeError):
            raise RuntimeError("a frame that is not a JSON object") from None
        if kind == until:
            return True, received
        if kind == "error":
            raise RuntimeError(f"error frame: {text[:80]}")


def _progress(environment) -> None:
    """Every few seconds, one JSON line of live numbers (master or single process only)."""
    started = time.monotonic()
    window: deque[tuple[float, int]] = deque(maxlen=4)  # workers report in turns: rate over ~9 s
    while True:
        gevent.sleep(PROGRESS_EVERY_S)
        total, now = environment.stats.total, time.monotonic()
        if window and total.num_requests < window[-1][1]:  # the stats were reset once every user ran
            window.clear()
        window.append((now, total.num_requests))
        rps = (window[-1][1] - window[0][1]) / max(window[-1][0] - window[0][0], 1e-3) if len(window) > 1 else 0.0
        line = {
            "t": round(now - started, 1),
            "users": environment.runner.user_count if environment.runner else 0,
            "requests": total.num_requests,
            "failures": total.num_failures,
            "rps": round(rps, 1),
            "p95_ms": total.get_current_response_time_percentile(0.95),
            "fail_ratio": round(total.fail_ratio, 5),
        }
        if PROGRESS_FILE:
            with open(PROGRESS_FILE, "a") as fh:
                fh.write(json.dumps(line) + "\n")


_workers_stopped: set[str] = set()
_all_workers_stopped = gevent.event.Event()


def _finish(environment) -> None:
    """End the run: stop the users (each may finish its request within --stop-timeout), then quit.

    Locust's own --run-time quits a distributed run without waiting for requests in flight, which
    would silently drop exactly the slow ones (it stays on the command line as a safety net). And its
    "stop" message keeps a worker deaf for the whole stop timeout, so the workers are asked to stop
    with a message of our own and answer when their users are done."""
    runner = environment.runner
    if isinstance(runner, MasterRunner):
        runner.send_message("harness_stop")
        _all_workers_stopped.wait(timeout=(environment.stop_timeout or 0) + 10)
    else:
        runner.stop()
    runner.quit()


def _worker_stop(environment, msg, **_kwargs) -> None:
    environment.runner.stop()
    environment.runner.send_message("harness_stopped", environment.runner.client_id)


def _worker_stopped(environment, msg, **_kwargs) -> None:
    _workers_stopped.add(str(msg.data))
    if len(_workers_stopped) >= environment.runner.worker_count:
        _all_workers_stopped.set()


@events.init.add_listener
def _on_init(environment, **_kwargs) -> None:
    runner = environment.runner
    if isinstance(runner, WorkerRunner):
        runner.register_message("harness_stop", _worker_stop, concurrent=True)
        return
    if isinstance(runner, MasterRunner):
        runner.register_message("harness_stopped", _worker_stopped)
    gevent.spawn(_progress, environment)


@events.test_start.add_listener
def _on_test_start(environment, **_kwargs) -> None:
    if DURATION_S and not isinstance(environment.runner, WorkerRunner):
        gevent.spawn_later(DURATION_S, _finish, environment)
