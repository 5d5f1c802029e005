"""The canary judge's statistics against reference values, and its classification and score."""

from __future__ import annotations

import math
import random

import pytest
from scipy.stats import mannwhitneyu

from harness.errors import ConfigError
from harness.live.judge import (
    DEFAULT_METRICS,
    Judgement,
    Metric,
    MetricResult,
    classify,
    critical_u,
    hodges_lehmann,
    judge_options,
    mann_whitney_p,
    u_cdf,
)

# R's wilcox.test example data (Hollander & Wolfe: permeability constants of the human chorioamnion)
X = [0.80, 0.83, 1.89, 1.04, 1.45, 1.38, 1.91, 1.64, 0.73, 1.46]
Y = [1.15, 0.88, 0.90, 0.74, 1.21]


def test_critical_values_match_the_published_mann_whitney_tables():
    # two-sided tables, n1 = n2 = 10: 23 at alpha 0.05, 19 at 0.02, 16 at 0.01; n1 = n2 = 20: 127 at 0.05
    assert critical_u(10, 10, 0.95) == 23
    assert critical_u(10, 10, 0.98) == 19
    assert critical_u(10, 10, 0.99) == 16
    assert critical_u(20, 20, 0.95) == 127


def test_the_exact_null_distribution_agrees_with_scipys_exact_p_values():
    rng = random.Random(3)
    for m, n in ((10, 5), (7, 9), (12, 12)):
        x, y = [rng.random() for _ in range(m)], [rng.random() for _ in range(n)]
        u = int(mannwhitneyu(x, y, method="exact").statistic)
        want = mannwhitneyu(x, y, alternative="greater", method="exact").pvalue  # P(U >= u)
        assert 1 - u_cdf(u - 1, m, n) == pytest.approx(want)
    assert u_cdf(50, 10, 5) == pytest.approx(1.0) and u_cdf(-1, 10, 5) == 0.0
    # the chorioamnion example: W = 35, one-sided p 0.1272 (R's documented output)
    assert 1 - u_cdf(34, 10, 5) == pytest.approx(0.1272061, abs=1e-6)


def test_hodges_lehmann_estimate_and_interval():
    shift = hodges_lehmann(X, Y, 0.95)
    assert shift.estimate == pytest.approx(0.305)  # R: "difference in location 0.305"
    diffs = sorted(a - b for a in X for b in Y)
    c = critical_u(10, 5, 0.95)  # 8 for n1 = 10, n2 = 5 (two-sided 0.05 table)
    assert c == 8
    assert (shift.low, shift.high) == pytest.approx((diffs[c], diffs[len(diffs) - 1 - c]))
    assert shift.low < shift.estimate < shift.high
    assert hodges_lehmann([1, 2, 3], [1, 2, 3], 0.98).low == -math.inf  # too few points for any interval at 98 %


def test_the_normal_approximation_is_within_one_of_the_exact_critical_value():
    for conf in (0.95, 0.98):
        exact = critical_u(30, 30, conf)
        z = {0.95: 1.959964, 0.98: 2.326348}[conf]
        approx = math.floor(450 - 0.5 - z * math.sqrt(900 * 61 / 12))
        assert abs(exact - approx) <= 1
    assert critical_u(40, 60, 0.98) > 0


def test_the_interval_covers_a_known_shift_about_98_percent_of_the_time():
    rng = random.Random(7)
    covered = 0
    for _ in range(300):
        y = [rng.gauss(0, 1) for _ in range(60)]
        x = [rng.gauss(0.5, 1) for _ in range(60)]
        s = hodges_lehmann(x, y)
        covered += s.low <= 0.5 <= s.high
    assert 0.95 <= covered / 300 <= 1.0


