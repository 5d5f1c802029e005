"""Build the gate server from Settings and run it with uvicorn until SIGINT, SIGTERM or SIGHUP; whatever
ends it, every gate run it started is stopped with its process group (Runner.shutdown)."""

from __future__ import annotations

import os
import signal
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from harness.config import Settings
from harness.serve.auth import TOKEN_ENV, server_token
from harness.serve.metrics import Metrics
from harness.serve.runs import Runner
from harness.serve.store import Store, config_fingerprint


@dataclass(slots=True)
class Server:
    app: Any
    runner: Runner
    store: Store
    token: str | None

    def close(self) -> None:
        self.runner.shutdown()
        self.store.close()


def build(settings: Settings, host: str, env: dict[str, str] | None = None) -> Server:
    """Check everything a user can get wrong (token, policy, serve_db) before anything listens."""
    from harness.policy import load_policy
    from harness.serve.app import create_app
    from harness.service import profile_for
    from harness.suites import available_suites

    token = server_token(host, dict(os.environ if env is None else env))
    _check_baseline(settings)
    profile_for(settings)  # the service profile every run uses: a bad one is refused now, not in every run
    policy = load_policy(settings.policy_file, suites=available_suites(settings.suites_dir))
    suites = available_suites(settings.suites_dir)
    store = Store(settings.serve_db, settings.serve_ttl_s, config_fingerprint(settings))
    holder: dict[str, Metrics] = {}
    runner = Runner(settings, store, on_finish=lambda run, d: holder["m"].finished(run, d))
    metrics = holder["m"] = Metrics(runner.queue_length, runner.running)
    app = create_app(settings, runner, metrics, list(policy.phases), suites, token)
    return Server(app, runner, store, token)


def _check_baseline(settings: Settings) -> None:
    """`baseline` asks every run's own stack for a baseline app; a server whose runs all gate a target (--target)
    starts no stack: there the canary judge's baseline is `baseline_selector`, and without one `baseline` would
    be a promise no run keeps (canary.score not run at every canary step)."""
    if not (settings.baseline and settings.target):
        return
    from harness.errors import ConfigError
    from harness.live.options import live_options

    if not live_options(settings).baseline_selector:
        raise ConfigError(
            f"harness serve --baseline with --target {settings.target}: a deployment's baseline is not started by "
            "the harness; name its series with baseline_selector (HARNESS_LIVE_BASELINE_SELECTOR, e.g. "
            '{track="baseline"}) and its Prometheus with --prometheus, or drop --baseline'
        )


def serve(settings: Settings, host: str, port: int, echo: Callable[[str], None]) -> None:
    import logging

    import uvicorn

    from harness.serve.guard import GuardedH11, NoQueryStrings, raise_fd_limit

    _check_port(host, port)
    server = build(settings, host)
    soft = raise_fd_limit()  # idle sockets must not run the server out of descriptors before its own limit
    limits = {
        "max_connections": min(settings.serve_max_connections, max(16, soft // 2)),
        "header_timeout_s": settings.serve_header_timeout_s,
    }
    protocol = type("GuardedH11", (GuardedH11,), limits)
    config = uvicorn.Config(
        server.app,
        host=host,
        port=port,
        log_level="info",
        lifespan="on",
        timeout_graceful_shutdown=5,
        http=protocol,  # a header deadline and a connection limit answering JSON (harness/serve/guard.py)
        timeout_keep_alive=5,
    )
    logging.getLogger("uvicorn.access").addFilter(NoQueryStrings())
    userver = uvicorn.Server(config)
    previous = signal.signal(signal.SIGHUP, userver.handle_exit)  # a closed terminal stops it like Ctrl-C
    echo(
        f"harness serve: http://{host}:{port} (phases gated by {settings.policy_file or 'the embedded policy'}; "
        f"verdicts in {settings.serve_db})"
    )
    if server.token is None:
        echo(f"harness serve: {TOKEN_ENV} is not set: any local process may ask (set it to require a token)")
    try:
        userver.run()
    finally:
        signal.signal(signal.SIGHUP, previous)
        server.close()


def _check_port(host: str, port: int) -> None:
    """A taken port is one line and exit 64, not uvicorn's log and exit 1."""
    import socket

    from harness.errors import PortInUseError

    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            raise PortInUseError(
                f"harness serve: cannot listen on {host}:{port} ({exc.strerror or exc}); "
                "choose another --port or --host"
            ) from None
