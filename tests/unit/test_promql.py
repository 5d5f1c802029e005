"""The PromQL reader behind the metrics contract, and the lint that rejects the guide's P95 expression."""

from __future__ import annotations

from harness.contract.promql import Selector, lint, selectors

GUIDE_P95 = "histogram_quantile(0.95, http_request_duration_seconds) > 2"
FIXED_P95 = "histogram_quantile(0.95, sum by (le) (rate(http_request_duration_seconds_bucket[5m]))) > 2"


def test_the_guides_p95_expression_is_rejected():
    problems = lint(GUIDE_P95)
    assert len(problems) == 1
    assert "_bucket" in problems[0]


def test_the_corrected_p95_expression_passes():
    assert lint(FIXED_P95) == []


def test_bucket_counts_without_rate_are_flagged():
    assert "rate()" in lint("histogram_quantile(0.95, sum by (le) (http_request_duration_seconds_bucket))")[0]


def test_selectors_skip_functions_grouping_labels_and_durations():
    expr = 'sum(rate(http_requests_total{status=~"5..", path!="/metrics"}[5m])) / sum by (path) (rate(x_total[1m]))'
    assert selectors(expr) == [
        Selector("http_requests_total", frozenset({"status", "path"})),
        Selector("x_total", frozenset()),
    ]
    assert selectors(FIXED_P95) == [Selector("http_request_duration_seconds_bucket", frozenset())]
    assert selectors("websocket_connections > 900") == [Selector("websocket_connections", frozenset())]
    assert selectors("rate(http_requests_total{status=~'5..'}[5m]) and on(instance) up == 1") == [
        Selector("http_requests_total", frozenset({"status"})),
        Selector("up", frozenset()),
    ]