def test_classification_pass_high_low_nodata():
    rng = random.Random(1)
    base = [0.010 + rng.random() * 0.002 for _ in range(60)]
    same = [0.010 + rng.random() * 0.002 for _ in range(60)]
    slow = [v * 1.5 for v in same]
    latency = Metric("lat", "q{range}", allowed_increase=0.2)
    assert classify(latency, same, base).classification == "Pass"
    high = classify(latency, slow, base)
    assert high.classification == "High" and high.shift.low > 0 and high.mean_ratio > 1.2
    assert "candidate median" in high.line() and "98%" in high.line() and "High" in high.line()
    fast = [v * 0.5 for v in same]
    assert classify(latency, fast, base).classification == "Pass"  # direction increase: faster is fine
    either = Metric("lat", "q{range}", direction="either")
    assert classify(either, fast, base).classification == "Low"
    slight = [v * 1.1 for v in same]  # significant, but inside the allowed increase
    assert classify(latency, slight, base).classification == "Pass"
    nodata = classify(latency, same[:49] + [math.nan] * 11, base)
    assert nodata.classification == "NoData" and "49 candidate" in nodata.line()


def test_error_ratio_against_a_clean_baseline():
    err = DEFAULT_METRICS[1]
    zeros = [0.0] * 60
    assert classify(err, zeros, zeros).classification == "Pass"
    assert mann_whitney_p(zeros, zeros) == 1.0
    burst = [0.0, 0.02, 0.0, 0.04, 0.02] * 12
    assert classify(err, burst, zeros).classification == "High"


def _r(name, cls, critical=False):
    return MetricResult(name, cls, critical=critical)


def test_score_and_decision_over_the_metrics_with_data():
    assert Judgement([_r("a", "Pass"), _r("b", "Pass", True)]).score == 100
    half = Judgement([_r("a", "High"), _r("b", "Pass", True)])
    assert half.score == 50 and half.decision == "no-go"
    assert Judgement([_r("a", "Pass"), _r("b", "High", True)]).score == 0  # a critical metric High: 0, no-go
    assert Judgement([_r("a", "Pass"), _r("b", "Pass", True)]).decision == "go"
    nine = Judgement([_r(str(i), "Pass") for i in range(9)] + [_r("x", "High")])
    assert nine.score == 90 and nine.decision == "inconclusive"


def test_nodata_is_never_a_pass_and_never_a_no_go():
    # NoData on the critical metric: the score is computed over the rest, canary.critical has no data
    crit = Judgement([_r("chat_latency_s", "Pass"), _r("error_ratio", "NoData", True)])
    assert (
        crit.score == 100 and crit.critical_failed == [] and [m.name for m in crit.critical_nodata] == ["error_ratio"]
    )
    assert crit.decision == "inconclusive"  # was: score 0, no-go (blaming the build for a scrape problem)
    assert crit.summary() == "score 100 over 1 of 2 metrics (1 without data: error_ratio)"
    # a NoData metric does not count against the score: nine Pass and one NoData are 100, not 90, and not go
    many = Judgement([_r(str(i), "Pass") for i in range(9)] + [_r("x", "NoData")])
    assert many.score == 100 and many.decision == "inconclusive" and [m.name for m in many.judged] == list("012345678")
    # every metric NoData: no score at all
    none = Judgement([_r("a", "NoData"), _r("b", "NoData", True)])
    assert none.score is None and none.decision == "inconclusive" and none.judged == []
    assert none.summary() == "no score: none of the 2 metrics had data (NoData: a, b)"
    assert Judgement([]).score is None and Judgement([]).decision == "inconclusive"
    # the metrics with data still decide a no-go: NoData hides nothing that was measured
    worse = Judgement([_r("a", "High"), _r("b", "NoData", True)])
    assert worse.score == 0 and worse.decision == "no-go" and worse.critical_failed == []
    both = Judgement([_r("a", "Pass"), _r("b", "High", True), _r("c", "NoData", True)])
    assert [m.name for m in both.critical_failed] == ["b"] and [m.name for m in both.critical_nodata] == ["c"]


