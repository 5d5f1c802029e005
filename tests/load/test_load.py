"""The load suite: the guide's performance gate (P95 < 2 s, errors < 0.1 %, > 1000 req/s) and the
nightly regression call, from one bounded Locust run (tests/load/locustfile.py) per session.

The gates themselves live in harness/policy.toml; these checks only measure. A run that could not
be judged (no requests, too few, a target that answered nothing, load refused) is skipped with the
reason, so its gates are `missing` and the verdict is never `go`.
"""

from __future__ import annotations

import json

import pytest

from harness.checks import not_applicable, not_run
from harness.load.history import baseline, compare, read_records
from harness.load.results import error_sources_of
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
    measure(**summary["measurements"])
    auth = summary.get("auth") or {}
    if auth:  # the token source's logins in the Locust processes: said, and not part of the load statistics
        measure(**{f"auth_{k}": v for k, v in auth.items()})
    counts = summary.get("coverage") or {}
    coverage(requests=counts.get("requests", 0))
    if _websocket_weighted(load_run):
        coverage(websocket_sessions=counts.get("websocket_sessions", 0))
    left_out = [e for e in (load_run.get("traffic") or {}).get("not_run") or () if not e.startswith("WebSocket ")]
    if left_out:  # measured, but without traffic the service would carry: no pass on it (a failure still counts)
        more = f" (+{len(left_out) - 1} more)" if len(left_out) > 1 else ""
        not_run(f"the load left out {left_out[0]}{more}")


@pytest.mark.check("load.error_ratio")
def test_the_errors_behind_the_ratio(load_run, load_reports):
    """Measures nothing (load.run does): when requests failed, it says which endpoints and statuses, from
    Locust's failures CSV, so the load.error_ratio gate's reason names them (a skip with that line; a run
    without failures passes)."""
    summary = _summary(load_run)
    line = error_sources_of(summary, load_reports / f"{PREFIX}_failures.csv")
    if line:
        pytest.skip(f"the failed requests: {line}")


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
    if "ws_connect_ratio" not in summary["measurements"]:
        pytest.skip("the load run tried no WebSocket connect (the load profile weights websocket at 0)")


@pytest.mark.check("load.regression")
def test_no_regression_against_the_last_good_runs(load_run, load_config, measure, coverage):
    """Tonight vs the median of the last N good runs of the same profile (reports/history/load.jsonl).
    Unreadable history lines are counted and said, never dropped silently."""
    summary = _summary(load_run)
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
    if worse:
        pytest.fail("regression: " + "; ".join(c.describe(profile) for c in worse) + skipped, pytrace=False)
