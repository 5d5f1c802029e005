"""The live gates' PromQL and how each answer becomes a measurement, `missing` or `error`.

Every Reading carries the exact PromQL and the Prometheus URL, so a reason can be pasted into Prometheus.
The traffic guard: fewer than min_requests requests in the window (or no request series at all: a stale
scrape, a renamed metric, a wrong selector) makes the rate gates `missing` (a quiet window proves nothing),
and "no alert firing" too (an alert cannot fire on series that are not there); never `pass`. An empty
answer or NaN is `missing`; a Prometheus that does not answer, or refuses the query, is `error`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Protocol

from harness.live.options import matchers, promql_duration
from harness.live.prometheus import PrometheusError, Sample


class Client(Protocol):
    url: str

    def query(self, promql: str, at: float | None = None) -> list[Sample]: ...


@dataclass(frozen=True, slots=True)
class Reading:
    """One live gate's outcome: value (a measurement), or status "missing"/"error" with a reason."""

    metric: str
    promql: str
    value: float | None = None
    status: str = "ok"  # ok | missing | error
    reason: str = ""

    @property
    def ok(self) -> bool:
        return self.status == "ok"


def with_selector(metric: str, selector: str, *extra: str) -> str:
    """metric{extra..., selector's matchers...}: the selector's matchers joined to the series selector."""
    parts = [*extra, *(f'{k}{op}"{v}"' for k, op, v in matchers(selector))]
    return f"{metric}{{{','.join(parts)}}}" if parts else metric


def alerts_selector(selector: str) -> str:
    """The selector as ALERTS may carry it: an alert rule that aggregates (sum(...)) drops the candidate's
    labels, so an equality matcher also matches an alert without that label (label=~"value|")."""
    parts = []
    for k, op, v in matchers(selector):
        parts.append(f'{k}=~"{_regex_escape(v)}|"' if op == "=" else f'{k}{op}"{v}"')
    return "{" + ",".join(['alertstate="firing"', *parts]) + "}"


def _regex_escape(value: str) -> str:
    out = []
    for ch in value:
        out.append("\\\\" + ch if ch in ".^$*+?()[]{}|\\" else ch)
    return "".join(out)


def queries(selector: str, window_s: float) -> dict[str, str]:
    """The PromQL of each live measurement for the candidate's series over the window."""
    w = promql_duration(window_s)
    requests = with_selector("http_requests_total", selector)
    errors = with_selector("http_requests_total", selector, 'status=~"5.."')
    buckets = with_selector("http_request_duration_seconds_bucket", selector)
    return {
        "requests": f"sum(increase({requests}[{w}]))",
        "error_rate_5xx": f"(sum(rate({errors}[{w}])) or vector(0)) / sum(rate({requests}[{w}]))",
        "p95_s": f"histogram_quantile(0.95, sum by (le) (rate({buckets}[{w}])))",
        "websocket_connections": f"max(max_over_time({with_selector('websocket_connections', selector)}[{w}]))",
        "alerts_firing": f"count(ALERTS{alerts_selector(selector)}) or vector(0)",
    }


TRAFFIC_GATED = ("error_rate_5xx", "p95_s")  # need requests in the window to mean anything


def _scalar(client: Client, metric: str, promql: str, at: float | None) -> Reading:
    where = f"Prometheus {client.url}, query: {promql}"
    try:
        samples = client.query(promql, at)
    except PrometheusError as exc:
        return Reading(metric, promql, status="error", reason=str(exc))
    if not samples:
        return Reading(metric, promql, status="missing", reason=f"the query returned no series ({where})")
    value = samples[0].value
    if len(samples) > 1:
        return Reading(
            metric, promql, status="error", reason=f"the query returned {len(samples)} series, not one ({where})"
        )
    if math.isnan(value):
        return Reading(metric, promql, status="missing", reason=f"the query returned NaN ({where})")
    return Reading(metric, promql, value=value)


def read_live(
    client: Client, selector: str, window_s: float, min_requests: int, at: float | None = None
) -> dict[str, Reading]:
    """Every live measurement of the candidate at `at` (now when None), the traffic guard applied."""
    q = queries(selector, window_s)
    out = {name: _scalar(client, name, promql, at) for name, promql in q.items()}
    traffic = out["requests"]
    if traffic.status == "missing" and "no series" in traffic.reason:  # most often: a selector label that no series has
        out["requests"] = traffic = Reading(
            "requests",
            traffic.promql,
            status="missing",
            reason=f"no http_requests_total series match the candidate selector {selector} (is the label right? "
            f"Prometheus {client.url}, query: {traffic.promql})",
        )
    quiet = ""
    if traffic.ok and traffic.value is not None and traffic.value < min_requests:
        quiet = why = (
            f"only {traffic.value:.0f} requests in the {promql_duration(window_s)} window (< min_requests "
            f"{min_requests}): too little traffic to judge (Prometheus {client.url}, query: {traffic.promql})"
        )
        for name in TRAFFIC_GATED:
            if out[name].status != "error":
                out[name] = Reading(name, out[name].promql, status="missing", reason=why)
    elif not traffic.ok:
        quiet = f"request count unknown: {traffic.reason}"
        for name in TRAFFIC_GATED:
            if out[name].status != "error":
                out[name] = Reading(name, out[name].promql, status=traffic.status, reason=quiet)
    alerts = out["alerts_firing"]
    if quiet and alerts.ok and not alerts.value:  # a firing alert is evidence; silence over no traffic is not
        out["alerts_firing"] = Reading(
            "alerts_firing",
            alerts.promql,
            status="missing" if traffic.status != "error" else "error",
            reason=f"no alert firing proves nothing without the candidate's traffic: {quiet}",
        )
    return out
