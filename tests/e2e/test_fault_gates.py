"""The fault matrix's newer cases trip their gates end to end. The cases of kind `options` and `stack` and the
load phase's are applied as a user would by hand (case.env(): ORCHESTRA_FAULTS, HARNESS_APP_TLS,
HARNESS_SECURITY_*) through the real CLI on a real local stack, each run narrowed to the suites the case needs
(`--suites`, so the verdict is inconclusive or no-go by design); the pr phase's app faults are read from the
session's pr selftest (their fault switched at run time on its one stack). What counts is the status of the
case's gates. Load runs are a few seconds.
"""

from __future__ import annotations

from harness.fault_matrix import FaultCase, load_matrix
from harness.verdict import validate_verdict

CASES = {c.name: c for c in load_matrix()}
SHORT_LOAD = {"HARNESS_LOAD_DURATION_S": "4"}
# the load phase's throughput gate against a case whose cap is 100 req/s: the guide's 1000 is a staging
# number (docs/reference/load-suite.md); 300 is below every clean local measurement and well above the cap
RPS_POLICY = '[phases.load]\ngates = [{ id = "load.rps", threshold = 300, about = "e2e: gate logic" }]\n'


def statuses(run) -> dict[str, str]:
    doc = run.verdict
    validate_verdict(doc)
    return {g["id"]: g["status"] for g in doc["gates"]}


def gate(harness, case: FaultCase, *args: str, **env: str) -> dict[str, str]:
    """`harness gate --suites <the case's suites> ARGS` with the case applied; the gates' statuses."""
    run = harness("gate", "--suites", ",".join(case.suites), *args, timeout=180, **case.env(), **env)
    assert run.code in (1, 2), run.out + run.err
    assert "Traceback" not in run.out + run.err
    got = statuses(run)
    for gate_id in case.gates:
        assert got[gate_id] == case.expect, f"{case.name}: {gate_id} is {got[gate_id]}: {run.verdict['reasons']}"
    return got


def trial(pr_selftest, case: FaultCase) -> dict[str, str]:
    """The case's trial in the session's pr selftest: its gates as the case expects; every gate's status."""
    got = pr_selftest.trial(case.name)
    for gate_id in case.gates:
        assert got["gates"][gate_id] == case.expect, f"{case.name}: {gate_id}: {got['reasons']}"
    return got["gates"]


def test_roundtrip_no_store_trips_smoke_roundtrip(pr_selftest):
    got = trial(pr_selftest, CASES["roundtrip_no_store"])
    assert got["smoke.chat_api"] == "pass"  # the reply was sent: only the round trip shows the loss


def test_refused_websocket_handshakes_trip_the_connect_ratio(pr_selftest):
    got = trial(pr_selftest, CASES["ws_refuse"])
    assert got["load.run"] == "pass"


def test_a_throughput_collapse_trips_load_rps(harness, tmp_path):
    policy = tmp_path / "rps.toml"
    policy.write_text(RPS_POLICY)
    got = gate(harness, CASES["throughput_cap"], "--phase", "load", "--policy-file", str(policy), **SHORT_LOAD)
    assert got["load.run"] == "pass" and got["load.p95_ms"] == "pass"  # enough sample, and not merely slow


def test_a_starved_load_run_is_missing_never_go(harness):
    got = gate(harness, CASES["load_starved"], "--phase", "pr", **SHORT_LOAD)
    assert got["load.p95_ms"] == "missing"


def test_an_expired_certificate_trips_security_tls(harness):
    got = gate(harness, CASES["tls_expired"], "--phase", "pr")
    assert got["security.tls"] == "fail"


def test_bad_manifests_and_a_critical_vulnerability_trip_the_trivy_gates(harness):
    manifests, vulnerable = CASES["bad_manifest"], CASES["vulnerable_dependency"]
    both = FaultCase("both", "options", manifests.gates + vulnerable.gates, "both", options={})
    got = gate(harness, both, "--phase", "internal", **manifests.env(), **vulnerable.env())
    assert (got["security.trivy_high_critical"], got["security.trivy_vulns"]) == ("fail", "fail")


def test_a_broken_link_target_trips_the_stateful_contract(pr_selftest):
    got = trial(pr_selftest, CASES["session_messages_404"])
    assert got["contract.openapi.stateful"] == "fail"
    assert got["contract.openapi"] == "pass"  # each operation alone is fine: only following the link shows it
