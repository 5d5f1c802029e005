"""The canary judge (harness/live/judge.py): candidate vs baseline per metric, from Prometheus range
queries over the window. Not applicable without a baseline (--baseline on the local stack, or
baseline_selector in [tool.harness.live])."""

from __future__ import annotations

import json
import time

import pytest

from harness.checks import CURL, check_error, not_applicable
from harness.errors import HarnessError
from harness.live.judge import judge, judge_options
from harness.live.prometheus import PrometheusError

pytestmark = pytest.mark.check_timeout(0)


@pytest.fixture(scope="session")
def judgement(
    prometheus, candidate_selector, baseline_selector, live_config, live_traffic, live_readings, live_dir, request
):
    if baseline_selector is None:
        not_applicable("no baseline to compare with (--baseline on the local stack, or baseline_selector)")
    if live_config.judge_mode == "sequential":
        return _sequential(
            prometheus, candidate_selector, baseline_selector, live_config, live_traffic, live_dir, request
        )
    try:
        step = live_config.step_s
        if live_traffic.get("driven") and not live_config.step_given:
            step = 1.0  # our own 1 s scrape and about a minute of traffic: 5 s steps would leave ~12 points
        opts = judge_options(live_config.judge, step, live_config.min_points)
    except HarnessError as exc:
        pytest.fail(f"canary judge configuration: {exc}", pytrace=False)
    end = time.time()
    window = live_config.window_s
    if live_traffic.get("background"):  # the traffic ran through the watch (live_readings): judge all of it
        window = min(window, end - live_traffic["started"])
    elif live_traffic.get("driven"):
        window = min(window, live_traffic["seconds"])
        end = live_traffic["ended"]
    try:
        result, queries = judge(prometheus, candidate_selector, baseline_selector, end - window, end, opts)
    except PrometheusError as exc:  # unreachable, or a team metric's PromQL refused: inconclusive, one line
        check_error(f"canary judge: {exc}")
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
    result.queries, result.step_s = queries, opts.step_s
    result.window = (end - window, end)
    return result


@pytest.mark.check("canary.score", suite="live")
def test_canary_score(judgement, prometheus, record_property, measure, coverage):
    """Score = 100 x Pass / judged metrics (0 when a critical metric does not pass): no-go below nogo_score,
    inconclusive (missing) up to go_score."""
    start, end = judgement.window
    record_property(  # the first metric's candidate series; every query is in reports/live/canary.json
        CURL,
        f"curl -sS -G '{prometheus.url}/api/v1/query_range' --data-urlencode 'query={judgement.queries[0]}' "
        f"-d start={start:.0f} -d end={end:.0f} -d step={judgement.step_s:g}",
    )
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


@pytest.mark.check("canary.critical", suite="live")
def test_canary_critical_metrics(judgement):
    """Every critical metric (the error ratio by default) passes."""
    bad = judgement.critical_failed
    assert not bad, "critical metric(s) not passing: " + "; ".join(m.line() for m in bad)


def _sequential(prometheus, candidate, baseline, live_config, live_traffic, out, request):
    """judge_mode = "sequential" (harness/live/sequential.py): the judgement reached while the traffic ran (or
    during the watch), else looks every step from now for the window; its decision time and each metric's
    statistic path go to reports/live/canary.json."""
    from harness.live.sequential import counter_queries, live_sequential_options, run_sequential, sequential_judge

    state = request.getfixturevalue("sequential_state")
    if "error" in state:
        check_error(f"canary judge (sequential): {state['error']}")
    result = state.get("judgement")
    try:
        opts = live_sequential_options(live_config, driven=bool(live_traffic.get("driven")))
    except HarnessError as exc:
        pytest.fail(f"canary judge configuration: {exc}", pytrace=False)
    try:
        if live_traffic.get("background") and result is not None and not result.final:  # a watch ran to its end
            result = sequential_judge(prometheus, candidate, baseline, result.window[0], time.time(), opts)
        elif result is None:
            start = time.time()
            result = run_sequential(prometheus, candidate, baseline, start, start + live_config.window_s, opts)
    except PrometheusError as exc:
        check_error(f"canary judge (sequential): {exc}")
    lines = [m.line() for m in result.metrics]
    queries = counter_queries(candidate) + counter_queries(baseline)
    out.mkdir(parents=True, exist_ok=True)
    doc = {"score": result.score, "decision": result.decision, "metrics": lines, "queries": queries}
    (out / "canary.json").write_text(json.dumps({**doc, "sequential": result.document()}, indent=2))
    notes_file = out / "notes.json"
    notes = json.loads(notes_file.read_text())["notes"] if notes_file.is_file() else []
    notes.append(f"canary judge: score {result.score:.0f} ({result.decision}); {result.summary()}; " + "; ".join(lines))
    notes_file.write_text(json.dumps({"notes": notes}, indent=2))
    result.queries = queries
    return result
