"""The live suite's library: PromQL built from the selector and window, the traffic guard, empty/NaN/
unreachable answers, the options, and the Prometheus client against a canned HTTP API."""

from __future__ import annotations

import json
import math
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pytest

from harness.config import Settings
from harness.errors import ConfigError
from harness.live.gates import alerts_selector, queries, read_live, with_selector
from harness.live.options import live_options, matchers, parse_duration, promql_duration
from harness.live.prometheus import Prometheus, PrometheusError, Sample
from harness.stack.prometheus import local_rules, per_track


class FakeClient:
    """Answers by the query's leading function; raises for queries listed in `broken`."""

    url = "http://prom.test:9090"

    def __init__(self, answers: dict[str, list[Sample]], broken: tuple[str, ...] = ()) -> None:
        self.answers, self.broken, self.asked = answers, broken, []

    def query(self, promql: str, at: float | None = None) -> list[Sample]:
        self.asked.append(promql)
        for key in self.broken:
            if key in promql:
                raise PrometheusError(f"Prometheus {self.url} (query: {promql}) did not answer: refused", "unreachable")
        for key, samples in self.answers.items():
            if promql.startswith(key):
                return samples
        return []


def answers(requests: float, errors: float = 0.0, p95: float = 0.1, ws: float = 3, alerts: float = 0):
    return {
        "sum(increase(": [Sample({}, requests)],
        "(sum(rate(": [Sample({}, errors)],
        "histogram_quantile(": [Sample({}, p95)],
        "max(max_over_time(": [Sample({}, ws)],
        "count(ALERTS": [Sample({}, alerts)],
    }


def test_the_selector_joins_every_series_selector_and_the_window_is_in_every_range():
    q = queries('{version="green", pod=~"web-.*"}', 300)
    assert q["requests"] == 'sum(increase(http_requests_total{version="green",pod=~"web-.*"}[300s]))'
    assert q["error_rate_5xx"] == (
        '(sum(rate(http_requests_total{status=~"5..",version="green",pod=~"web-.*"}[300s])) or vector(0)) '
        '/ sum(rate(http_requests_total{version="green",pod=~"web-.*"}[300s]))'
    )
    assert q["p95_s"] == (
        "histogram_quantile(0.95, sum by (le) "
        '(rate(http_request_duration_seconds_bucket{version="green",pod=~"web-.*"}[300s])))'
    )
    assert (
        q["websocket_connections"] == 'max(max_over_time(websocket_connections{version="green",pod=~"web-.*"}[300s]))'
    )
    assert with_selector("up", "{}") == "up"


def test_an_alert_without_the_candidates_label_still_counts_for_it():
    assert alerts_selector('{track="candidate"}') == '{alertstate="firing",track=~"candidate|"}'
    assert alerts_selector('{version="v1.2"}') == '{alertstate="firing",version=~"v1\\\\.2|"}'


def test_a_window_with_enough_traffic_gives_every_measurement():
    got = read_live(FakeClient(answers(requests=1200, errors=0.07, p95=1.4, ws=12, alerts=1)), "{}", 300, 500)
    assert {k: r.value for k, r in got.items()} == {
        "requests": 1200,
        "error_rate_5xx": 0.07,
        "p95_s": 1.4,
        "websocket_connections": 12,
        "alerts_firing": 1,
    }
    assert all(r.ok for r in got.values())


def test_the_traffic_guard_makes_the_rate_gates_missing_never_a_pass():
    got = read_live(FakeClient(answers(requests=499, errors=0.0, p95=0.01)), '{track="x"}', 60, 500)
    for name in ("error_rate_5xx", "p95_s"):
        assert got[name].status == "missing"
        assert got[name].value is None
        assert "only 499 requests" in got[name].reason and "min_requests 500" in got[name].reason
        assert "http://prom.test:9090" in got[name].reason and 'http_requests_total{track="x"}' in got[name].reason
    assert got["websocket_connections"].ok  # a gauge needs no traffic
    exactly = read_live(FakeClient(answers(requests=500)), "{}", 60, 500)
    assert exactly["error_rate_5xx"].ok and exactly["p95_s"].ok


def test_nan_and_empty_answers_are_missing_with_the_promql_and_the_url():
    a = answers(requests=1000, p95=math.nan)
    del a["max(max_over_time("]
    got = read_live(FakeClient(a), "{}", 60, 500)
    assert got["p95_s"].status == "missing" and "NaN" in got["p95_s"].reason
    assert "histogram_quantile(0.95" in got["p95_s"].reason and "http://prom.test:9090" in got["p95_s"].reason
    ws = got["websocket_connections"]
    assert ws.status == "missing" and "no series" in ws.reason and "max_over_time(websocket_connections" in ws.reason


