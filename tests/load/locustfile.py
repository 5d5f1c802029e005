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

import hashlib
import json
import os
import re
import socket
import threading
import time
import uuid
from collections import deque

import gevent
import gevent.event
import locust.runners
import websocket
from locust import FastHttpUser, User, between, constant, events, task
from locust.runners import MasterRunner, WorkerRunner

PLAN: dict = {}
TOKEN = os.environ.get("HARNESS_LOAD_TOKEN", "")
WEIGHTS: dict = {"chat": 6, "health": 3, "websocket": 1}
TRAFFIC: dict = {}
AUTH: dict = {"scheme": "header", "name": "Authorization", "prefix": "Bearer ", "login": None}
WS_PLAN: dict = {"path": "/chat/ws/{user_id}/{session_id}", "protocol": "reference"}
AUTH_LOG = os.environ.get("HARNESS_LOAD_AUTH_LOG")
WAIT_S: list = [0.0, 0.0]
TIMEOUT_S = 10.0
PROGRESS_FILE = os.environ.get("HARNESS_LOAD_PROGRESS")
GENERATORS_FILE = os.environ.get("HARNESS_LOAD_GENERATORS")
PROGRESS_EVERY_S = 3.0  # workers report every 3 s
DURATION_S = 0.0  # 0: Locust's --run-time alone ends the run
NO_ANSWER = "no answer"


def _read_plan(plan: dict) -> None:
    """Set this process's traffic from a plan (HARNESS_LOAD_PLAN here, or the master's, received at the spawn)."""
    global PLAN, WEIGHTS, TRAFFIC, AUTH, WS_PLAN, WAIT_S, TIMEOUT_S, PROGRESS_EVERY_S, DURATION_S
    PLAN = plan
    WEIGHTS = plan.get("weights", WEIGHTS)
    TRAFFIC = plan.get("traffic") or {}
    AUTH = TRAFFIC.get("auth") or {"scheme": "header", "name": "Authorization", "prefix": "Bearer ", "login": None}
    WS_PLAN = TRAFFIC.get("websocket") or {"path": "/chat/ws/{user_id}/{session_id}", "protocol": "reference"}
    WAIT_S = plan.get("wait_s", [0.0, 0.0])
    TIMEOUT_S = float(plan.get("request_timeout_s", 10.0))
    PROGRESS_EVERY_S = float(plan.get("progress_interval_s", 3.0))
    DURATION_S = float(plan.get("duration_s") or 0)


_read_plan(json.loads(os.environ.get("HARNESS_LOAD_PLAN") or "{}"))


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
        if GENERATORS is not None:
            GENERATORS.tick()
            line["cpu"] = GENERATORS.series[-1]["cpu"] if GENERATORS.series else {}
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
    if GENERATORS is not None:
        GENERATORS.ended_at = GENERATORS.now()
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


def _apply_plan(plan: dict) -> None:
    """The plan into the user classes, too (a worker on another host gets it from the master at the spawn)."""
    _read_plan(plan)
    ChatUser.weight, HealthUser.weight = int(WEIGHTS.get("chat", 0)), int(WEIGHTS.get("health", 0))
    WebSocketUser.weight = int(WEIGHTS.get("websocket", 0))
    EndpointUser.weight = int(TRAFFIC.get("http_weight", 1))
    EndpointUser.tasks = [
        call for e in TRAFFIC.get("endpoints") or () for call in [_endpoint_task(e)] * int(e.get("weight", 1))
    ]
    _Api.wait_time = WebSocketUser.wait_time = _think_time()
    _Api.network_timeout = _Api.connection_timeout = TIMEOUT_S


# -- the generators: who generated the load, how busy each was, whether each stayed ------------------------
# Locust's own numbers: every runner samples its process's CPU (psutil) every CPU_MONITOR_INTERVAL and fires
# usage_monitor (and cpu_warning above 90 %); a worker sends its latest sample in each heartbeat (1 s), and the
# master marks a worker `missing` after 3 heartbeats it did not get. Sampled every 2 s instead of 10, so a
# short run has readings; a worker whose master is silent quits after HARNESS_LOAD_MASTER_TIMEOUT_S (not 60 s).
locust.runners.CPU_MONITOR_INTERVAL = float(os.environ.get("HARNESS_LOAD_CPU_INTERVAL_S") or 2.0)
locust.runners.MASTER_HEARTBEAT_TIMEOUT = float(os.environ.get("HARNESS_LOAD_MASTER_TIMEOUT_S") or 20.0)
SERIES_MAX = 1200  # points of the CPU chart (a 1 h run at 3 s); beyond it every other point is dropped


