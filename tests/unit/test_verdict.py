"""evaluate(): the verdict is a pure function of the evidence; fail closed on anything not shown to pass."""

from __future__ import annotations

from typing import Any

import jsonschema
import pytest

from harness.evidence import Evidence
from harness.policy import Gate, Phase, load_policy
from harness.verdict import evaluate, validate_verdict, verdict_document

SMOKE = ("smoke.health", "smoke.chat_api", "smoke.websocket", "smoke.metrics", "smoke.roundtrip")


def passing_smoke() -> list[Evidence]:
    return [Evidence("smoke", cid, "passed", nodeid=f"tests/smoke/t.py::{cid}") for cid in SMOKE]


@pytest.fixture
def internal() -> Phase:
    return load_policy().phase("internal")


@pytest.fixture
def smoke_only(internal) -> Phase:
    """A team's own smoke-only phase: the way to a go/no-go of one suite."""
    return Phase("smoke-only", "", "", tuple(g for g in internal.gates if g.suite == "smoke"))


def test_all_smoke_checks_pass_in_a_smoke_only_phase_is_go(smoke_only):
    d = evaluate(smoke_only, passing_smoke(), available={"smoke"})
    assert d.verdict == "go"
    assert d.exit_code == 0
    assert {g.id for g in d.gates} == {*SMOKE, "smoke.all"}
    assert d.reasons == []


def test_a_narrowed_phase_run_is_never_go_and_names_what_was_not_run_first(internal):
    d = evaluate(internal, passing_smoke(), selected=("smoke",), available={"smoke"})
    assert (d.verdict, d.exit_code) == ("inconclusive", 2)
    statuses = {g.id: g.status for g in d.gates}
    assert len(d.gates) == len(internal.gates)  # every gate of the phase is in the verdict
    assert all(statuses[s] == "pass" for s in (*SMOKE, "smoke.all"))
    assert {statuses[g.id] for g in internal.gates if g.suite != "smoke"} == {"not_run"}
    assert d.reasons[0].startswith("not run: 25 gate(s) of phase 'internal' (suites contract, security, load")
    assert "contract.openapi" in d.reasons[0] and "load.p95_ms" in d.reasons[0]
    assert len(d.reasons) == 1
    assert d.scope == {
        "narrowed": True,
        "requested": ["smoke"],
        "evaluated": ["smoke"],
        "omitted": ["contract", "security", "load", "rollback", "flags", "checklist"],
    }
    assert d.suites["load"]["status"] == "not_run"


def test_a_failure_still_comes_before_what_was_not_run(internal):
    records = passing_smoke()
    records[0] = Evidence("smoke", "smoke.health", "failed", message="503")
    d = evaluate(internal, records, selected=("smoke",), available={"smoke"})
    assert d.verdict == "no-go"
    assert d.reasons[0].startswith("smoke.health: 503")
    assert d.reasons[2].startswith("not run:")  # after smoke.health and smoke.all


def test_one_failing_check_is_no_go_naming_the_gate_and_how_to_reproduce(internal):
    records = passing_smoke()
    records[1] = Evidence(
        "smoke",
        "smoke.chat_api",
        "failed",
        nodeid="tests/smoke/t.py::test_api",
        message="POST /chat/v2/chat answered 500",
        repro=["pytest x", "curl -X POST u"],
    )
    d = evaluate(internal, records, selected=("smoke",), available={"smoke"})
    assert d.verdict == "no-go"
    assert d.exit_code == 1
    assert d.reasons[0].startswith("smoke.chat_api: POST /chat/v2/chat answered 500")
    assert "reproduce: pytest x | curl -X POST u" in d.reasons[0]
    failing = {g.id for g in d.gates if g.status == "fail"}
    assert failing == {"smoke.chat_api", "smoke.all"}


