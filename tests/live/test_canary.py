"""The canary judge (harness/live/judge.py): candidate vs baseline per metric, from Prometheus range
queries over the window. Not applicable without a baseline (--baseline on the local stack, or
baseline_selector in [tool.harness.live])."""

from __future__ import annotations

import json
import time

import pytest

from harness.checks import CURL, check_error, not_applicable
from harness.errors import HarnessError
from harness.live.judge import Judgement, classify, judge_options
from harness.live.options import promql_duration
from harness.live.prometheus import PrometheusError

pytestmark = pytest.mark.check_timeout(0)
MIN_RATE_RANGE_S = 3.0  # a rate needs two samples of a 1 s scrape in every step's range


@pytest.fixture(scope="session")
def judgement(prometheus, candidate_selector, baseline_selector, live_config, live_traffic, live_dir):
    if baseline_selector is None:
        not_applicable("no baseline to compare with (--baseline on the local stack, or baseline_selector)")
    try:
        opts = judge_options(live_config.judge, live_config.step_s, live_config.min_points)
    except HarnessError as exc:
        pytest.fail(f"canary judge configuration: {exc}", pytrace=False)
    end = time.time()
    window = live_config.window_s
    if live_traffic.get("driven"):
        window = min(window, live_traffic["seconds"])
        end = live_traffic["ended"]
    start = end - window
    rate_range = promql_duration(max(opts.step_s, MIN_RATE_RANGE_S))
    result = Judgement(go_score=opts.go_score, nogo_score=opts.nogo_score)
    queries = []
    for metric in opts.metrics:
        samples = {}
        for side, selector in (("candidate", candidate_selector), ("baseline", baseline_selector)):
            promql = metric.promql(selector, rate_range)
            queries.append(promql)
            try:
                series = prometheus.query_range(promql, start, end, opts.step_s)
            except PrometheusError as exc:
                if exc.kind == "query":
                    pytest.fail(f"canary judge: metric {metric.name}: {exc}", pytrace=False)
                check_error(f"canary judge: {exc}")
            samples[side] = series[0].values if len(series) == 1 else []
        got = classify(metric, samples["candidate"], samples["baseline"], opts.min_points, opts.confidence)
        got.promql = metric.promql(candidate_selector, rate_range)
        result.metrics.append(got)
    out = live_dir
    out.mkdir(parents=True, exist_ok=True)
    lines = [m.line() for m in result.metrics]
    (out / "canary.json").write_text(
        json.dumps({"score": result.score, "decision": result.decision, "metrics": lines, "queries": queries}, indent=2)
    )
    notes_file = out / "notes.json"
    notes = json.loads(notes_file.read_text())["notes"] if notes_file.is_file() else []
    notes.append(f"canary judge: score {result.score:.0f} ({result.decision}); " + "; ".join(lines))
    notes_file.write_text(json.dumps({"notes": notes}, indent=2))
    return result


@pytest.mark.check("canary.score")
def test_canary_score(judgement, prometheus, record_property, measure, coverage):
    """Score = 100 x Pass / judged metrics (0 when a critical metric does not pass): no-go below nogo_score,
    inconclusive (missing) up to go_score."""
    record_property(CURL, f"see reports/live/canary.json for the range queries at {prometheus.url}")
    lines = "; ".join(m.line() for m in judgement.metrics)
    measure(canary_score=judgement.score)
    coverage(metrics=len(judgement.metrics))
    if judgement.decision == "no-go":
        pytest.fail(f"canary score {judgement.score:.0f} < {judgement.nogo_score:g}: {lines}", pytrace=False)
    if judgement.decision == "inconclusive":
        pytest.skip(
            f"canary score {judgement.score:.0f} is between {judgement.nogo_score:g} and "
            f"{judgement.go_score:g}: {lines}"
        )


@pytest.mark.check("canary.critical")
def test_canary_critical_metrics(judgement):
    """Every critical metric (the error ratio by default) passes."""
    bad = judgement.critical_failed
    assert not bad, "critical metric(s) not passing: " + "; ".join(m.line() for m in bad)
