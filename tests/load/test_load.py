"""The load suite: the guide's performance gate (P95 < 2 s, errors < 0.1 %, > 1000 req/s) and the
nightly regression call, from one bounded Locust run (tests/load/locustfile.py) per session.

The gates themselves live in harness/policy.toml; these checks only measure. A run that could not
be judged (no requests, too few, a target that answered nothing, load refused) is skipped with the
reason, so its gates are `missing` and the verdict is never `go`.
"""

from __future__ import annotations

import json

import pytest

from harness.checks import CAVEAT, not_applicable, not_run, not_run_if_left_out
from harness.load.history import baseline, compare, read_records
from harness.load.results import LIMITED_METRICS, error_sources_of, judged_when_limited
from harness.load.runner import PREFIX

# the load run is bounded by its own hard cap (the profile's cap_s), not by check_timeout_s
pytestmark = pytest.mark.check_timeout(0)


def _websocket_weighted(load_run: dict) -> bool:
    """Whether this run sent WebSocket users (the service has a WebSocket path and the profile weights them)."""
    return "websocket" in ((load_run.get("traffic") or {}).get("users") or ())


def _summary(load_run: dict) -> dict:
    if load_run.get("skipped"):
        pytest.skip(load_run["skipped"])
    summary = load_run["summary"]
    if summary["missing"]:
        pytest.skip(f"the load run cannot be judged: {summary['missing']}")
    return summary


@pytest.mark.check("load.run")
def test_load_run(load_run, load_reports, measure, coverage):
    """One Locust run of the profile: latency percentiles, error ratio, throughput, WebSocket connects.

    Coverage: the requests made, and the WebSocket sessions tried when the profile sends WebSocket traffic
    (a run that opened none of them is no evidence for the WebSocket gate)."""
    summary = _summary(load_run)
    head = {"profile": load_run["profile"], "target": load_run["target"], "traffic": load_run.get("traffic")}
    (load_reports / "endpoints.json").write_text(json.dumps({**head, **summary}, indent=2))
    measure(**judged_when_limited(summary)[0])  # a limited generator's throughput and latency are its own
    _generators(summary, measure)
    auth = summary.get("auth") or {}
    if auth:  # the token source's logins in the Locust processes: said, and not part of the load statistics
        measure(**{f"auth_{k}": v for k, v in auth.items()})
    _covered(load_run, summary, coverage)
    _not_run_if_partial(load_run)


def _covered(load_run: dict, summary: dict, coverage) -> None:
    """What the run's numbers stand on: the requests made, and the WebSocket sessions tried when the profile
    sends WebSocket traffic (a run that opened none of them is no evidence for the WebSocket gate)."""
    counts = summary.get("coverage") or {}
    coverage(requests=counts.get("requests", 0))
    if _websocket_weighted(load_run):
        coverage(websocket_sessions=counts.get("websocket_sessions", 0))


def _not_run_if_partial(load_run: dict) -> None:
    """After measuring: a run without traffic the service would carry (the safety scope, the profile's
    exclusions) is not run; its numbers may fail a gate, never pass one."""
    left_out = [e for e in (load_run.get("traffic") or {}).get("not_run") or () if not e.startswith("WebSocket ")]
    not_run_if_left_out("the load", left_out)


@pytest.mark.check("load.error_ratio")
def test_the_errors_behind_the_ratio(load_run, load_reports):
    """Measures nothing (load.run does): when requests failed, it says which endpoints and statuses, from
    Locust's failures CSV, so the load.error_ratio gate's reason names them (a skip with that line; a run
    without failures passes). When the generator was the limit and some requests got no answer, load.run
    withholds the ratio (judged_when_limited) and this skip says why: the gate is `missing`."""
    summary = _summary(load_run)
    withheld = judged_when_limited(summary)[1].get("error_ratio")
    if withheld:  # the generator was the limit and some requests got no answer: its own, or the service's?
        pytest.skip(withheld)
    line = error_sources_of(summary, load_reports / f"{PREFIX}_failures.csv")
    if line:
        pytest.skip(f"the failed requests: {line}")


def _generators(summary: dict, measure) -> None:
    """The generators' own numbers beside the service's: users reached vs asked, each generator's peak CPU."""
    gens = summary.get("generators") or {}
    if not gens:
        return
    measure(users_asked=gens.get("users_asked", 0), users_reached=gens.get("users_reached", 0))
    peaks = [g["cpu_max"] for g in gens.get("generators") or () if g.get("cpu_max") is not None]
    if peaks:
        measure(generator_cpu_max_pct=max(peaks))


