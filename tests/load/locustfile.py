"""AI Orchestra's traffic for Locust: authenticated chat calls, health probes and WebSocket sessions.

Run only by harness.load.runner, in Locust's own process(es): `import locust` monkey-patches gevent,
so this file must never be imported into the pytest process. The mix (user weights, think time,
timeouts) comes from the load profile (harness/load/profiles.py) in HARNESS_LOAD_PLAN; the API
token comes in HARNESS_LOAD_TOKEN (never on the command line, where `ps` would show it).

Failures that never got an answer from the server (refused, reset, timed out) are reported with an
error text starting "no answer", so the harness can tell "the target is gone" from "the target
answered badly".
"""

from __future__ import annotations

import json
import os
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


class _Api(FastHttpUser):
    abstract = True
    wait_time = _think_time()
    network_timeout = TIMEOUT_S
    connection_timeout = TIMEOUT_S
    insecure = False

    def _judge(self, resp, ok) -> None:
        if resp.status_code == 0:
            resp.failure(f"{NO_ANSWER}: {type(resp.error).__name__}")
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
        self.auth = {"Authorization": f"Bearer {TOKEN}"} if TOKEN else {}

    @task
    def chat(self) -> None:
        body = {"message": "load test turn", "session_id": self.session_id}
        with self.client.post(
            "/chat/v2/chat", json=body, headers=self.auth, name="POST /chat/v2/chat", catch_response=True
        ) as resp:
            self._judge(resp, lambda b: isinstance(b, dict) and b.get("success") is True)


class HealthUser(_Api):
    """A load balancer or orchestrator probing /health."""

    weight = int(WEIGHTS.get("health", 0))

    @task
    def health(self) -> None:
        with self.client.get("/health", name="GET /health", catch_response=True) as resp:
            self._judge(resp, lambda b: isinstance(b, dict) and b.get("status") == "healthy")


class WebSocketUser(User):
    """A browser session on the WebSocket: connect, ping -> pong, one chat turn streamed back, close.

    Each step is reported through Locust's request event (type "WS"), so it shows in the stats."""

    weight = int(WEIGHTS.get("websocket", 0))
    wait_time = _think_time()

    def on_start(self) -> None:
        base = self.host.rstrip("/")
        self.ws_base = "wss" + base[5:] if base.startswith("https") else "ws" + base[4:]
        self.header = [f"Authorization: Bearer {TOKEN}"] if TOKEN else []

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

    @task
    def session(self) -> None:
        ident = uuid.uuid4().hex[:12]
        url = f"{self.ws_base}/chat/ws/load-{ident}/s-{ident}"

        def connect():
            try:
                return websocket.create_connection(url, timeout=TIMEOUT_S, header=self.header), 0
            except websocket.WebSocketBadStatusException as exc:
                raise RuntimeError(f"handshake answered HTTP {exc.status_code}") from None

        ws = self._step("connect", connect)
        if ws is None:
            return
        try:
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