def test_a_selector_that_matches_nothing_says_so():
    got = read_live(FakeClient({}), '{versoin="green"}', 60, 500)
    for name in ("error_rate_5xx", "p95_s"):
        assert got[name].status == "missing"
        assert 'no http_requests_total series match the candidate selector {versoin="green"}' in got[name].reason


def test_an_unreachable_prometheus_is_an_error_naming_it():
    got = read_live(FakeClient(answers(1000), broken=("histogram_quantile", "increase(")), "{}", 60, 500)
    assert got["p95_s"].status == "error" and "http://prom.test:9090" in got["p95_s"].reason
    assert got["requests"].status == "error"
    assert got["error_rate_5xx"].status == "error"  # its request count is unknown: no pass on a guess
    assert "request count unknown" in got["error_rate_5xx"].reason


def test_durations_and_selectors():
    assert parse_duration("5m", "w") == 300 and parse_duration("24h", "w") == 86400 and parse_duration(90, "w") == 90
    assert promql_duration(62.5) == "62500ms" and promql_duration(300) == "300s"
    assert matchers('{a="b",c!~"d.*",}') == [("a", "=", "b"), ("c", "!~", "d.*")]
    for bad in ("5 minutes", "-1s", "0"):
        with pytest.raises(ConfigError):
            parse_duration(bad, "window")
    with pytest.raises(ValueError):
        matchers("track=canary")


def test_options_from_file_environment_and_flags(tmp_path):
    s = Settings(
        project_root=tmp_path,
        suite_options={"live": {"window": "2m", "candidate_selector": '{version="green"}'}},
        suite_flags={"live": {"prometheus_url": "http://flag:9090"}},
    )
    opts = live_options(s, env={"HARNESS_PROMETHEUS_URL": "http://env:9090", "HARNESS_LIVE_MIN_REQUESTS": "50"})
    assert (opts.prometheus_url, opts.window_s, opts.min_requests) == ("http://flag:9090", 120, 50)
    assert opts.candidate_selector == '{version="green"}' and opts.prometheus_url_from == "--prometheus"
    assert (
        live_options(Settings(project_root=tmp_path), env={"HARNESS_PROMETHEUS_URL": "http://env:9090"}).prometheus_url
        == "http://env:9090"
    )
    with pytest.raises(ConfigError, match="not a label selector"):
        live_options(
            Settings(project_root=tmp_path, suite_options={"live": {"candidate_selector": "version=green"}}), env={}
        )
    with pytest.raises(ConfigError, match="must be an http:// URL"):
        live_options(Settings(project_root=tmp_path), env={"HARNESS_PROMETHEUS_URL": "prom:9090"})


def test_the_local_rules_keep_the_track_and_fire_fast(tmp_path):
    rules = local_rules(__import__("pathlib").Path(__file__).parents[2] / "deploy/prometheus/alerts.yml")
    alerts = {r["alert"]: r for g in rules["groups"] for r in g["rules"]}
    assert set(alerts) == {"HighErrorRate", "HighLatency", "WebSocketConnectionLimit"}
    assert all(r["for"] == "2s" for r in alerts.values()) and rules["groups"][0]["interval"] == "1s"
    assert alerts["HighErrorRate"]["expr"].startswith('sum by (track) (rate(http_requests_total{status=~"5.."}')
    assert per_track("histogram_quantile(0.95, sum by (le) (rate(x[5m])))") == (
        "histogram_quantile(0.95, sum by (le, track) (rate(x[5m])))"
    )


# -- the client against a canned Prometheus HTTP API --------------------------------------------------


class _Api(BaseHTTPRequestHandler):
    seen: list[dict] = []

    def do_GET(self):  # noqa: N802
        parts = urlsplit(self.path)
        q = {k: v[0] for k, v in parse_qs(parts.query).items()}
        _Api.seen.append({"path": parts.path, "auth": self.headers.get("Authorization"), **q})
        if q.get("query") == "bad(":
            self._send(400, {"status": "error", "errorType": "bad_data", "error": "parse error"})
        elif parts.path == "/api/v1/query":
            self._send(
                200,
                {
                    "status": "success",
                    "data": {
                        "resultType": "vector",
                        "result": [
                            {"metric": {"track": "candidate"}, "value": [1.0, "0.25"]},
                            {"metric": {"track": "baseline"}, "value": [1.0, "NaN"]},
                        ],
                    },
                },
            )
        elif parts.path == "/api/v1/query_range":
            self._send(
                200,
                {
                    "status": "success",
                    "data": {
                        "resultType": "matrix",
                        "result": [
                            {"metric": {}, "values": [[10, "1"], [15, "2.5"]]},
                        ],
                    },
                },
            )
        else:
            self.send_response(404)
            self.end_headers()

    def _send(self, code, body):
        raw = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)

    def log_message(self, *args):
        pass


