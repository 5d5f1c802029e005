"""The Prometheus fault proxy (harness/stack/prometheus_faults.py) and what the live suite's library makes of
each absent-evidence answer: `missing` or `error`, never a measurement that could pass. The upstream here is a
canned Prometheus HTTP API (a fast unit seam); tests/e2e/test_selftest.py runs the proxy before a real one."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pytest

from harness.live.gates import read_live
from harness.live.judge import JudgeOptions, judge
from harness.live.prometheus import Prometheus, PrometheusError
from harness.stack.prometheus_faults import FAULTS, PrometheusFaultProxy, transform

RULES = {"groups": [{"name": "g", "rules": [{"type": "alerting", "name": "HighErrorRate"}]}]}


class _Upstream(BaseHTTPRequestHandler):
    """Answers like a healthy Prometheus with a busy candidate: 1000 requests, every other value 0.1."""

    auth: list[str | None] = []

    def do_GET(self):  # noqa: N802
        parts = urlsplit(self.path)
        q = {k: v[0] for k, v in parse_qs(parts.query).items()}
        _Upstream.auth.append(self.headers.get("Authorization"))
        if parts.path == "/api/v1/rules":
            return self._send({"status": "success", "data": RULES})
        if parts.path == "/api/v1/query_range":
            values = [[i, "0.1"] for i in range(60)]
            return self._send(
                {"status": "success", "data": {"resultType": "matrix", "result": [{"metric": {}, "values": values}]}}
            )
        value = "1000" if q["query"].startswith("sum(increase(") else "0" if "ALERTS" in q["query"] else "0.1"
        return self._send(
            {"status": "success", "data": {"resultType": "vector", "result": [{"metric": {}, "value": [1, value]}]}}
        )

    def _send(self, body):
        raw = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)

    def log_message(self, *args):
        pass


@pytest.fixture
def proxy():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Upstream)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    with PrometheusFaultProxy(f"http://127.0.0.1:{server.server_address[1]}") as p:
        yield p
    server.shutdown()
    server.server_close()


def _read(proxy, timeout_s=5.0):
    return read_live(Prometheus(proxy.url, token="tok-12345678", timeout_s=timeout_s), "{}", 60, 500)


def test_without_a_fault_the_proxy_is_transparent(proxy):
    got = _read(proxy)
    assert {k: r.value for k, r in got.items()} == {
        "requests": 1000,
        "error_rate_5xx": 0.1,
        "p95_s": 0.1,
        "websocket_connections": 0.1,
        "alerts_firing": 0,
    }
    assert _Upstream.auth[-1] == "Bearer tok-12345678"  # the token reaches the real server
    assert Prometheus(proxy.url).alert_rules() == ["HighErrorRate"]


@pytest.mark.parametrize("fault", ["empty", "nan"])
def test_empty_and_nan_answers_make_every_live_reading_missing(proxy, fault):
    proxy.set_fault(fault)
    got = _read(proxy)
    assert {r.status for r in got.values()} == {"missing"}, got
    assert all(r.value is None for r in got.values())
    why = "no series" if fault == "empty" else "NaN"
    assert why in got["websocket_connections"].reason
    result, _ = judge(Prometheus(proxy.url), '{track="c"}', '{track="b"}', 0, 60, JudgeOptions(step_s=1, min_points=20))
    assert result.score is None and result.decision == "inconclusive" and len(result.nodata) == 2


def test_a_query_past_the_clients_deadline_is_an_error_on_every_reading(proxy):
    proxy.set_fault("hang")
    t0 = time.monotonic()
    got = _read(proxy, timeout_s=0.5)
    assert {r.status for r in got.values()} == {"error"}, got
    assert "did not answer" in got["p95_s"].reason and proxy.url in got["p95_s"].reason
    assert time.monotonic() - t0 < 10  # each query ended at the client's deadline
    with pytest.raises(PrometheusError, match="did not answer"):
        judge(Prometheus(proxy.url, timeout_s=0.5), "{}", "{}", 0, 60, JudgeOptions())
    proxy.set_fault("")
    assert _read(proxy)["requests"].value == 1000  # switched back at run time


def test_prometheus_own_timeout_answer_is_an_error(proxy):
    proxy.set_fault("timeout")
    got = _read(proxy)
    assert {r.status for r in got.values()} == {"error"}
    assert "timeout" in got["p95_s"].reason and "HTTP 503" in got["p95_s"].reason


def test_rules_not_loaded(proxy):
    proxy.set_fault("no_rules")
    assert Prometheus(proxy.url).alert_rules() == []
    assert _read(proxy)["alerts_firing"].value == 0  # the query itself still answers: the suite checks the rules


def test_faults_are_validated_and_transform_only_successful_query_answers(proxy):
    with pytest.raises(ValueError, match="unknown Prometheus fault 'slow'"):
        proxy.set_fault("slow")
    assert set(FAULTS) == {"empty", "nan", "hang", "timeout", "no_rules"}
    refused = {"status": "error", "errorType": "bad_data", "error": "parse error"}
    assert transform("empty", "/api/v1/query", refused) == refused
    scalar = {"status": "success", "data": {"resultType": "scalar", "result": [1, "2"]}}
    assert transform("nan", "/api/v1/query", json.loads(json.dumps(scalar)))["data"]["result"] == [1, "NaN"]
    assert transform("empty", "/api/v1/query", scalar)["data"] == {"resultType": "vector", "result": []}