def _honest(load_run: dict, record_property) -> dict:
    """The summary, when the generator was not the limit; else skip with why (the gate is `missing`). On a busy
    machine (a local stack's neighbours took its CPUs: harness/load/machine.py) the numbers carry that caveat: a
    gate they meet passes, one they miss is `missing`, never a fail."""
    summary = _summary(load_run)
    if summary.get("limited"):
        pytest.skip(summary["limited"])
    if summary.get("contended"):
        record_property(CAVEAT, summary["contended"])
    return summary


@pytest.mark.check("load.rps")
def test_throughput(load_run, measure, coverage, record_property):
    """Throughput, judged only when the generator was not the limit: every generator stayed at or below
    Locust's 90 % CPU in the judged window and every user of the profile ran. Otherwise the throughput says
    how fast the generator was, not the service: `missing` with the generator's CPU, never a fail."""
    summary = _honest(load_run, record_property)
    m = summary["measurements"]
    assert m.get("rps") is not None, "the run produced no throughput figure"
    measure(rps=m["rps"], http_rps=m.get("http_rps", m["rps"]))
    _covered(load_run, summary, coverage)
    _not_run_if_partial(load_run)


@pytest.mark.check("load.p95_ms")
def test_latency(load_run, measure, coverage, record_property):
    """Latency percentiles (the slowest endpoint's, and Locust's aggregate), judged only when the generator
    was not the limit: a saturated generator's event loop delays its own timings."""
    summary = _honest(load_run, record_property)
    timed = {k: v for k, v in summary["measurements"].items() if k in LIMITED_METRICS and k not in ("rps", "http_rps")}
    assert "p95_ms" in timed, "the run timed no request"
    measure(**timed)
    _covered(load_run, summary, coverage)
    _not_run_if_partial(load_run)


@pytest.mark.check("load.ws_connect_ratio")
def test_websocket_connects(load_run):
    """The WebSocket gate applies only to a service with a WebSocket path (the service profile's
    paths.websocket); without one no WebSocket user runs and the gate is N/A, with the reason."""
    traffic = load_run.get("traffic") or {}
    if traffic and not traffic.get("websocket"):
        why = next((e for e in traffic.get("not_run") or () if e.startswith("WebSocket ")), None)
        if why:  # the service has one, and this run left it out
            not_run(why)
        not_applicable("the service profile has no WebSocket path (paths.websocket): no WebSocket users ran")
    summary = _summary(load_run)
    withheld = judged_when_limited(summary)[1].get("ws_connect_ratio")
    if withheld:
        pytest.skip(withheld)
    if "ws_connect_ratio" not in summary["measurements"]:
        pytest.skip("the load run tried no WebSocket connect (the load profile weights websocket at 0)")


@pytest.mark.check("load.regression")
def test_no_regression_against_the_last_good_runs(load_run, load_config, measure, coverage, record_property):
    """Tonight vs the median of the last N good runs of the same profile (reports/history/load.jsonl).
    Unreadable history lines are counted and said, never dropped silently."""
    summary = _honest(load_run, record_property)  # a saturated generator's numbers are no baseline nor a night
    profile, reg = load_config.profile.name, load_config.regression
    records, bad = read_records(load_config.history_file)
    skipped = f"; {bad} unreadable line(s) in it were left out" if bad else ""
    runs = baseline(records, profile, reg.window)
    comparisons = compare(summary["measurements"], runs, reg)
    if not comparisons:
        pytest.skip(
            f"no baseline yet: {len(runs)} good {profile} runs in {load_config.history_file} "
            f"(need {reg.min_runs}; `harness load --history` records them){skipped}"
        )
    measure(history_unreadable_lines=bad, **{f"baseline_{c.metric}": c.median for c in comparisons})
    coverage(baseline_runs=len(runs))
    worse = [c for c in comparisons if c.regressed]
    if worse and summary.get("contended"):  # the neighbours could only have made tonight worse: no blame on it
        pytest.skip("not judged: " + "; ".join(c.describe(profile) for c in worse) + f": {summary['contended']}")
    if worse:
        pytest.fail("regression: " + "; ".join(c.describe(profile) for c in worse) + skipped, pytrace=False)
