"""The contract suite through the gate: clean -> go, each contract fault -> no-go naming its gate."""

from __future__ import annotations

import pytest

from harness.verdict import validate_verdict

GATE = ["gate", "--phase", "internal", "--suites", "smoke,contract"]


def test_clean_app_passes_smoke_and_contract(harness):
    run = harness(*GATE)
    # --suites narrows the phase: security and load gates are not_run, so the verdict is inconclusive (2)
    assert run.code == 2, run.out + run.err
    doc = run.verdict
    validate_verdict(doc)
    assert [r for r in doc["reasons"] if not r.startswith("not run:")] == [], doc["reasons"]
    statuses = {g["id"]: g["status"] for g in doc["gates"]}
    for gate in ("contract.openapi", "contract.websocket", "contract.metrics", "contract.breaking_changes"):
        assert statuses[gate] == "pass", (gate, doc["reasons"])
    assert doc["suites"]["contract"]["passed"] >= 15
    coverage = {g["id"]: g["coverage"] for g in doc["gates"]}
    assert coverage["contract.openapi"]["operations"] == 5 and coverage["contract.openapi"]["examples"] >= 5


@pytest.mark.parametrize(
    ("fault", "gate", "detail"),
    [
        ("schema_drift", "contract.openapi", "Response violates schema"),
        ("server_error_on_edge", "contract.openapi", "Server error"),
        ("ws_bad_frame", "contract.websocket", "is not of type 'number'"),
        ("metric_renamed", "contract.metrics", "http_requests_total is not exported"),
        ("breaking_api", "contract.breaking_changes", "operation removed: GET /features"),
    ],
)
def test_each_contract_fault_is_no_go_naming_its_gate(pr_selftest, fault, gate, detail):
    """Each contract fault's trial in the session's pr selftest (the fault switched at run time on its stack)."""
    trial = pr_selftest.trial(fault)
    assert trial["verdict"] == "no-go" and trial["gates"][gate] == "fail", trial
    reason = next(r for r in trial["reasons"] if r.startswith(f"{gate}:"))
    assert detail in reason, reason


@pytest.mark.parametrize(
    ("url", "detail"),
    [
        ("http://127.0.0.1:9/openapi.json", "is unreachable"),
        ("MALFORMED", "is not valid JSON"),
    ],
)
def test_a_bad_openapi_document_is_inconclusive_in_one_line(harness, tmp_path, url, detail):
    if url == "MALFORMED":
        bad = tmp_path / "openapi.json"
        bad.write_text('{"openapi": "3.1.0", "paths": ')
        url = str(bad)
    run = harness("gate", "--suites", "contract", HARNESS_CONTRACT_OPENAPI_URL=url)
    assert run.code == 2, run.out + run.err
    assert "Traceback" not in run.out + run.err
    doc = run.verdict
    assert doc["verdict"] == "inconclusive"
    gate = next(g for g in doc["gates"] if g["id"] == "contract.openapi")
    assert gate["status"] == "error" and detail in gate["reason"]
