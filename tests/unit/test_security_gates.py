"""The security gates in the policy, and how the verdict explains a security gate that failed or has no
evidence (the check named like the gate says why)."""

from __future__ import annotations

from dataclasses import replace

from harness.evidence import Evidence
from harness.policy import load_policy
from harness.verdict import evaluate

SECURITY = (
    "security.zap_fail",
    "security.trivy_high_critical",
    "security.trivy_vulns",
    "security.auth_failures",
    "security.injection",
)


def internal():
    """The internal phase's security gates, as a phase of their own (a narrowed run is never go)."""
    phase = load_policy().phase("internal")
    return replace(phase, gates=tuple(g for g in phase.gates if g.suite == "security"))


def rec(cid: str, outcome: str = "passed", message: str = "", **measurements: float) -> Evidence:
    return Evidence(suite="security", id=cid, outcome=outcome, message=message, measurements=measurements)


def clean() -> list[Evidence]:
    return [
        rec("security.zap_fail", zap_fail=0),
        rec("security.trivy_high_critical", trivy_high_critical=0),
        rec("security.trivy_vulns", trivy_vuln_critical=0),
        rec("security.auth_failures", auth_failures=0),
        rec("security.injection", injection_findings=0),
        rec("security.tls", "not_applicable", "not applicable: plain-http loopback target"),
    ]


def test_the_internal_phase_gates_the_guides_security_validation():
    gates = {g.id: g for g in internal().gates if g.suite == "security"}
    assert set(gates) == {*SECURITY, "security.tls"}
    assert all((gates[g].op, gates[g].threshold) == ("==", 0) for g in SECURITY)
    assert gates["security.trivy_vulns"].metric == "trivy_vuln_critical"
    assert gates["security.tls"].check == "security.tls*"
    assert gates["security.injection"].metric == "injection_findings"


def test_clean_security_evidence_is_go():
    assert evaluate(internal(), clean(), selected=("security",)).verdict == "go"


def test_a_failed_gate_names_the_findings_the_check_reported():
    records = clean()
    records[0] = rec(
        "security.zap_fail", "failed", "ZAP baseline: 1 blocking rule(s) at 9 place(s), 9 new: 10098 ...", zap_fail=1
    )
    decision = evaluate(internal(), records, selected=("security",))
    assert decision.verdict == "no-go"
    assert decision.reasons[0].startswith("security.zap_fail: observed 1, threshold == 0 (ZAP baseline: 1 blocking")


def test_no_vulnerability_db_is_missing_with_the_reason_unless_the_team_drops_the_gate(tmp_path):
    records = clean()
    records[2] = rec("security.trivy_vulns", "skipped", "no trivy vulnerability DB in /root/.cache/trivy: ...")
    decision = evaluate(internal(), records, selected=("security",))
    assert decision.verdict == "inconclusive"
    gate = next(g for g in decision.gates if g.id == "security.trivy_vulns")
    assert gate.status == "missing"
    assert gate.reason == (
        "security.trivy_vulns: no trivy_vuln_critical measurement was produced "
        "(no trivy vulnerability DB in /root/.cache/trivy: ...)"
    )
    override = tmp_path / "policy.toml"
    override.write_text('[phases.internal]\ndrop = ["security.trivy_vulns"]\n')
    phase = load_policy(override).phase("internal")
    phase = replace(phase, gates=tuple(g for g in phase.gates if g.suite == "security"))
    assert evaluate(phase, records, selected=("security",)).verdict == "go"


def test_a_scan_that_could_not_run_is_missing_with_its_one_line():
    records = clean()
    records[1] = rec("security.trivy_high_critical", "failed", "security: trivy binary '/x/trivy' not found (...)")
    decision = evaluate(internal(), records, selected=("security",))
    gate = next(g for g in decision.gates if g.id == "security.trivy_high_critical")
    assert (decision.verdict, gate.status) == ("inconclusive", "missing")
    assert "trivy binary '/x/trivy' not found" in gate.reason