class RangeClient:
    """A canned query_range: the series per (metric fragment, track) a test gives; anything else: no series."""

    url = "http://prom.test:9090"

    def __init__(self, series: dict[tuple[str, str], list[float]], slow: tuple[str, ...] = ()) -> None:
        self.series, self.slow = series, slow

    def query_range(self, promql, start, end, step):
        from harness.live.prometheus import PrometheusError, Series

        for key in self.slow:
            if key in promql:
                raise PrometheusError(
                    f"Prometheus {self.url} (query: {promql}) did not answer: timed out", "unreachable"
                )
        for (fragment, track), values in self.series.items():
            if fragment in promql and f'track="{track}"' in promql:
                return [Series({}, [(float(i), v) for i, v in enumerate(values)])]
        return []


def _judge(client, min_points=20):
    from harness.live.judge import JudgeOptions, judge

    opts = JudgeOptions(step_s=1.0, min_points=min_points)
    return judge(client, '{track="candidate"}', '{track="baseline"}', 0.0, 60.0, opts)[0]


def test_judge_absent_evidence_from_prometheus_is_nodata_or_an_error_never_a_pass():
    from harness.live.prometheus import PrometheusError

    rng = random.Random(3)
    lat = [0.2 + rng.random() * 0.01 for _ in range(40)]
    err = [0.0] * 40
    full = {
        ("http_request_duration_seconds_sum", "candidate"): lat,
        ("http_request_duration_seconds_sum", "baseline"): lat[::-1],
        ("http_requests_total", "candidate"): err,
        ("http_requests_total", "baseline"): err,
    }
    assert _judge(RangeClient(full)).decision == "go"
    renamed = {k: v for k, v in full.items() if k != ("http_requests_total", "candidate")}  # candidate only
    got = _judge(RangeClient(renamed))
    assert [m.name for m in got.critical_nodata] == ["error_ratio"] and got.decision == "inconclusive"
    assert "0 candidate and 40 baseline points" in got.nodata[0].line()
    no_baseline = {k: v for k, v in full.items() if k[1] == "candidate"}  # no baseline series at all
    got = _judge(RangeClient(no_baseline))
    assert got.score is None and got.decision == "inconclusive" and len(got.nodata) == 2
    nan = {k: [math.nan] * 40 for k in full}  # Prometheus answers NaN (0/0 on a stale or idle scrape)
    assert _judge(RangeClient(nan)).score is None
    stale = {k: v[:10] for k, v in full.items()}  # the target stopped being scraped: 10 points, not 20
    got = _judge(RangeClient(stale))
    assert got.score is None and "10 candidate and 10 baseline points, fewer than 20" in got.nodata[0].line()
    with pytest.raises(PrometheusError, match="timed out"):  # a query timeout: the check turns it into `error`
        _judge(RangeClient(full, slow=("http_requests_total",)))


def test_judge_options():
    opts = judge_options({"metrics": {"chat_latency_s": {"allowed_increase": 0.1}}}, step_s=2, min_points=20)
    assert opts.step_s == 2 and opts.min_points == 20
    assert {m.name: m.allowed_increase for m in opts.metrics}["chat_latency_s"] == 0.1
    custom = judge_options({"metrics": {"ws": {"query": "max(websocket_connections{{sel}})[{range}]"}}})
    assert [m.name for m in custom.metrics][-1] == "ws"
    assert DEFAULT_METRICS[0].promql('{track="candidate"}', "3s") == (
        'sum(rate(http_request_duration_seconds_sum{path="/chat/v2/chat",track="candidate"}[3s])) / '
        'sum(rate(http_request_duration_seconds_count{path="/chat/v2/chat",track="candidate"}[3s]))'
    )
    for bad, msg in (
        ({"go_scor": 90}, "did you mean 'go_score'"),
        ({"metrics": {"new": {}}}, "needs query"),
        ({"go_score": 50, "nogo_score": 80}, "nogo_score"),
        ({"metrics": {"x": {"query": "up"}}}, "{range}"),
    ):
        with pytest.raises(ConfigError, match=msg):
            judge_options(bad)
