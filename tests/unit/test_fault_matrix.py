"""The fault matrix covers every gate: each gate of every phase has a fault expected to trip it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from app.faults import FAULTS, parse_faults
from harness.checklist.options import SPEC as CHECKLIST_SPEC
from harness.config import APP_TLS, Settings
from harness.errors import ConfigError
from harness.fault_matrix import EXPECT, FaultCase, cases_for, for_phase, load_matrix, parse_matrix
from harness.live.options import SPEC as LIVE_SPEC
from harness.policy import default_policy
from harness.security.options import KEYS as SECURITY_KEYS
from harness.stack.prometheus_faults import FAULTS as PROMETHEUS_FAULTS

ROOT = Path(__file__).resolve().parents[2]
# Gates that cannot be `fail` by design: their case may only make them block `go` (expect missing/error).
CANNOT_FAIL = {
    "load.run": "tests/load/test_load.py only measures: a run that cannot be judged is skipped (missing), never failed",
}
OPTION_KEYS = {
    "security": set(SECURITY_KEYS),
    "checklist": {o.key for o in CHECKLIST_SPEC.options},
    "live": {o.key for o in LIVE_SPEC.options},
}
ABSENT = "absent_"  # the negative controls for absent evidence: missing or error, never pass


def all_gates() -> dict[str, set[str]]:
    """gate id -> the phases it belongs to, over every phase of harness/policy.toml."""
    out: dict[str, set[str]] = {}
    for phase in default_policy().phases.values():
        for gate in phase.gates:
            out.setdefault(gate.id, set()).add(phase.name)
    return out


def test_every_gate_of_every_phase_has_a_fault_expected_to_trip_it():
    matrix = load_matrix()
    uncovered = []
    for gate, phases in sorted(all_gates().items()):
        cases = cases_for(gate, matrix)
        tripping = [c for c in cases if c.expect == "fail"]
        if not tripping and not (gate in CANNOT_FAIL and cases):
            uncovered.append(f"{gate} (phases {', '.join(sorted(phases))})")
    assert not uncovered, "gates no fault in harness/faults.toml is expected to trip: " + "; ".join(uncovered)


def test_only_gates_that_cannot_fail_and_absent_evidence_have_a_weaker_expectation():
    for case in load_matrix():
        # flaky: a fault that recovers proves the re-runs, not the gate; absent_*: evidence that is not there
        if case.expect not in ("fail", "flaky") and not case.name.startswith(ABSENT):
            assert set(case.gates) <= set(CANNOT_FAIL), f"{case.name}: expect {case.expect} for {case.gates}"


def test_every_kind_of_absent_evidence_has_a_control_that_must_block_go_on_every_live_gate_it_touches():
    absent = {c.name: c for c in load_matrix() if c.name.startswith(ABSENT)}
    assert {c.expect for c in absent.values()} <= {"missing", "error"}  # never pass, never fail (no blame)
    by = {
        "empty": [c for c in absent.values() if c.prometheus == "empty"],
        "nan": [c for c in absent.values() if c.prometheus == "nan"],
        "stale scrape": [c for c in absent.values() if c.app == "metrics_down"],
        "query timeout": [c for c in absent.values() if c.prometheus in ("hang", "timeout") and c.expect == "error"],
        "rules not loaded": [c for c in absent.values() if c.prometheus == "no_rules"],
        "traffic below min_requests": [c for c in absent.values() if "min_requests" in c.options.get("live", {})],
        "renamed in the candidate only": [c for c in absent.values() if c.app == "metric_renamed"],
        "no baseline series": [c for c in absent.values() if "baseline_selector" in c.options.get("live", {})],
    }
    assert all(by.values()), [k for k, v in by.items() if not v]
    live = {g.id for p in ("beta", "canary-25", "full") for g in default_policy().phase(p).gates if g.suite == "live"}
    for what in ("empty", "nan", "stale scrape", "query timeout"):  # nothing to read: every live gate blocks go
        assert set(by[what][0].gates) == live, what
    assert {"canary.critical", "canary.score"} <= set(by["renamed in the candidate only"][0].gates)
    assert by["rules not loaded"][0].gates == ("live.alerts_firing",)


def test_a_prometheus_case_names_a_proxy_fault_and_may_carry_options():
    ok = "[cases.x]\nkind = 'prometheus'\nprometheus = 'hang'\noptions = { live = { timeout_s = 2 } }\n"
    (case,) = parse_matrix(ok + "gates = ['live.p95_s']\nexpect = 'error'\nabout = 'a'\n", "m.toml")
    assert case.prometheus == "hang" and case.suites == ("live",) and case.env() == {"HARNESS_LIVE_TIMEOUT_S": "2"}
    with pytest.raises(ConfigError, match="prometheus = one of 'empty'"):
        parse_matrix("[cases.x]\nkind = 'prometheus'\nprometheus = 'slow'\ngates = ['a.b']\nabout = 'a'\n", "m")
    with pytest.raises(ConfigError, match="has no 'app'"):
        parse_matrix(
            "[cases.x]\nkind = 'prometheus'\nprometheus = 'nan'\napp = 'x'\ngates = ['a.b']\nabout = 'a'\n", "m"
        )


def test_every_case_names_real_gates_and_real_faults():
    gates = all_gates()
    for case in load_matrix():
        unknown = [g for g in case.gates if g not in gates]
        assert not unknown, f"case {case.name}: no phase has gate(s) {unknown}"
        if case.kind == "app":
            names = {n.partition("=")[0] for n in parse_faults(case.app)}  # raises on an unknown name or bad value
            assert names <= set(FAULTS), case.name
        elif case.kind == "stack":
            Settings(**case.stack)  # every key is a Settings field
            if "app_tls" in case.stack:
                assert case.stack["app_tls"] in APP_TLS
        else:
            if case.kind == "prometheus":
                assert case.prometheus in PROMETHEUS_FAULTS, case.name
            for suite, table in case.options.items():
                assert set(table) <= OPTION_KEYS[suite], f"case {case.name}: unknown {suite} option(s)"
                for key, value in table.items():
                    if suite == "live":  # numbers and selectors, checked as the suite checks them
                        LIVE_SPEC.option(key).check(key, value, case.name)
                        continue
                    for item in value if isinstance(value, list) else [value]:
                        assert (ROOT / item).exists(), f"case {case.name}: {item} does not exist"


def test_every_app_fault_is_used_by_the_matrix():
    used = {n.partition("=")[0] for c in load_matrix() if c.kind == "app" for n in parse_faults(c.app)}
    unused = set(FAULTS) - used
    assert not unused, f"app faults no case uses: {sorted(unused)}"


def test_pr_phase_cases_and_their_suites():
    pr = default_policy().phase("pr")
    cases = {c.name: c for c in for_phase(pr)}
    assert {"roundtrip_no_store", "ws_refuse", "session_messages_404", "tls_expired", "bad_manifest"} <= set(cases)
    assert not {"throughput_cap", "vulnerable_dependency", "live_5xx", "load_regression"} & set(cases)
    assert cases["metric_renamed"].suites == ("contract", "smoke")
    assert cases["tls_expired"].kind == "stack" and cases["tls_expired"].runnable
    assert cases["session_messages_404"].runnable  # the contract suite fails a 404 from a followed link


def test_a_case_through_the_environment():
    cases = {c.name: c for c in load_matrix()}
    assert cases["ws_refuse"].env() == {"ORCHESTRA_FAULTS": "ws_refuse_every=10"}
    assert cases["tls_expired"].env() == {"HARNESS_APP_TLS": "expired"}
    assert cases["bad_manifest"].env() == {"HARNESS_SECURITY_DEPLOY_DIR": "tests/unit/fixtures/security/bad-k8s"}
    assert cases["vulnerable_dependency"].env() == {
        "HARNESS_SECURITY_TRIVY_REPORTS": "tests/unit/fixtures/security/trivy-critical-vuln.json"
    }


def test_the_vulnerable_dependency_fixture_is_a_critical_vulnerability():
    from harness.security.trivy import findings_from_report, has_vulnerability_results, read_report

    path = ROOT / "tests/unit/fixtures/security/trivy-critical-vuln.json"
    doc = read_report(path)
    assert has_vulnerability_results(doc)
    assert [(f.severity, f.level) for f in findings_from_report(doc, kinds=("vuln",))] == [("critical", "FAIL")]
    assert not findings_from_report(doc, kinds=("misconfig", "secret"))
    json.loads(path.read_text())


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("[cases.x]\nkind = 'app'\napp = 'chat_5xx'\ngates = ['smoke.all']\n", "about (one line) is required"),
        ("[cases.x]\nkind = 'magic'\ngates = ['smoke.all']\nabout = 'a'\n", "kind = 'magic' is not one of"),
        ("[cases.x]\nkind = 'app'\napp = 'a'\ngates = []\nabout = 'a'\n", "gates must be a non-empty list"),
        ("[cases.x]\nkind = 'app'\napp = 'a'\ngates = ['Smoke']\nabout = 'a'\n", "gates must be a non-empty list"),
        ("[cases.x]\nkind = 'app'\ngates = ['smoke.all']\nabout = 'a'\n", "an app case needs app ="),
        ("[cases.x]\nkind = 'app'\napp = 'a'\nstack = {}\ngates = ['a.b']\nabout = 'a'\n", "has no 'stack'"),
        ("[cases.x]\nkind = 'stack'\nstack = { app_tsl = 'x' }\ngates = ['a.b']\nabout = 'a'\n", "did you mean"),
        ("[cases.x]\nkind = 'options'\noptions = { security = {} }\ngates = ['a.b']\nabout = 'a'\n", "needs options"),
        ("[cases.x]\nkind = 'app'\napp = 'a'\ngates = ['a.b']\nabout = 'a'\nexpect = 'pass'\n", "expect = 'pass'"),
        ("[cases.x]\nkind = 'app'\napp = 'a'\ngates = ['a.b']\nabout = 'a'\ngate = 1\n", "unknown key 'gate'"),
        ("[phases.x]\n", "only [cases.<name>] tables"),
        ("cases = [", "not valid TOML"),
    ],
)
def test_a_bad_matrix_is_one_line(text, error):
    with pytest.raises(ConfigError) as exc:
        parse_matrix(text, "m.toml")
    assert error in str(exc.value) and str(exc.value).startswith("m.toml") and "\n" not in str(exc.value)


def test_a_matrix_file_loads_into_typed_records(tmp_path):
    path = tmp_path / "m.toml"
    path.write_text(
        "[cases.x]\nkind = 'options'\noptions = { security = { max_pages = 1 } }\n"
        "gates = ['security.zap_fail']\nabout = 'a'\nneeds = 'z'\n"
    )
    (case,) = load_matrix(path)
    assert case == FaultCase(
        "x", "options", ("security.zap_fail",), "a", options={"security": {"max_pages": 1}}, needs="z"
    )
    assert case.expect in EXPECT and not case.runnable
    with pytest.raises(ConfigError, match="cannot be read"):
        load_matrix(tmp_path / "absent.toml")