def test_whole_phase_without_the_other_suites_is_inconclusive_never_go(internal):
    d = evaluate(internal, passing_smoke(), available={"smoke"})
    assert d.verdict == "inconclusive"
    assert d.exit_code == 2
    missing = {g.id for g in d.gates if g.status == "missing"}
    assert {"contract.all", "load.p95_ms", "security.zap_fail"} <= missing
    assert d.suites["load"]["status"] == "missing"
    assert any("not available in this build" in r for r in d.reasons)


def test_a_required_check_that_did_not_run_blocks_go(smoke_only):
    records = [r for r in passing_smoke() if r.id != "smoke.websocket"]
    records.append(Evidence("smoke", "smoke.store", "passed"))
    d = evaluate(smoke_only, records, available={"smoke"})
    assert d.verdict == "inconclusive"
    gate = next(g for g in d.gates if g.id == "smoke.websocket")
    assert gate.status == "error"  # the suite ran, and has no such check: policy and suite disagree
    assert "matches no check of suite smoke" in gate.reason and "smoke.store" in gate.reason


def test_a_check_of_a_suite_that_ran_nothing_is_missing(smoke_only):
    d = evaluate(smoke_only, [], available={"smoke"})
    assert {g.status for g in d.gates} == {"missing"}


def test_a_skipped_required_check_is_missing_not_pass(smoke_only):
    records = passing_smoke()
    records[0] = Evidence("smoke", "smoke.health", "skipped", message="no target")
    d = evaluate(smoke_only, records, available={"smoke"})
    assert d.verdict == "inconclusive"
    gate = next(g for g in d.gates if g.id == "smoke.health")
    assert (gate.status, gate.reason) == ("missing", "smoke.health: the check was skipped (no target)")


def test_suite_gate_observed_counts_skipped_variants(smoke_only):
    records = [*passing_smoke(), Evidence("smoke", "smoke.store", "skipped", message="external target")]
    d = evaluate(smoke_only, records, available={"smoke"})
    gate = next(g for g in d.gates if g.id == "smoke.all")
    assert (gate.status, gate.observed) == ("pass", "5 passed, 1 skipped")
    assert d.verdict == "go"


def test_a_suite_that_crashed_is_error_and_inconclusive(smoke_only):
    d = evaluate(
        smoke_only,
        passing_smoke(),
        available={"smoke"},
        suite_errors={"smoke": "the pytest session hit an internal error"},
    )
    assert d.verdict == "inconclusive"
    assert {g.status for g in d.gates} == {"error"}
    assert d.suites["smoke"]["status"] == "error"


def test_failure_outranks_missing_evidence(internal):
    records = passing_smoke()
    records[0] = Evidence("smoke", "smoke.health", "failed", message="503")
    d = evaluate(internal, records, available={"smoke"})
    assert d.verdict == "no-go"
    assert d.reasons[0].startswith("smoke.health")


def test_setup_error_in_a_check_is_error_not_pass(smoke_only):
    records = passing_smoke()
    records[2] = Evidence("smoke", "smoke.websocket", "error", message="setup error: connection refused")
    d = evaluate(smoke_only, records, available={"smoke"})
    assert d.verdict == "inconclusive"
    assert "setup error" in d.reasons[0]


def test_a_record_that_never_reported_is_error():
    phase = Phase("p", "", "", (Gate("smoke.health", "smoke", check="smoke.health"),))
    d = evaluate(phase, [Evidence("smoke", "smoke.health")], available={"smoke"})
    assert (d.gates[0].status, d.verdict) == ("error", "inconclusive")
    assert "never reported a result" in d.gates[0].reason


@pytest.mark.parametrize(("value", "status"), [(1999.0, "pass"), (2000.0, "fail"), (2450.0, "fail")])
def test_metric_gate_compares_with_threshold(value, status):
    phase = Phase("p", "", "", (Gate("load.p95_ms", "load", metric="p95_ms", op="<", threshold=2000),))
    d = evaluate(phase, [Evidence("load", "load.run", "passed", measurements={"p95_ms": value})], available={"load"})
    assert d.gates[0].status == status
    assert d.gates[0].observed == value
    assert d.verdict == ("go" if status == "pass" else "no-go")


