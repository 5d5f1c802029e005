"""Prometheus metrics in a per-app registry, and the pure ASGI middleware that records HTTP traffic."""

from __future__ import annotations

import time
from collections.abc import Iterable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.metrics_core import Metric
from prometheus_client.process_collector import ProcessCollector
from starlette.types import ASGIApp, Message, Receive, Scope, Send

UNMATCHED = "<unmatched>"
STARTED = "orchestra.started"  # scope key: perf_counter() when MetricsMiddleware saw the request
HTTP_FAMILIES = frozenset({"http_requests", "http_request_duration_seconds"})
DURATION_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 2.5, 5.0, 7.5, 10.0)


class Metrics:
    """The service's metric families, registered in their own CollectorRegistry."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "http_requests_total",
            "HTTP requests by method, route template and status code.",
            ("method", "path", "status"),
            registry=self.registry,
        )
        self.duration = Histogram(
            "http_request_duration_seconds",
            "HTTP request duration in seconds by method and route template.",
            ("method", "path"),
            buckets=DURATION_BUCKETS,
            registry=self.registry,
        )
        self.websockets = Gauge(
            "websocket_connections", "Currently open WebSocket connections.", registry=self.registry
        )
        ProcessCollector(registry=self.registry)

    def render(self, omit_http: bool = False, rename_requests: bool = False) -> bytes:
        """Prometheus text exposition, optionally without the HTTP families or under a wrong name (faults)."""
        if omit_http:
            return generate_latest(_Without(self.registry, HTTP_FAMILIES))  # type: ignore[arg-type]
        text = generate_latest(self.registry)
        if rename_requests:
            text = text.replace(b"http_requests_total", b"orchestra_http_requests_total")
        return text


class _Without:
    """A collector view of a registry that drops some metric families."""

    def __init__(self, registry: CollectorRegistry, names: frozenset[str]) -> None:
        self._registry = registry
        self._names = names

    def collect(self) -> Iterable[Metric]:
        """Every family except the dropped ones."""
        return (m for m in self._registry.collect() if m.name not in self._names)


class MetricsMiddleware:
    """Count and time every HTTP request by route template; websocket and lifespan scopes pass through."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Wrap one ASGI call."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        scope[STARTED] = start  # when this request began (the latency_regression fault scales the whole of it)
        status = 500

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            route = scope.get("route")
            path = getattr(route, "path", None) or UNMATCHED
            method = scope.get("method", "GET")
            self.metrics.requests.labels(method, path, str(status)).inc()
            self.metrics.duration.labels(method, path).observe(time.perf_counter() - start)
