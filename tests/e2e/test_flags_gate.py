"""The flags suite end to end: the real CLI and a real local stack. At its defaults (10,000 users, +/- 1.5
pp) the clean reference service passes both flags gates of the internal phase; each flag fault, switched
at run time (`harness selftest`, a smaller sample with a wider tolerance to keep CI short), trips its gate."""

from __future__ import annotations

import json

from harness.verdict import validate_verdict

FLAGS_POLICY = """
[phases.flagsonly]
traffic = "none"
rollout = false
description = "e2e: the internal phase's flags gates alone"
flags = { v2_api = 100 }
gates = [
  { id = "flags.semantics", suite = "flags", check = "flags.semantics.*", about = "e2e" },
  { id = "flags.phase_rollout", suite = "flags", check = "flags.phase_rollout", about = "e2e" },
]
"""
# 2,000 users: the standard error of a 30 % share is about 1 pp, so the tolerance is 3 pp here
SMALL = {"HARNESS_FLAGS_USERS": "2000", "HARNESS_FLAGS_TOLERANCE_PP": "3", "HARNESS_FLAGS_MONOTONIC_USERS": "300"}


def test_the_clean_service_passes_the_flags_gates_at_their_defaults(harness):
    run = harness("gate", "--phase", "internal", "--suites", "flags", timeout=300)
    assert "Traceback" not in run.out + run.err
    doc = run.verdict
    validate_verdict(doc)
    got = {g["id"]: g for g in doc["gates"] if g["suite"] == "flags"}
    assert {g: r["status"] for g, r in got.items()} == {"flags.semantics": "pass", "flags.phase_rollout": "pass"}
    assert doc["suites"]["flags"]["passed"] >= 7 and doc["suites"]["flags"]["failed"] == 0
    evidence = json.loads((run.reports / "evidence.json").read_text())
    records = evidence["records"] if isinstance(evidence, dict) else evidence
    sample = next(r for r in records if r["id"] == "flags.sample")
    assert sample["measurements"]["flags_users"] == 10_020  # 10,000 synthetic users + 20 allowlisted ones


def test_every_flag_fault_is_caught_at_run_time(harness, tmp_path):
    policy = tmp_path / "flags.toml"
    policy.write_text(FLAGS_POLICY)
    run = harness("selftest", "--phase", "flagsonly", "--policy-file", str(policy), timeout=400, **SMALL)
    assert run.code == 0, run.out + run.err[-3000:]
    doc = json.loads((run.reports / "selftest.json").read_text())
    assert doc["clean"]["verdict"] == "go"
    trials = {t["fault"]: t for t in doc["faults"]}
    expected = {
        "flag_bucket_skew": {"flags.semantics"},
        "allowlist_ignored": {"flags.semantics"},
        "v2_api_rollout_25": {"flags.phase_rollout"},
    }
    assert set(trials) == set(expected)
    for name, gates in expected.items():
        assert trials[name]["verdict"] == "no-go" and set(trials[name]["failing_gates"]) == gates, trials[name]