LOAD_P95 = Phase("p", "", "", (Gate("load.p95_ms", "load", metric="p95_ms", op="<", threshold=2000),))


@pytest.mark.parametrize(("value", "status", "verdict"), [(1999.0, "pass", "go"), (2450.0, "missing", "inconclusive")])
def test_a_number_with_a_caveat_may_pass_never_fail(value, status, verdict):
    """A busy machine could only have made the number worse: one that holds passes, one that does not is
    `missing` with the caveat in the reason (no blame on the build), never `fail`."""
    busy = "other processes on this machine used 60 % of its 2 CPUs during the load run"
    rec = Evidence("load", "load.p95_ms", "passed", measurements={"p95_ms": value}, caveat=busy)
    d = evaluate(LOAD_P95, [rec], available={"load"})
    assert (d.gates[0].status, d.gates[0].observed, d.verdict) == (status, value, verdict)
    assert (busy in d.gates[0].reason) == (status == "missing")


@pytest.mark.parametrize("outcome", ["error", "skipped"])
def test_a_passing_number_from_a_check_that_did_not_complete_is_never_go(outcome):
    rec = Evidence("load", "load.run", outcome, message="worker crashed", measurements={"p95_ms": 10.0})
    d = evaluate(LOAD_P95, [rec], available={"load"})
    assert d.verdict == "inconclusive"
    assert d.gates[0].status == ("error" if outcome == "error" else "missing")


def test_an_errored_security_record_carrying_zap_fail_0_is_not_go():
    phase = load_policy().phase("pr")
    gate = next(g for g in phase.gates if g.id == "security.zap_fail")
    rec = Evidence(
        "security", "security.zap_fail", "error", message="teardown error: boom", measurements={"zap_fail": 0}
    )
    d = evaluate(Phase("p", "", "", (gate,)), [rec], available={"security"})
    assert (d.verdict, d.gates[0].status) == ("inconclusive", "error")
    assert "did not complete" in d.gates[0].reason


def test_a_metric_from_a_completed_record_wins_over_a_later_broken_one():
    good = Evidence("load", "load.run", "passed", measurements={"p95_ms": 100.0})
    broken = Evidence("load", "load.other", "error", measurements={"p95_ms": 1.0})
    d = evaluate(LOAD_P95, [good, broken], available={"load"})
    assert (d.gates[0].status, d.gates[0].observed) == ("pass", 100.0)


def test_zero_coverage_is_missing_never_pass():
    scan = Gate("security.trivy_high_critical", "security", metric="trivy_high_critical", op="==", threshold=0)
    check = Gate("contract.openapi", "contract", check="contract.openapi")
    phase = Phase("p", "", "", (scan, check, Gate("contract.all", "contract")))
    records = [
        Evidence(
            "security", "security.trivy", "passed", measurements={"trivy_high_critical": 0}, coverage={"files": 0}
        ),
        Evidence("contract", "contract.openapi[GET /x]", "passed", coverage={"operations": 1, "examples": 0}),
    ]
    d = evaluate(phase, records, available={"security", "contract"})
    assert [g.status for g in d.gates] == ["missing", "missing", "missing"]
    assert d.verdict == "inconclusive"
    assert "covered nothing (files 0)" in d.gates[0].reason
    assert d.gates[0].coverage == {"files": 0}
    records[0].coverage, records[1].coverage = {"files": 12}, {"operations": 1, "examples": 25}
    d = evaluate(phase, records, available={"security", "contract"})
    assert d.verdict == "go"
    assert d.gates[1].coverage == {"operations": 1, "examples": 25}


