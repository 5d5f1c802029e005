"""The gate end to end: real local stack, real smoke suite, real verdicts, and every gate can trip."""

from __future__ import annotations

import re
import time

import pytest

from harness.verdict import validate_verdict

from .conftest import harness_env, harness_up

SMOKE_GATE = ["gate", "--phase", "smoke", "--policy-file", "policies/smoke-only.toml"]


def test_a_narrowed_phase_run_exits_2_and_lists_the_gates_it_did_not_run(harness):
    run = harness("gate", "--phase", "internal", "--suites", "smoke")
    assert run.code == 2, run.out + run.err
    doc = run.verdict
    validate_verdict(doc)
    assert doc["verdict"] == "inconclusive"
    not_run = [g["id"] for g in doc["gates"] if g["status"] == "not_run"]
    assert "contract.openapi" in not_run and "load.p95_ms" in not_run and "security.tls" in not_run
    assert all(g["status"] == "pass" for g in doc["gates"] if g["suite"] == "smoke")
    assert doc["reasons"][0].startswith(f"not run: {len(not_run)} gate(s) of phase 'internal'")
    assert all(gid in doc["reasons"][0] for gid in not_run)
    assert "NOT RUN" in run.out and run.out.startswith("INCONCLUSIVE")


def test_clean_app_is_go_in_a_smoke_only_phase(harness):
    run = harness(*SMOKE_GATE)
    assert run.code == 0, run.out + run.err
    doc = run.verdict
    validate_verdict(doc)
    assert doc["verdict"] == "go"
    assert doc["scope"]["narrowed"] is False
    assert {g["id"] for g in doc["gates"]} >= {"smoke.health", "smoke.chat_api", "smoke.websocket", "smoke.metrics"}
    assert all(g["status"] == "pass" for g in doc["gates"])
    assert doc["suites"]["smoke"]["passed"] >= 5 and doc["suites"]["smoke"]["failed"] == 0
    assert run.out.startswith("GO ")
    for name in ("summary.md", "junit.xml", "gates.xml", "evidence.json"):
        assert (run.reports / name).is_file(), name


@pytest.mark.parametrize(
    ("fault", "gate"),
    [
        ("health_503", "smoke.health"),
        ("chat_5xx", "smoke.chat_api"),
        ("ws_no_pong", "smoke.websocket"),
        ("metrics_missing", "smoke.metrics"),
    ],
)
def test_each_fault_is_no_go_naming_its_gate(pr_selftest, fault, gate):
    """Each smoke fault's trial in the session's pr selftest (the fault switched at run time on its stack)."""
    trial = pr_selftest.trial(fault)
    assert trial["verdict"] == "no-go" and trial["gates"][gate] == "fail", trial
    assert trial["reasons"][0].startswith(f"{gate}:"), trial["reasons"]
    assert re.search(r"reproduce: pytest '?tests/smoke/", trial["reasons"][0]), trial["reasons"][0]


def test_a_fault_set_by_hand_is_exit_1_naming_its_gate(harness):
    """As a user sets one: ORCHESTRA_FAULTS when the stack starts; exit 1, the gate on the console."""
    run = harness(*SMOKE_GATE, ORCHESTRA_FAULTS="chat_5xx")
    assert run.code == 1, run.out + run.err
    doc = run.verdict
    validate_verdict(doc)
    assert doc["verdict"] == "no-go"
    assert {g["id"]: g["status"] for g in doc["gates"]}["smoke.chat_api"] == "fail"
    assert doc["reasons"][0].startswith("smoke.chat_api:"), doc["reasons"]
    assert run.out.startswith("NO-GO") and "smoke.chat_api" in run.out


def test_whole_internal_phase_is_inconclusive_while_evidence_is_missing(harness):
    # the load suite runs too: keep it to 2 s and below its minimum sample, so its gates stay missing
    # (tests/e2e/test_load_gate.py judges real load runs)
    load = {"HARNESS_LOAD_PROFILE": "smoke", "HARNESS_LOAD_DURATION_S": "2", "HARNESS_LOAD_MIN_REQUESTS": "100000000"}
    # the flags suite too: 1,000 users (3.4 standard errors of a 30 % share within 5 pp) instead of 10,000
    load |= {"HARNESS_FLAGS_USERS": "1000", "HARNESS_FLAGS_TOLERANCE_PP": "5", "HARNESS_FLAGS_MONOTONIC_USERS": "100"}
    run = harness("gate", "--phase", "internal", timeout=240, **load)
    assert run.code == 2, run.out + run.err
    doc = run.verdict
    assert doc["verdict"] == "inconclusive"
    assert doc["scope"]["narrowed"] is False
    assert {g["id"]: g["status"] for g in doc["gates"]}["smoke.health"] == "pass"
    assert any(r.startswith("load.p95_ms:") for r in doc["reasons"])


def test_unreachable_target_is_inconclusive_in_one_line_within_30s(harness):
    t0 = time.monotonic()
    run = harness(*SMOKE_GATE, "--target", "http://127.0.0.1:9", HARNESS_EXTERNAL_TIMEOUT_S="5")
    assert time.monotonic() - t0 < 30
    assert run.code == 2, run.out + run.err
    assert "Traceback" not in run.out + run.err
    doc = run.verdict
    assert doc["verdict"] == "inconclusive"
    assert doc["target"]["stack"] == "external"
    assert all(g["status"] == "error" for g in doc["gates"])
    assert "target http://127.0.0.1:9" in doc["reasons"][0] and "Connection refused" in doc["reasons"][0]


@pytest.mark.parametrize(
    ("token", "says"), [("wrong-token-0123456789", "credentials were refused"), ("", "no credentials")]
)
def test_refused_or_missing_credentials_are_inconclusive_not_no_go(harness, token, says):
    """Blame the right side: a target that refuses the harness's own token says nothing about the build."""
    with harness_up() as up:
        run = harness(*SMOKE_GATE, "--target", up.url, HARNESS_TOKEN=token)
    assert run.code == 2, run.out + run.err
    doc = run.verdict
    assert doc["verdict"] == "inconclusive"
    assert {g["status"] for g in doc["gates"]} == {"error"}
    assert len(doc["reasons"]) == 1 and says in doc["reasons"][0] and "set HARNESS_TOKEN" in doc["reasons"][0]
    assert doc["reasons"][0].startswith("smoke.health, smoke.chat_api, ")


def test_an_expired_certificate_on_an_external_target_is_no_go_naming_security_tls(harness):
    """Readiness does not verify certificates (it asks: does it answer?); the TLS check does, and says no-go."""
    with harness_up(env=harness_env(HARNESS_APP_TLS="expired")) as up:
        assert up.url.startswith("https://")
        run = harness("gate", "--phase", "pr", "--suites", "security", "--target", up.url, HARNESS_TOKEN=up.token)
    assert run.code == 1, run.out + run.err
    doc = run.verdict
    tls = next(g for g in doc["gates"] if g["id"] == "security.tls")
    assert tls["status"] == "fail" and "expired" in tls["reason"]
    assert any(r.startswith("security.tls:") for r in doc["reasons"])