def _schedstat() -> tuple[float, float] | None:
    """(seconds on a CPU, seconds runnable but waiting for one) of this process's main thread (Linux), or None.

    The wait counts a CPU taken by other processes and a cgroup's CPU quota alike: a generator that is starved
    shows a low CPU figure, but it waits."""
    try:
        with open("/proc/self/schedstat") as fh:
            run_ns, wait_ns = (int(x) for x in fh.read().split()[:2])
    except (OSError, ValueError):
        return None
    return run_ns / 1e9, wait_ns / 1e9


def _waiting(environment) -> None:
    """Every CPU interval: the share of wall time this process was runnable but had no CPU (master, workers)."""
    last, at = _schedstat(), time.monotonic()
    if last is None:
        return
    while True:
        gevent.sleep(locust.runners.CPU_MONITOR_INTERVAL)
        now, t = _schedstat(), time.monotonic()
        if now is None:
            return
        span = max(t - at, 1e-3)
        run_pct, wait_pct = round(100 * (now[0] - last[0]) / span, 1), round(100 * (now[1] - last[1]) / span, 1)
        last, at = now, t
        runner = environment.runner
        if isinstance(runner, WorkerRunner):
            runner.send_message("harness_wait", {"run": run_pct, "wait": wait_pct})
        elif GENERATORS is not None:
            role = "master" if isinstance(runner, MasterRunner) else "local"
            GENERATORS.wait(role, role, run_pct, wait_pct)


def _fingerprint(token: str) -> str:
    """Whether two processes hold the same token, without either saying it."""
    return hashlib.sha256(f"harness-load:{token}".encode()).hexdigest()[:16] if token else ""


class Generators:
    """On the master (or the single process): every generator's CPU samples, users, heartbeat state, identity."""

    def __init__(self, environment) -> None:
        self.environment = environment
        self.t0 = time.monotonic()
        self.steady_at: float | None = None  # every user running: Locust reset the stats, the judged window opens
        self.ended_at: float | None = None  # the users were asked to stop
        self.reached = 0
        self.nodes: dict[str, dict] = {}  # client id (or "master"/"local") -> record
        self.series: list[dict] = []

    @property
    def distributed(self) -> bool:
        return isinstance(self.environment.runner, MasterRunner)

    def now(self) -> float:
        return round(time.monotonic() - self.t0, 2)

    def node(self, key: str, role: str) -> dict:
        if key not in self.nodes:
            runner = self.environment.runner
            index = runner.get_worker_index(key) + 1 if role == "worker" else 0
            self.nodes[key] = {
                "name": f"worker {index}" if role == "worker" else role,
                "role": role,
                "id": key,
                "host": socket.gethostname() if role != "worker" else key.rsplit("_", 1)[0],
                "pid": os.getpid() if role != "worker" else None,
                "label": "",
                "token": "" if role != "worker" else None,
                "samples": [],  # (t, Locust's CPU %)
                "waits": [],  # (t, ran %, waited for a CPU %): /proc/self/schedstat
                "users_max": 0,
                "state": "running",
                "missing_at_s": None,
                "left_at_s": None,
            }
        return self.nodes[key]

    def sample(self, key: str, role: str, cpu: float) -> None:
        self.node(key, role)["samples"].append((self.now(), round(float(cpu), 1)))

    def wait(self, key: str, role: str, run_pct: float, wait_pct: float) -> None:
        """This generator's main thread: the share of the last interval it ran, and it waited for a CPU."""
        self.node(key, role)["waits"].append((self.now(), float(run_pct), float(wait_pct)))

    def watch(self) -> None:
        """Each second: the workers' state (missing after 3 lost heartbeats; gone) and the users running."""
        runner = self.environment.runner
        while True:
            gevent.sleep(1.0)
            self.reached = max(self.reached, runner.user_count)
            if not isinstance(runner, MasterRunner):
                continue
            present = set()
            for cid, client in list(runner.clients.items()):
                present.add(cid)
                rec = self.node(cid, "worker")
                rec["state"] = client.state
                rec["users_max"] = max(rec["users_max"], client.user_count)
                # missing at any time before the master quits: its last statistics never arrived
                if client.state == "missing" and rec["missing_at_s"] is None:
                    rec["missing_at_s"] = self.now()
            for cid, rec in self.nodes.items():
                if (
                    rec["role"] == "worker"
                    and cid not in present
                    and rec["left_at_s"] is None
                    and self.ended_at is None
                ):
                    rec["left_at_s"] = self.now()
                    rec["state"] = "gone"

    def tick(self) -> None:
        point = {"t": self.now(), "users": self.environment.runner.user_count, "cpu": {}}
        for rec in self.nodes.values():
            if rec["samples"]:
                point["cpu"][rec["name"]] = rec["samples"][-1][1]
            if rec.get("waits"):
                point.setdefault("wait", {})[rec["name"]] = rec["waits"][-1][2]
        self.series.append(point)
        if len(self.series) > SERIES_MAX:
            self.series = self.series[::2]
        self.write()

    def document(self) -> dict:
        options = self.environment.parsed_options
        return {
            "schema": "harness.load-generators/v1",
            "distributed": self.distributed,
            "users_asked": int(getattr(options, "num_users", 0) or 0),
            "users_reached": self.reached,
            "steady_at_s": self.steady_at,
            "ended_at_s": self.ended_at,
            "cpu_interval_s": locust.runners.CPU_MONITOR_INTERVAL,
            "cpu_threshold": locust.runners.CPU_WARNING_THRESHOLD,
            "token": _fingerprint(TOKEN),
            "expected_workers": int(getattr(options, "expect_workers", 0) or 0) if self.distributed else 0,
            "generators": list(self.nodes.values()),
            "series": self.series,
        }

    def write(self) -> None:
        if not GENERATORS_FILE:
            return
        tmp = f"{GENERATORS_FILE}.tmp"
        with open(tmp, "w") as fh:
            json.dump(self.document(), fh)
        os.replace(tmp, GENERATORS_FILE)