def test_not_applicable_is_its_own_status_never_pass_and_does_not_block():
    tls = Gate("security.tls", "security", check="security.tls*")
    smoke = Gate("smoke.health", "smoke", check="smoke.health")
    phase = Phase("p", "", "", (tls, smoke))
    na = Evidence("security", "security.tls", "not_applicable", message="not applicable: loopback http target")
    d = evaluate(phase, [na, Evidence("smoke", "smoke.health", "passed")], available={"security", "smoke"})
    assert d.gates[0].status == "not_applicable"
    assert d.gates[0].reason == "security.tls: not applicable: loopback http target"
    assert d.verdict == "go"
    only_na = evaluate(Phase("p", "", "", (tls,)), [na], available={"security"})
    assert only_na.verdict == "inconclusive"  # nothing was shown to pass
    validate_verdict(_doc(d))


def test_metric_gate_without_a_measurement_is_missing():
    phase = Phase("p", "", "", (Gate("load.rps", "load", metric="rps", op=">", threshold=1000),))
    d = evaluate(phase, [Evidence("load", "load.run", "passed")], available={"load"})
    assert d.gates[0].status == "missing"
    assert d.verdict == "inconclusive"


def test_suite_gate_with_only_skipped_checks_is_missing():
    phase = Phase("p", "", "", (Gate("smoke.all", "smoke"),))
    d = evaluate(phase, [Evidence("smoke", "smoke.x", "skipped")], available={"smoke"})
    assert d.gates[0].status == "missing"


def test_narrowing_to_a_suite_with_no_gates_in_the_phase_is_not_go():
    phase = load_policy().phase("beta")
    d = evaluate(phase, [Evidence("load", "load.run", "passed")], selected=("load",), available={"load"})
    assert d.verdict == "inconclusive"
    assert {g.status for g in d.gates} == {"not_run"}


def _doc(decision):
    return verdict_document(
        decision,
        phase="internal",
        target={"base_url": "http://x", "stack": "local"},
        started_at="2026-11-26T10:00:00.000Z",
        finished_at="2026-11-26T10:00:05.000Z",
        duration_s=5.0,
        policy_source="defaults",
        notes=[],
    )


def test_documents_validate_against_the_shipped_schema(internal, smoke_only):
    for phase, records, verdict in [
        (smoke_only, passing_smoke(), "go"),
        (internal, passing_smoke(), "inconclusive"),
        (internal, [Evidence("smoke", "smoke.health", "failed", message="503")], "no-go"),
    ]:
        doc = _doc(evaluate(phase, records, selected=("smoke",), available={"smoke"}))
        assert doc["verdict"] == verdict
        assert doc["schema"] == "harness.verdict/v1.2"
        validate_verdict(doc)


def test_schema_rejects_a_go_with_a_failing_or_not_run_gate(smoke_only):
    for status in ("fail", "not_run", "missing"):
        doc = _doc(evaluate(smoke_only, passing_smoke(), available={"smoke"}))
        doc["gates"][0]["status"] = status
        with pytest.raises(jsonschema.ValidationError):
            validate_verdict(doc)


def test_v1_documents_stay_readable_and_are_checked_against_v1(smoke_only):
    doc = _doc(evaluate(smoke_only, passing_smoke(), available={"smoke"}))
    doc["schema"] = "harness.verdict/v1"
    for g in doc["gates"]:
        del g["coverage"]
    for stats in doc["suites"].values():
        for key in ("not_applicable", "not_run", "flaky", "reruns"):
            del stats[key]
    validate_verdict(doc)
    doc["gates"][0]["status"] = "not_applicable"  # not a v1 status
    with pytest.raises(jsonschema.ValidationError):
        validate_verdict(doc)
    with pytest.raises(jsonschema.ValidationError, match="this harness reads"):
        validate_verdict({**doc, "schema": "harness.verdict/v9"})


