"""`harness selftest`'s result: ok only when the clean run is go, every fault that ran was caught and every gate
the faults expect was caught by one of them; a fault that cannot run yet is listed, not counted as proof."""

from __future__ import annotations

from harness.fault_matrix import load_matrix
from harness.policy import default_policy
from harness.selftest import NOT_RUN, Selftest, Trial, render_table, select


def _trial(name, gates, caught=True, verdict="no-go", expect="fail"):
    why = "" if caught else "needs x"
    return Trial(name, list(gates), verdict, [], caught, ["live"], 1.0, kind="app", why=why, expect=expect)


CLEAN = Trial("clean", [], "go", [], False, ["smoke", "live"], 1.0)


def test_a_fault_that_cannot_run_proves_nothing_but_does_not_fail_when_its_gate_is_proven_elsewhere():
    leak = _trial("live_ws_leak", ["live.websocket_connections"], caught=False, verdict=NOT_RUN)
    slots = _trial("live_ws_connections", ["live.websocket_connections", "live.alerts_firing"])
    result = Selftest("canary-25", "defaults", CLEAN, [leak, slots], 2.0)
    assert result.ok and result.unproven == []
    doc = result.to_dict()
    assert doc["uncaught"] == [] and doc["not_run"] == ["live_ws_leak"] and doc["unproven_gates"] == []
    assert "| `live_ws_leak` | app | live.websocket_connections | not run | - | not run: needs x |" in render_table(
        result
    )


def test_a_gate_only_a_fault_that_cannot_run_would_prove_is_not_ok():
    regression = _trial("load_regression", ["load.regression"], caught=False, verdict=NOT_RUN)
    result = Selftest("nightly", "defaults", CLEAN, [regression], 1.0)
    assert not result.ok and result.unproven == ["load.regression"]
    assert "gates no fault was caught on: load.regression" in render_table(result)


def test_absent_evidence_alone_does_not_prove_that_a_gate_can_fail():
    errors = _trial("canary_errors", ["canary.critical"], caught=False, verdict=NOT_RUN)
    nodata = _trial("absent_baseline_series", ["canary.critical"], verdict="inconclusive", expect="missing")
    assert Selftest("full", "d", CLEAN, [errors, nodata], 1.0).unproven == ["canary.critical"]
    starved = _trial("load_starved", ["load.run"], verdict="inconclusive", expect="missing")  # cannot fail by design
    assert Selftest("load", "d", CLEAN, [starved], 1.0).ok


def test_an_uncaught_fault_or_a_clean_run_that_is_not_go_fails():
    bad = _trial("absent_prometheus_nan", ["live.p95_s"], caught=False, verdict="go")
    assert not Selftest("beta", "d", CLEAN, [bad], 1.0).ok
    dirty = Trial("clean", [], "inconclusive", [], False, ["live"], 1.0)
    assert not Selftest("beta", "d", dirty, [_trial("a", ["live.p95_s"])], 1.0).ok


def test_the_live_phases_select_the_absent_evidence_controls_and_the_canary_cases():
    for phase in ("beta", "canary-25", "full"):
        chosen = {f.name: gates for f, gates in select(load_matrix(), default_policy().phase(phase))}
        absent = {n for n in chosen if n.startswith("absent_")}
        assert len(absent) == 8, (phase, absent)
        assert {"canary_latency", "canary_errors"} <= set(chosen)
        tripping = {f.name for f in load_matrix() if f.runnable and f.expect == "fail"}
        proven = {g for n, gates in chosen.items() if n in tripping for g in gates}
        assert proven == {g.id for g in default_policy().phase(phase).gates}, phase  # every gate has a runnable fault
