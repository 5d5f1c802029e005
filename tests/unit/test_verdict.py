"""evaluate(): the verdict is a pure function of the evidence; fail closed on anything not shown to pass."""

from __future__ import annotations

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


def test_all_smoke_checks_pass_on_a_narrowed_run_is_go(internal):
    d = evaluate(internal, passing_smoke(), selected=("smoke",), available={"smoke"})
    assert d.verdict == "go"
    assert d.exit_code == 0
    assert {g.id for g in d.gates} == {*SMOKE, "smoke.all"}
    assert d.scope == {
        "narrowed": True,
        "requested": ["smoke"],
        "evaluated": ["smoke"],
        "omitted": ["contract", "security", "load"],
    }
    assert d.reasons == []


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


def test_a_required_check_that_did_not_run_blocks_go(internal):
    records = [r for r in passing_smoke() if r.id != "smoke.websocket"]
    d = evaluate(internal, records, selected=("smoke",), available={"smoke"})
    assert d.verdict == "inconclusive"
    assert [g.status for g in d.gates if g.id == "smoke.websocket"] == ["missing"]


def test_a_skipped_required_check_is_missing_not_pass(internal):
    records = passing_smoke()
    records[0] = Evidence("smoke", "smoke.health", "skipped", message="no target")
    d = evaluate(internal, records, selected=("smoke",), available={"smoke"})
    assert d.verdict == "inconclusive"


def test_a_suite_that_crashed_is_error_and_inconclusive(internal):
    d = evaluate(
        internal,
        passing_smoke(),
        selected=("smoke",),
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


def test_setup_error_in_a_check_is_error_not_pass(internal):
    records = passing_smoke()
    records[2] = Evidence("smoke", "smoke.websocket", "error", message="setup error: connection refused")
    d = evaluate(internal, records, selected=("smoke",), available={"smoke"})
    assert d.verdict == "inconclusive"
    assert "setup error" in d.reasons[0]


@pytest.mark.parametrize(("value", "status"), [(1999.0, "pass"), (2000.0, "fail"), (2450.0, "fail")])
def test_metric_gate_compares_with_threshold(value, status):
    phase = Phase("p", "", "", (Gate("load.p95_ms", "load", metric="p95_ms", op="<", threshold=2000),))
    d = evaluate(phase, [Evidence("load", "load.run", "passed", measurements={"p95_ms": value})], available={"load"})
    assert d.gates[0].status == status
    assert d.gates[0].observed == value
    assert d.verdict == ("go" if status == "pass" else "no-go")


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
    assert d.gates == []


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


def test_documents_validate_against_the_shipped_schema(internal):
    for records, verdict in [
        (passing_smoke(), "go"),
        ([Evidence("smoke", "smoke.health", "failed", message="503")], "no-go"),
    ]:
        doc = _doc(evaluate(internal, records, selected=("smoke",), available={"smoke"}))
        assert doc["verdict"] == verdict
        validate_verdict(doc)


def test_schema_rejects_a_go_with_a_failing_gate(internal):
    doc = _doc(evaluate(internal, passing_smoke(), selected=("smoke",), available={"smoke"}))
    doc["gates"][0]["status"] = "fail"
    with pytest.raises(jsonschema.ValidationError):
        validate_verdict(doc)


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
    assert by_id["c.openapi"].observed == "1/2 passed"
    assert "c.openapi[POST /chat]: ST103" in by_id["c.openapi"].reason
    assert by_id["c.ws"].status == "pass" and by_id["c.ws"].observed == "2/2 passed"


def test_a_check_whose_module_failed_to_load_is_error_with_the_cause():
    phase = Phase("p", "", "", (Gate("c.openapi", "c", check="c.openapi"),))
    d = evaluate(
        phase, [Evidence("c", "c.collect", "error", message="collection error: OpenAPI unreachable")], available={"c"}
    )
    assert d.gates[0].status == "error"
    assert "OpenAPI unreachable" in d.gates[0].reason
    assert d.verdict == "inconclusive"