def test_schema_rejects_unknown_verdicts_and_fields(internal):
    doc = _doc(evaluate(internal, passing_smoke(), selected=("smoke",), available={"smoke"}))
    with pytest.raises(jsonschema.ValidationError):
        validate_verdict({**doc, "verdict": "maybe"})
    with pytest.raises(jsonschema.ValidationError):
        validate_verdict({**doc, "token": "x"})


def test_check_gate_covers_parametrized_and_glob_ids():
    phase = Phase("p", "", "", (Gate("c.openapi", "c", check="c.openapi"), Gate("c.ws", "c", check="c.ws.*")))
    records = [
        Evidence("c", "c.openapi[GET /health]", "passed"),
        Evidence("c", "c.openapi[POST /chat]", "failed", message="ST103 Undocumented status code"),
        Evidence("c", "c.ws.ping", "passed"),
        Evidence("c", "c.ws.chat[beta]", "passed"),
        Evidence("c", "c.openapix", "failed"),
    ]
    d = evaluate(phase, records, available={"c"})
    by_id = {g.id: g for g in d.gates}
    assert by_id["c.openapi"].status == "fail"
    assert by_id["c.openapi"].observed == "1 passed, 1 failed"
    assert "c.openapi[POST /chat]: ST103" in by_id["c.openapi"].reason
    assert by_id["c.ws"].status == "pass" and by_id["c.ws"].observed == "2 passed"


def test_a_check_whose_module_failed_to_load_is_error_with_the_cause():
    phase = Phase("p", "", "", (Gate("c.openapi", "c", check="c.openapi"),))
    d = evaluate(
        phase, [Evidence("c", "c.collect", "error", message="collection error: OpenAPI unreachable")], available={"c"}
    )
    assert d.gates[0].status == "error"
    assert "OpenAPI unreachable" in d.gates[0].reason
    assert d.verdict == "inconclusive"


def test_v1_1_documents_stay_readable_and_know_no_flaky(smoke_only):
    doc = _doc(evaluate(smoke_only, passing_smoke(), available={"smoke"}))
    doc["schema"] = "harness.verdict/v1.1"
    for stats in doc["suites"].values():
        for key in ("not_run", "flaky", "reruns"):
            del stats[key]
    validate_verdict(doc)
    doc["gates"][0]["status"] = "flaky"  # a v1.2 status
    with pytest.raises(jsonschema.ValidationError):
        validate_verdict(doc)
    records = passing_smoke()
    records[0] = Evidence("smoke", "smoke.health", "flaky", message="attempt 1 failed: 500; attempt 2 passed", reruns=1)
    flaky = _doc(evaluate(smoke_only, records, available={"smoke"}))
    validate_verdict(flaky)  # v1.2
    assert flaky["suites"]["smoke"]["reruns"] == 1
    with pytest.raises(jsonschema.ValidationError):
        validate_verdict({**flaky, "schema": "harness.verdict/v1.1"})


REMEDY = "; to check it: --allow-unsafe on a test or staging instance, or drop the gate in a team policy"


def test_a_check_the_scope_left_out_is_not_run_never_pass_and_one_line_names_every_gate_it_left_out(smoke_only):
    records = passing_smoke()
    for i in (1, 4):  # smoke.chat_api and smoke.roundtrip: POST, outside the safety scope
        records[i] = Evidence(
            "smoke", SMOKE[i], "not_run", message=f"not run: POST /chat/v2/chat: POST is unsafe{REMEDY}"
        )
    d = evaluate(smoke_only, records, available={"smoke"})
    statuses = {g.id: g.status for g in d.gates}
    assert (d.verdict, d.exit_code) == ("inconclusive", 2)
    assert statuses["smoke.chat_api"] == statuses["smoke.roundtrip"] == statuses["smoke.all"] == "not_run"
    assert statuses["smoke.health"] == "pass"
    assert len(d.reasons) == 1  # one cause, one line
    assert d.reasons[0].startswith("smoke.chat_api, smoke.roundtrip, smoke.all: not run: POST /chat/v2/chat")
    assert "--allow-unsafe" in d.reasons[0]
    smoke_all = next(g for g in d.gates if g.id == "smoke.all")
    assert smoke_all.reason.startswith("smoke.all: 2 of 5 checks not run (smoke.chat_api, smoke.roundtrip)")
    assert d.suites["smoke"]["not_run"] == 2


