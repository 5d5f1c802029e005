"""`harness selftest`: the pr phase's whole fault matrix is caught on a clean checkout, and a team policy
that drops a gate makes the fault that needs it uncaught (exit 1, named)."""

from __future__ import annotations

import json

from harness.fault_matrix import load_matrix
from harness.policy import default_policy


def test_selftest_of_the_pr_phase_catches_every_fault(pr_selftest):
    run = pr_selftest  # the session's run (tests/e2e/conftest.py): other tests read its trials too
    assert run.code == 0, run.out + run.err[-3000:]
    doc = json.loads((run.reports / "selftest.json").read_text())
    assert doc["ok"] is True and doc["uncaught"] == []
    assert doc["clean"]["verdict"] == "go"
    trials = {t["fault"]: t for t in doc["faults"]}
    expect = {c.name: c.expect for c in load_matrix()}
    for t in trials.values():
        assert t["caught"] and t["verdict"] != "go", t
        assert {t["gates"][g] for g in t["expected_gates"]} == {expect[t["fault"]]}, t
        if expect[t["fault"]] == "fail":
            assert t["verdict"] == "no-go" and set(t["expected_gates"]) <= set(t["failing_gates"]), t
            # the trial's reasons say it as the gate would: a reason names an expected gate
            assert any(g in r.split(": ")[0] for r in t["reasons"] for g in t["expected_gates"]), t
    # every gate of the phase is proven by at least one fault
    proven = {g for t in trials.values() for g in t["expected_gates"]}
    assert proven == {g.id for g in default_policy().phase("pr").gates}
    # and the faults are the matrix's, not a hand-picked few
    assert set(trials) == {f.name for f in load_matrix() if set(f.gates) & proven}
    table = (run.reports / "selftest.md").read_text()
    assert "every fault caught" in table and "| `roundtrip_no_store` |" in table


def test_a_policy_that_drops_a_gate_leaves_its_fault_uncaught_and_exits_1(harness, tmp_path):
    policy = tmp_path / "team.toml"
    policy.write_text('[phases.pr]\ndrop = ["smoke.roundtrip", "smoke.all"]\n')
    run = harness(
        "selftest",
        "--phase",
        "pr",
        "--policy-file",
        str(policy),
        "--only",
        "roundtrip_no_store,auth_bypass",
        timeout=300,
    )
    assert run.code == 1, run.out + run.err[-3000:]
    doc = json.loads((run.reports / "selftest.json").read_text())
    assert doc["clean"]["verdict"] == "go"
    assert doc["uncaught"] == ["roundtrip_no_store"]
    trial = next(t for t in doc["faults"] if t["fault"] == "roundtrip_no_store")
    assert "gate smoke.roundtrip is not in phase pr" in trial["why"]
    assert trial["verdict"] == "go"  # what that policy would have let through
    caught = next(t for t in doc["faults"] if t["fault"] == "auth_bypass")
    assert caught["caught"] and caught["verdict"] == "no-go"  # the gates the policy kept still trip
    assert "| `roundtrip_no_store` |" in run.out and "**NO**: gate smoke.roundtrip is not in phase pr" in run.out


def test_absent_evidence_is_never_a_pass_nor_a_no_go_on_a_canary_phase(harness):
    """A real Prometheus behind the fault proxy answering NaN, a candidate whose scrape stops, and the candidate
    alone exporting its request counter under another name (NoData on the judge's critical metric): each keeps
    its live and canary gates `missing` (inconclusive), never pass and never no-go. The clean run beside a
    baseline is go (selftest starts one for a phase with canary gates). Short traffic: 15 s per run."""
    import shutil

    import pytest

    if shutil.which("prometheus") is None:
        pytest.skip("needs Debian's prometheus (.ci/run installs it)")
    faults = ("absent_prometheus_nan", "absent_stale_scrape", "absent_metric_renamed_candidate")
    run = harness(
        "selftest",
        "--phase",
        "canary-25",
        "--only",
        ",".join(faults),
        timeout=420,
        HARNESS_LOAD_DURATION_S="15",
        HARNESS_LIVE_MIN_REQUESTS="100",
        HARNESS_LIVE_MIN_POINTS="10",
    )
    assert run.code == 0, run.out + run.err[-3000:]
    doc = json.loads((run.reports / "selftest.json").read_text())
    assert doc["clean"]["verdict"] == "go" and doc["clean"]["gates"]["canary.critical"] == "pass"
    trials = {t["fault"]: t for t in doc["faults"]}
    assert set(trials) == set(faults)
    for t in trials.values():
        assert t["caught"] and t["verdict"] == "inconclusive" and t["failing_gates"] == [], t
        assert {t["gates"][g] for g in t["expected_gates"]} == {"missing"}, t
    renamed = trials["absent_metric_renamed_candidate"]
    assert renamed["gates"]["canary.critical"] == "missing"  # NoData on the critical metric: not no-go
    assert renamed["gates"]["live.websocket_connections"] == "pass"  # the gauge is still there and judged
    reports = run.reports / "selftest" / "absent_metric_renamed_candidate"
    canary = json.loads((reports / "live" / "canary.json").read_text())
    assert canary["nodata"] == ["error_ratio"] and canary["decision"] == "inconclusive"
    assert canary["mode"] == "sequential"  # the default (auto) where the harness drives the traffic
    assert "; score " in canary["summary"] and "1 without data: error_ratio" in canary["summary"], canary["summary"]
