"""The canary judge (harness/live/judge.py): candidate vs baseline per metric, from Prometheus range
queries over the window. Not run without a baseline: the comparison is what a canary phase is for, so a
phase without one is inconclusive until the run has a baseline (--baseline on the local stack, or
baseline_selector in [tool.harness.live]) or the team's policy drops the canary gates."""

from __future__ import annotations

import json
import time

import pytest

from harness.checks import CURL, check_error, not_run
from harness.errors import HarnessError
from harness.live.judge import judge, judge_options
from harness.live.prometheus import PrometheusError

pytestmark = pytest.mark.check_timeout(0)

NO_DATA_HINT = (
    "check that Prometheus scrapes both the candidate and the baseline, that the window had traffic "
    "and that the metric exists on both (min_points per side)"
)


def mode_note(request) -> str:
    """Which mode judged, and why (judge_mode, or what `auto` saw): in the judge's note and a failing gate's
    reason, before the metric lines (a long reason is cut at its end)."""
    mode, why = request.getfixturevalue("judge_choice")
    return f" (mode {mode}: {why})"


def record_judgement(out, result, queries: list[str], request, **extra) -> None:
    """Either mode's judgement to reports/live/canary.json (the same keys; the sequential mode adds its own)
    and its line to the verdict's notes, saying which mode judged and why."""
    mode, why = request.getfixturevalue("judge_choice")
    lines = [m.line() for m in result.metrics]
    doc = {"mode": mode, "mode_why": why, "score": result.score, "decision": result.decision}
    doc |= {"summary": result.summary(), "nodata": [m.name for m in result.nodata], "metrics": lines}
    out.mkdir(parents=True, exist_ok=True)
    (out / "canary.json").write_text(json.dumps({**doc, "queries": queries, **extra}, indent=2))
    notes_file = out / "notes.json"
    notes = json.loads(notes_file.read_text())["notes"] if notes_file.is_file() else []
    notes.append(f"canary judge: {result.summary()} ({result.decision}){mode_note(request)}; " + "; ".join(lines))
    notes_file.write_text(json.dumps({"notes": notes}, indent=2))


@pytest.fixture(scope="session")
def judgement(
    prometheus, candidate_selector, baseline_selector, live_config, live_traffic, live_readings, live_dir, request
):
    if baseline_selector is None:
        not_run(
            "no baseline to compare the candidate with; to check it: --baseline (a stack the harness starts), or "
            "baseline_selector in [tool.harness.live] (a deployment), or drop canary.score and canary.critical "
            "in a team policy"
        )
    if request.getfixturevalue("judge_mode") == "sequential":
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
    record_judgement(live_dir, result, queries, request)
    result.queries, result.step_s = queries, opts.step_s
    result.window = (end - window, end)
    return result


@pytest.mark.check("canary.score", suite="live")
def test_canary_score(judgement, prometheus, record_property, measure, coverage, request):
    """Score = 100 x Pass / metrics with data (0 when a critical metric is High or Low): no-go below
    nogo_score; go at go_score only when every metric had data; missing (inconclusive) otherwise."""
    start, end = judgement.window
    record_property(  # the first metric's candidate series; every query is in reports/live/canary.json
        CURL,
        f"curl -sS -G '{prometheus.url}/api/v1/query_range' --data-urlencode 'query={judgement.queries[0]}' "
        f"-d start={start:.0f} -d end={end:.0f} -d step={judgement.step_s:g}",
    )
    lines = "; ".join(m.line() for m in judgement.metrics)
    score = judgement.score
    if score is None:  # NoData everywhere: a Prometheus, scrape or traffic problem, not evidence against the build
        pytest.skip(f"canary judge: {judgement.summary()}: {NO_DATA_HINT}: {lines}")
    measure(canary_score=score)
    coverage(metrics=len(judgement.judged))
    if judgement.decision == "no-go":
        summary = f"canary {judgement.summary()} < {judgement.nogo_score:g}"
        pytest.fail(f"{summary}{mode_note(request)}: {lines}", pytrace=False)
    if judgement.nodata:
        pytest.skip(f"canary {judgement.summary()}: NoData is never a pass ({NO_DATA_HINT}): {lines}")
    if judgement.decision == "inconclusive":
        pytest.skip(
            f"canary {judgement.summary()} is between {judgement.nogo_score:g} and {judgement.go_score:g}: {lines}"
        )


@pytest.mark.check("canary.critical", suite="live")
def test_canary_critical_metrics(judgement, coverage, request):
    """Every critical metric (the error ratio by default) has data and passes: High or Low fails, NoData is
    missing (never a pass, never a no-go)."""
    bad = judgement.critical_failed
    assert not bad, f"critical metric(s) not passing{mode_note(request)}: " + "; ".join(m.line() for m in bad)
    if judgement.critical_nodata:
        pytest.skip(
            "critical metric(s) without data: "
            + "; ".join(m.line() for m in judgement.critical_nodata)
            + f" ({NO_DATA_HINT})"
        )
    coverage(critical_metrics=sum(m.critical for m in judgement.metrics))  # none configured: missing, never pass


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
    queries = counter_queries(candidate) + counter_queries(baseline)
    record_judgement(out, result, queries, request, sequential=result.document())
    result.queries = queries
    return result
