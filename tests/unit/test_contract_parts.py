"""Metrics exposition checks, WebSocket frame validation and contract options, without a server."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.config import load_settings
from harness.contract.metrics import Expr, expressions, problems
from harness.contract.options import contract_options
from harness.contract.websocket import frame_problem
from harness.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]
EXPOSITION = """\
# TYPE http_requests_total counter
http_requests_total{method="GET",path="/health",status="200"} 3.0
# TYPE http_request_duration_seconds histogram
http_request_duration_seconds_bucket{method="GET",path="/health",le="0.1"} 3.0
http_request_duration_seconds_bucket{method="GET",path="/health",le="+Inf"} 3.0
http_request_duration_seconds_count{method="GET",path="/health"} 3.0
http_request_duration_seconds_sum{method="GET",path="/health"} 0.01
# TYPE websocket_connections gauge
websocket_connections 0.0
"""


def test_the_deploy_alerts_and_dashboard_are_satisfied_by_the_guides_metrics():
    exprs = expressions(ROOT / "deploy/prometheus/alerts.yml", ROOT / "deploy/grafana/dashboard.json")
    assert len(exprs) == 7
    assert problems(EXPOSITION, exprs) == []


@pytest.mark.parametrize(
    ("expr", "message"),
    [
        ("rate(http_requests_totl[5m])", "http_requests_totl is not exported"),
        ('rate(http_requests_total{region="eu"}[5m])', "has no label 'region'"),
        ("websocket_connections_total > 1", "belongs to a gauge, expected a counter"),
        ("histogram_quantile(0.9, sum by (le) (rate(websocket_connections_bucket[5m])))", "expected a histogram"),
    ],
)
def test_missing_series_labels_and_types_are_named(expr, message):
    found = problems(EXPOSITION, [Expr("x", expr)])
    assert len(found) == 1 and message in found[0]


def test_a_wrong_type_is_named():
    text = EXPOSITION.replace("# TYPE http_requests_total counter", "# TYPE http_requests_total gauge")
    text = text.replace("http_requests_total{", "http_requests_total{", 1)
    found = problems(text.replace("http_requests_total", "http_requests"), [Expr("x", "rate(http_requests_total[5m])")])
    assert found == ["x: http_requests_total belongs to a gauge, expected a counter"]


def test_frames_are_checked_against_the_message_schema():
    assert frame_problem('{"type": "pong", "ts": 1.0}') is None
    assert frame_problem('{"type": "done", "message_id": 3, "response": "hi"}') is None
    assert "is not of type 'number'" in frame_problem('{"type": "pong", "ts": "1.0"}')
    assert "is not of type 'integer'" in frame_problem('{"type": "done", "message_id": "3", "response": "x"}')
    assert frame_problem("{oops").startswith("not JSON")
    assert frame_problem('{"type": "ping"}', "client") is None


def test_contract_options_profiles_and_errors(tmp_path):
    (tmp_path / "pyproject.toml").write_text(
        '[tool.harness.contract]\nprofile = "deep"\nprofiles = { deep = { max_examples = 500 } }\n'
    )
    opts = contract_options(load_settings({}, env={}, root=tmp_path), env={})
    assert (opts.profile, opts.max_examples, opts.seed) == ("deep", 500, 20261126)
    # the reference app's profile names the harness's own files (its checkout, or the installed package's)
    assert opts.baseline == load_settings({}, env={}, root=tmp_path).home / "deploy/openapi.baseline.json"
    assert (
        contract_options(
            load_settings({}, env={}, root=tmp_path), env={"HARNESS_CONTRACT_PROFILE": "quick"}
        ).max_examples
        == 25
    )
    with pytest.raises(ConfigError, match="unknown profile 'quik'"):
        contract_options(load_settings({}, env={}, root=tmp_path), env={"HARNESS_CONTRACT_PROFILE": "quik"})
    (tmp_path / "pyproject.toml").write_text('[tool.harness.contract]\nbasline = "x"\n')
    with pytest.raises(ConfigError, match="did you mean 'baseline'"):
        contract_options(load_settings({}, env={}, root=tmp_path), env={})