@pytest.fixture
def api_url():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Api)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_the_client_reads_vectors_and_matrices_and_sends_the_token(api_url):
    prom = Prometheus(api_url + "/", token="s3cret-token-value", timeout_s=3)
    samples = prom.query("up", at=1.0)
    assert samples[0] == Sample({"track": "candidate"}, 0.25) and math.isnan(samples[1].value)
    assert _Api.seen[-1]["auth"] == "Bearer s3cret-token-value" and _Api.seen[-1]["time"] == "1.000"
    series = prom.query_range("x", 0, 20, 5)
    assert series[0].points == [(10.0, 1.0), (15.0, 2.5)] and series[0].values == [1.0, 2.5]
    assert _Api.seen[-1]["step"] == "5"
    assert "s3cret" not in repr(prom)


def test_the_client_errors_name_the_url_and_the_query(api_url):
    prom = Prometheus(api_url, timeout_s=3)
    with pytest.raises(PrometheusError) as bad:
        prom.query("bad(")
    assert bad.value.kind == "query" and "parse error" in str(bad.value) and "query: bad(" in str(bad.value)
    closed = Prometheus("http://127.0.0.1:1", timeout_s=2)
    with pytest.raises(PrometheusError) as gone:
        closed.query("up")
    assert (
        gone.value.kind == "unreachable" and "http://127.0.0.1:1" in str(gone.value) and "query: up" in str(gone.value)
    )


def test_no_alert_firing_over_a_quiet_window_is_missing_but_a_firing_alert_still_counts():
    quiet = read_live(FakeClient(answers(requests=20, alerts=0)), "{}", 60, 500)
    assert quiet["alerts_firing"].status == "missing" and "proves nothing" in quiet["alerts_firing"].reason
    assert "only 20 requests" in quiet["alerts_firing"].reason
    firing = read_live(FakeClient(answers(requests=20, alerts=2)), "{}", 60, 500)
    assert firing["alerts_firing"].ok and firing["alerts_firing"].value == 2  # evidence against the build
    a = answers(requests=0)
    del a["sum(increase("]  # no request series at all (a stale scrape, a renamed metric)
    gone = read_live(FakeClient(a), "{}", 60, 500)
    assert gone["alerts_firing"].status == "missing" and "request count unknown" in gone["alerts_firing"].reason
    busy = read_live(FakeClient(answers(requests=900, alerts=0)), "{}", 60, 500)
    assert busy["alerts_firing"].ok and busy["alerts_firing"].value == 0


def test_the_judge_mode_is_auto_by_default_either_on_request_and_anything_else_is_refused():
    from harness.config import load_settings
    from harness.errors import ConfigError
    from harness.live.options import live_options

    settings = load_settings({})
    assert live_options(settings, env={}).judge_mode == "auto"
    assert live_options(settings, env={"HARNESS_LIVE_JUDGE_MODE": "sequential"}).judge_mode == "sequential"
    assert live_options(settings, env={"HARNESS_LIVE_JUDGE_MODE": "fixed"}).judge_mode == "fixed"
    with pytest.raises(ConfigError, match="judge_mode = 'sequental' is not one of auto, fixed, sequential"):
        live_options(settings, env={"HARNESS_LIVE_JUDGE_MODE": "sequental"})


def test_auto_is_sequential_when_the_harness_drives_the_traffic_and_fixed_otherwise():
    """auto: sequential only where it can only be sooner (the harness drives the window's traffic) and every
    judge metric suits it; fixed when observing a deployment, or for a team metric the sequential tests cannot
    read (no counters, or direction = either); an explicit mode is kept whatever the run."""
    from dataclasses import replace

    from harness.config import load_settings
    from harness.errors import ConfigError
    from harness.live.options import live_options

    auto = live_options(load_settings({}), env={})
    assert auto.resolved_judge_mode(driven=True)[0] == "sequential"
    mode, why = auto.resolved_judge_mode(driven=False)
    assert mode == "fixed" and "observing a deployment" in why
    rate_only = {"metrics": {"queue_s": {"query": "sum(rate(queue_seconds_sum{{sel}}[{range}]))"}}}
    mode, why = replace(auto, judge=rate_only).resolved_judge_mode(driven=True)
    assert mode == "fixed" and "queue_s" in why and "numerator and denominator" in why
    either = {"metrics": {"chat_latency_s": {"direction": "either"}}}
    mode, why = replace(auto, judge=either).resolved_judge_mode(driven=True)
    assert mode == "fixed" and "direction = either on chat_latency_s" in why
    for explicit in ("fixed", "sequential"):
        assert replace(auto, judge_mode=explicit).resolved_judge_mode(driven=True)[0] == explicit
        assert replace(auto, judge_mode=explicit).resolved_judge_mode(driven=False)[0] == explicit
    with pytest.raises(ConfigError, match="unknown key"):  # a broken table is the user's error, not a fallback
        replace(auto, judge={"metrics": {"chat_latency_s": {"allowed_increse": 0.3}}}).resolved_judge_mode(True)