GENERATORS: Generators | None = None


def _on_usage(environment, cpu_usage, **_kwargs) -> None:
    if GENERATORS is not None:  # this process's own CPU (the master's, or the single process's)
        role = "master" if isinstance(environment.runner, MasterRunner) else "local"
        GENERATORS.sample(role, role, cpu_usage)


def _on_heartbeat(client_id, **_kwargs) -> None:
    runner = GENERATORS.environment.runner if GENERATORS is not None else None
    if runner is not None and client_id in runner.clients:  # a worker's heartbeat: its latest CPU sample
        GENERATORS.sample(client_id, "worker", runner.clients[client_id].cpu_usage)


def _on_worker_wait(environment, msg, **_kwargs) -> None:
    if GENERATORS is not None and isinstance(msg.data, dict):
        GENERATORS.wait(msg.node_id, "worker", float(msg.data.get("run") or 0.0), float(msg.data.get("wait") or 0.0))


def _on_worker_hello(environment, msg, **_kwargs) -> None:
    if GENERATORS is not None:
        rec = GENERATORS.node(msg.node_id, "worker")
        data = msg.data or {}
        rec.update(host=str(data.get("host", ""))[:100], pid=data.get("pid"), label=str(data.get("label", ""))[:100])
        rec["token"] = str(data.get("token", ""))[:16]


@events.init_command_line_parser.add_listener
def _arguments(parser, **_kwargs) -> None:
    # a custom argument: Locust's master sends it to every worker with the spawn, so a worker on another host
    # runs the master's plan (it holds no secret: a token comes from each worker's own environment)
    parser.add_argument("--harness-plan", env_var="HARNESS_LOAD_PLAN", default="", help="the harness's load plan")


@events.init.add_listener
def _on_init(environment, **_kwargs) -> None:
    global GENERATORS
    runner = environment.runner
    if isinstance(runner, WorkerRunner):
        runner.register_message("harness_stop", _worker_stop, concurrent=True)
        label = os.environ.get("HARNESS_LOAD_WORKER_NAME", "")
        hello = {"host": socket.gethostname(), "pid": os.getpid(), "label": label, "token": _fingerprint(TOKEN)}
        runner.send_message("harness_worker", hello)
        gevent.spawn(_waiting, environment)
        return
    GENERATORS = Generators(environment)
    environment.events.usage_monitor.add_listener(_on_usage)
    if isinstance(runner, MasterRunner):
        runner.register_message("harness_stopped", _worker_stopped)
        runner.register_message("harness_worker", _on_worker_hello)
        runner.register_message("harness_wait", _on_worker_wait)
        environment.events.heartbeat_sent.add_listener(_on_heartbeat)
    gevent.spawn(GENERATORS.watch)
    gevent.spawn(_waiting, environment)
    gevent.spawn(_progress, environment)


@events.spawning_complete.add_listener
def _on_spawned(user_count, **_kwargs) -> None:
    if GENERATORS is not None and GENERATORS.steady_at is None:
        GENERATORS.steady_at = GENERATORS.now()
        GENERATORS.reached = max(GENERATORS.reached, int(user_count))


@events.test_start.add_listener
def _on_test_start(environment, **_kwargs) -> None:
    if isinstance(environment.runner, WorkerRunner):
        raw = getattr(environment.parsed_options, "harness_plan", "") if environment.parsed_options else ""
        if raw:
            _apply_plan(json.loads(raw))
        return
    if DURATION_S:
        gevent.spawn_later(DURATION_S, _finish, environment)


@events.test_stop.add_listener
def _on_test_stop(environment, **_kwargs) -> None:
    if GENERATORS is not None and GENERATORS.ended_at is None:
        GENERATORS.ended_at = GENERATORS.now()


@events.quitting.add_listener
def _on_quitting(environment, **_kwargs) -> None:
    if GENERATORS is not None:
        if GENERATORS.ended_at is None:
            GENERATORS.ended_at = GENERATORS.now()
        GENERATORS.write()
