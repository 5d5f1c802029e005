"""The rollback suite end to end: the real CLI and a real local stack. The clean reference service passes
every rollback gate and each rollback fault, switched at run time in the one running stack (`harness
selftest`), trips the gate the matrix names; a fault set at start makes `harness gate` exit 1 naming it."""

from __future__ import annotations

import json

import pytest

from harness.verdict import validate_verdict

ROLLBACK_GATES = ("rollback.migrations", "rollback.data", "rollback.cache", "rollback.flags", "rollback.duration_s")
# a phase of the rollback gates alone (the internal phase's, same thresholds), so the selftest runs only them
REHEARSAL_POLICY = """
[phases.rehearsal]
traffic = "none"
rollout = false
description = "e2e: the internal phase's rollback gates alone"
gates = [
  { id = "rollback.migrations", suite = "rollback", check = "rollback.migrations.*", about = "e2e" },
  { id = "rollback.data", suite = "rollback", check = "rollback.data", about = "e2e" },
  { id = "rollback.cache", suite = "rollback", check = "rollback.cache", about = "e2e" },
  { id = "rollback.flags", suite = "rollback", check = "rollback.flags", about = "e2e" },
  { id = "rollback.duration_s", suite = "rollback", metric = "rollback_duration_s", op = "<", threshold = 300 },
]
"""
FAST_FAULTS = ("irreversible_migration", "downgrade_raises", "cache_leak", "flags_switch_ignored")


def test_the_clean_service_passes_and_every_rollback_fault_is_caught_at_run_time(harness, tmp_path):
    policy = tmp_path / "rehearsal.toml"
    policy.write_text(REHEARSAL_POLICY)
    run = harness(
        "selftest", "--phase", "rehearsal", "--policy-file", str(policy), "--only", ",".join(FAST_FAULTS), timeout=300
    )
    assert run.code == 0, run.out + run.err[-3000:]
    doc = json.loads((run.reports / "selftest.json").read_text())
    assert doc["clean"]["verdict"] == "go"
    trials = {t["fault"]: t for t in doc["faults"]}
    assert set(trials) == set(FAST_FAULTS)
    expected = {
        "irreversible_migration": {"rollback.data"},
        "downgrade_raises": {"rollback.migrations", "rollback.data"},
        "cache_leak": {"rollback.cache"},
        "flags_switch_ignored": {"rollback.flags"},
    }
    for name, gates in expected.items():
        assert trials[name]["verdict"] == "no-go" and set(trials[name]["failing_gates"]) == gates, trials[name]


def _gate(harness, *args: str, **env: str) -> tuple[int, str, dict[str, dict]]:
    run = harness("gate", "--phase", "internal", "--suites", "rollback", *args, timeout=180, **env)
    assert "Traceback" not in run.out + run.err
    doc = run.verdict
    validate_verdict(doc)
    return run.code, run.out, {g["id"]: g for g in doc["gates"] if g["id"] in ROLLBACK_GATES}


@pytest.mark.parametrize(
    ("fault", "gate"), [("cache_leak", "rollback.cache"), ("irreversible_migration", "rollback.data")]
)
def test_a_bad_build_exits_1_naming_its_gate(harness, fault, gate):
    code, out, got = _gate(harness, ORCHESTRA_FAULTS=fault)
    assert code == 1, out
    assert any(line.split()[:2] == ["FAIL", gate] for line in out.splitlines()), out
    assert {g for g, r in got.items() if r["status"] == "fail"} == {gate}, got


def test_a_slow_rollback_trips_the_duration_gate(harness, tmp_path):
    policy = tmp_path / "fast.toml"  # the gate's logic with a 1 s threshold: the default is 300 s
    policy.write_text('[phases.internal]\ngates = [{ id = "rollback.duration_s", threshold = 1, about = "e2e" }]\n')
    code, out, got = _gate(harness, "--policy-file", str(policy), ORCHESTRA_FAULTS="downgrade_delay_s=2")
    assert code == 1, out
    assert got["rollback.duration_s"]["status"] == "fail" and got["rollback.data"]["status"] == "pass", got
    assert got["rollback.duration_s"]["observed"] >= 2.0, got["rollback.duration_s"]