def test_a_failure_in_part_of_the_evidence_is_still_no_go(smoke_only):
    records = passing_smoke()
    records[1] = Evidence("smoke", "smoke.chat_api", "not_run", message=f"not run: POST left out{REMEDY}")
    records[2] = Evidence("smoke", "smoke.websocket", "failed", message="no pong")
    d = evaluate(smoke_only, records, available={"smoke"})
    assert d.verdict == "no-go"
    assert {g.id: g.status for g in d.gates}["smoke.all"] == "fail"
    assert d.reasons[0].startswith("smoke.websocket: no pong")


def test_a_flaky_check_is_inconclusive_with_both_answers_never_a_pass(smoke_only):
    records = passing_smoke()
    both = "attempt 1 failed: GET /health answered 503; attempt 2 passed (re-run)"
    records[0] = Evidence("smoke", "smoke.health", "flaky", message=both, reruns=1)
    d = evaluate(smoke_only, records, available={"smoke"})
    gates = {g.id: g for g in d.gates}
    assert (d.verdict, gates["smoke.health"].status, gates["smoke.all"].status) == ("inconclusive", "flaky", "flaky")
    assert gates["smoke.health"].reason == f"smoke.health: flaky: {both}"
    assert d.reasons[0] == f"smoke.health: flaky: {both}"
    assert d.suites["smoke"]["flaky"] == 1 and d.suites["smoke"]["reruns"] == 1


def test_a_number_from_a_partial_run_can_fail_a_metric_gate_never_pass_it():
    phase = Phase("p", "", "", (Gate("load.p95_ms", "load", metric="p95_ms", op="<", threshold=2000),))
    partial = f"not run: the load left out POST /chat/v2/chat (chat users){REMEDY}"

    def run(value: float) -> Any:
        rec = Evidence("load", "load.run", "not_run", message=partial, measurements={"p95_ms": value})
        return evaluate(phase, [rec], available={"load"})

    slow, fast = run(2500.0), run(120.0)
    assert (slow.verdict, slow.gates[0].status) == ("no-go", "fail")
    assert "on partial evidence" in slow.gates[0].reason
    assert (fast.verdict, fast.gates[0].status, fast.gates[0].observed) == ("inconclusive", "not_run", 120.0)
    assert "--allow-unsafe" in fast.reasons[0]


def test_a_check_the_team_policy_drops_leaves_the_phase_and_its_gate_judges_the_rest():
    gate = Gate("contract.openapi", "contract", check="contract.openapi")
    phase = Phase("team", "", "", (gate,), dropped=("contract.openapi[POST /api/admin/reset]",))
    records = [
        Evidence("contract", "contract.openapi[GET /api/accounts]", "passed"),
        Evidence(
            "contract", "contract.openapi[POST /api/admin/reset]", "not_run", message=f"not run: excluded{REMEDY}"
        ),
    ]
    assert evaluate(phase, records, available={"contract"}).verdict == "go"
    kept = Phase("pr", "", "", (gate,))
    assert evaluate(kept, records, available={"contract"}).verdict == "inconclusive"


def test_a_metric_gate_whose_check_was_not_run_is_not_run_not_missing():
    phase = Phase("p", "", "", (Gate("canary.score", "live", metric="canary_score", op=">=", threshold=95),))
    rec = Evidence("live", "canary.score", "not_run", message=f"not run: no baseline{REMEDY}")
    d = evaluate(phase, [rec], available={"live"})
    assert (d.verdict, d.gates[0].status) == ("inconclusive", "not_run")
    assert d.reasons[0] == f"canary.score: not run: no baseline{REMEDY}"
