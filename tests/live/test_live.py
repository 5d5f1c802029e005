"""The live suite: what production metrics say about the candidate (beta, canary and full phases).

Each check reads one measurement from Prometheus over the window (harness/live/gates.py); the thresholds
live in harness/policy.toml. Every check records the PromQL it ran (its reproduce line). Too little traffic
(for the rate gates and "no alert firing"), an empty answer or NaN is `missing`; a Prometheus that does not
answer is `error`: never `pass`.
"""

from __future__ import annotations

import pytest

from harness.checks import CURL, check_error, not_run
from harness.live.prometheus import PrometheusError

pytestmark = pytest.mark.check_timeout(0)  # bounded by the traffic's hard cap and each query's timeout


def _curl(url: str, promql: str) -> str:
    """A curl line that asks Prometheus the same question (the token, if any, from $HARNESS_PROMETHEUS_TOKEN)."""
    return f"curl -sS -G '{url}/api/v1/query' --data-urlencode 'query={promql}'"


def _judge(name: str, live_readings, prometheus, record_property, measure, coverage, stopped: str) -> None:
    reading = live_readings[name]
    record_property(CURL, _curl(prometheus.url, reading.promql))
    if reading.status == "error":
        check_error(f"{name}: {reading.reason}")
    if reading.status == "missing" and stopped:
        not_run(f"{name}: {stopped}; {reading.reason}")
    if reading.status == "missing":
        pytest.skip(f"{name}: {reading.reason}")
    traffic = live_readings["requests"]
    measure(**{name: reading.value})
    if traffic.ok:
        coverage(requests=traffic.value or 0)


@pytest.mark.check("live.error_rate_5xx")
def test_error_rate_5xx(live_readings, prometheus, record_property, measure, coverage, traffic_stopped):
    """5xx responses as a share of all responses over the window (HighErrorRate, corrected to a ratio)."""
    _judge("error_rate_5xx", live_readings, prometheus, record_property, measure, coverage, traffic_stopped)


@pytest.mark.check("live.p95_s")
def test_p95_latency(live_readings, prometheus, record_property, measure, coverage, traffic_stopped):
    """P95 of http_request_duration_seconds over the window (HighLatency)."""
    _judge("p95_s", live_readings, prometheus, record_property, measure, coverage, traffic_stopped)


@pytest.mark.check("live.websocket_connections")
def test_websocket_connections(live_readings, prometheus, record_property, measure):
    """The highest websocket_connections of any candidate instance in the window (WebSocketConnectionLimit)."""
    reading = live_readings["websocket_connections"]
    record_property(CURL, _curl(prometheus.url, reading.promql))
    if reading.status == "error":
        check_error(f"websocket_connections: {reading.reason}")
    if reading.status == "missing":
        pytest.skip(f"websocket_connections: {reading.reason}")
    measure(websocket_connections=reading.value)


@pytest.mark.check("live.alerts_firing")
def test_alerts_firing(live_readings, prometheus, record_property, measure, coverage, traffic_stopped):
    """How many alerts are firing for the candidate (ALERTS{alertstate="firing"}); the rules must be loaded."""
    reading = live_readings["alerts_firing"]
    record_property(CURL, _curl(prometheus.url, reading.promql))
    try:
        loaded = prometheus.alert_rules()
    except PrometheusError as exc:
        check_error(f"alerts_firing: {exc}")
    if reading.status == "error":
        check_error(f"alerts_firing: {reading.reason}")
    if not loaded:
        pytest.skip(
            f"alerts_firing: Prometheus {prometheus.url} has no alerting rules loaded "
            "(load deploy/prometheus/alerts.yml)"
        )
    if reading.status == "missing" and traffic_stopped:
        not_run(f"alerts_firing: {traffic_stopped}; {reading.reason}")
    if reading.status == "missing":  # none firing over a window without the candidate's traffic proves nothing
        pytest.skip(f"alerts_firing: {reading.reason}")
    measure(alerts_firing=reading.value)
    coverage(alert_rules=len(loaded))
