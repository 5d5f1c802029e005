"""The gate server's own Prometheus metrics (GET /metrics), in a registry of its own."""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from harness.serve.runs import Run

BUCKETS = (5, 10, 30, 60, 120, 300, 600, 900, 1800, 3600)


class Metrics:
    def __init__(self, queue_length: Callable[[], int], running: Callable[[], int]) -> None:
        self.registry = CollectorRegistry()
        self.runs = Counter(
            "harness_serve_runs",
            "Gate runs finished, by phase and verdict",
            ["phase", "verdict"],
            registry=self.registry,
        )
        self.duration = Histogram(
            "harness_serve_run_duration_seconds",
            "Wall time of a gate run, by phase",
            ["phase"],
            buckets=BUCKETS,
            registry=self.registry,
        )
        queue = Gauge("harness_serve_queue_length", "Gate runs waiting to start", registry=self.registry)
        queue.set_function(lambda: float(queue_length()))
        active = Gauge("harness_serve_runs_running", "Gate runs in progress", registry=self.registry)
        active.set_function(lambda: float(running()))

    def finished(self, run: Run, duration_s: float) -> None:
        self.runs.labels(run.phase, run.verdict or "none").inc()
        self.duration.labels(run.phase).observe(duration_s)

    def render(self) -> bytes:
        return generate_latest(self.registry)
