"""A small Prometheus HTTP API client: instant and range queries, each bounded by one deadline.

    prom = Prometheus("http://127.0.0.1:9090", token=os.environ.get("HARNESS_PROMETHEUS_TOKEN"))
    prom.query('sum(rate(http_requests_total[5m]))')                     -> [Sample(labels, value)]
    prom.query_range('sum(rate(x[10s]))', start=t0, end=t1, step=5)      -> [Series(labels, points)]

Every failure is a PrometheusError whose message names the Prometheus URL and the PromQL, so an SRE can
paste the query; the bearer token is sent, never written anywhere.
"""

from __future__ import annotations

import json
import math
import ssl
import time
from dataclasses import dataclass, field
from urllib.parse import urlencode

from harness.http import FetchError, fetch

TOKEN_ENV = "HARNESS_PROMETHEUS_TOKEN"  # optional bearer token of the Prometheus API (environment only)
MAX_ANSWER_BYTES = 32 << 20


class PrometheusError(Exception):
    """A query that gave no usable answer. kind: "unreachable" (no HTTP answer), "query" (Prometheus refused
    the PromQL: bad_data), "answer" (anything else: an HTTP error, a malformed body)."""

    def __init__(self, message: str, kind: str = "answer") -> None:
        super().__init__(message)
        self.kind = kind


@dataclass(frozen=True, slots=True)
class Sample:
    """One element of an instant vector."""

    labels: dict[str, str]
    value: float


@dataclass(frozen=True, slots=True)
class Series:
    """One element of a range matrix: (unix time, value) points."""

    labels: dict[str, str]
    points: list[tuple[float, float]] = field(default_factory=list)

    @property
    def values(self) -> list[float]:
        return [v for _, v in self.points]


def _number(raw: object) -> float:
    """Prometheus sends sample values as strings ("NaN", "+Inf" included)."""
    try:
        return float(str(raw))
    except ValueError:
        return math.nan


@dataclass(slots=True)
class Prometheus:
    """Where the Prometheus HTTP API answers, and how long one query may take (connect to last byte)."""

    url: str
    token: str | None = field(default=None, repr=False)
    timeout_s: float = 10.0
    context: ssl.SSLContext | None = None

    def __post_init__(self) -> None:
        self.url = self.url.rstrip("/")

    def _get(self, path: str, params: dict[str, str], promql: str) -> object:
        url = f"{self.url}{path}?{urlencode(params)}"
        headers = {"Accept": "application/json"}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        where = f"Prometheus {self.url} (query: {promql})"
        try:
            answer = fetch(
                url, deadline_s=self.timeout_s, max_bytes=MAX_ANSWER_BYTES, context=self.context, headers=headers
            )
        except FetchError as exc:
            raise PrometheusError(f"{where} did not answer: {exc}", "unreachable") from None
        try:
            body = json.loads(answer.body)
        except ValueError:
            body = None
        if not isinstance(body, dict):
            raise PrometheusError(f"{where} answered HTTP {answer.status} without a Prometheus API body")
        if body.get("status") != "success":
            kind = "query" if body.get("errorType") == "bad_data" else "answer"
            raise PrometheusError(
                f"{where} refused the query (HTTP {answer.status}, {body.get('errorType')}: {body.get('error')})", kind
            )
        return body.get("data")

    def query(self, promql: str, at: float | None = None) -> list[Sample]:
        """An instant query; a scalar answer comes back as one sample without labels."""
        params = {"query": promql, "timeout": f"{self.timeout_s:g}s"}
        if at is not None:
            params["time"] = f"{at:.3f}"
        data = self._get("/api/v1/query", params, promql)
        kind, result = _shape(data, self.url, promql)
        if kind == "vector":
            return [Sample(dict(r.get("metric") or {}), _number(r["value"][1])) for r in result]
        if kind == "scalar":
            return [Sample({}, _number(result[1]))]
        raise PrometheusError(f"Prometheus {self.url} (query: {promql}) answered a {kind}, not an instant vector")

    def query_range(self, promql: str, start: float, end: float, step: float) -> list[Series]:
        """A range query from start to end (unix seconds) every step seconds."""
        params = {
            "query": promql,
            "start": f"{start:.3f}",
            "end": f"{end:.3f}",
            "step": f"{step:g}",
            "timeout": f"{self.timeout_s:g}s",
        }
        data = self._get("/api/v1/query_range", params, promql)
        kind, result = _shape(data, self.url, promql)
        if kind != "matrix":
            raise PrometheusError(f"Prometheus {self.url} (query: {promql}) answered a {kind}, not a matrix")
        return [
            Series(dict(r.get("metric") or {}), [(float(t), _number(v)) for t, v in r.get("values") or []])
            for r in result
        ]

    def alert_rules(self) -> list[str]:
        """The names of the alerting rules Prometheus has loaded (GET /api/v1/rules?type=alert)."""
        data = self._get("/api/v1/rules", {"type": "alert"}, "GET /api/v1/rules?type=alert")
        if not isinstance(data, dict) or not isinstance(data.get("groups"), list):
            raise PrometheusError(f"Prometheus {self.url} answered a malformed rules list")
        return [str(r.get("name")) for g in data["groups"] for r in g.get("rules") or [] if r.get("type") == "alerting"]

    def ready(self) -> bool:
        """Whether /-/ready answers 200 (a readiness probe; never raises)."""
        try:
            return fetch(f"{self.url}/-/ready", deadline_s=min(self.timeout_s, 3), context=self.context).status == 200
        except FetchError:
            return False


def _shape(data: object, url: str, promql: str) -> tuple[str, list]:
    if not isinstance(data, dict) or not isinstance(data.get("result"), list):
        raise PrometheusError(f"Prometheus {url} (query: {promql}) answered a malformed result")
    return str(data.get("resultType")), data["result"]


def now() -> float:
    return time.time()
