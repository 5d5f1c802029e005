"""`harness checklist` end to end: a real local stack (Redis, PostgreSQL for the backup restore, the served
OpenAPI), the repository's example inputs. Clean: every item holds, exit 0; an expired attestation (the
fault matrix's checklist_attestation_expired) fails its item and the gate, exit 1, naming both."""

from __future__ import annotations

import json

from harness.checklist import ITEMS
from harness.fault_matrix import load_matrix


def test_the_checklist_holds_on_the_clean_reference_service(harness):
    run = harness("checklist", timeout=180)
    assert run.code == 0, run.out + run.err
    lines = [line for line in run.out.splitlines() if line.startswith("  ")]
    assert len(lines) == len(ITEMS) and all(line.split()[0] == "PASS" for line in lines), run.out
    assert "pg_dump restored into a scratch database" in run.out and "attested by" in run.out


def test_an_expired_attestation_fails_its_item_and_exits_1(harness):
    case = next(c for c in load_matrix() if c.name == "checklist_attestation_expired")
    run = harness("checklist", timeout=180, **case.env())
    assert run.code == 1, run.out + run.err
    failing = [line for line in run.out.splitlines() if line.split()[:1] == ["FAIL"]]
    assert len(failing) == 1 and "Code review completed" in failing[0] and "expired 2025-02-10" in failing[0]
    assert run.verdict["verdict"] == "no-go"
    assert {g["id"]: g["status"] for g in run.verdict["gates"]} == {"checklist.all": "fail"}


def test_the_selftest_of_the_checklist_phase_catches_its_fault(harness):
    run = harness("selftest", "--phase", "checklist", timeout=180)
    assert run.code == 0, run.out + run.err[-2000:]
    doc = json.loads((run.reports / "selftest.json").read_text())
    assert doc["clean"]["verdict"] == "go"
    (trial,) = doc["faults"]
    assert trial["fault"] == "checklist_attestation_expired" and trial["failing_gates"] == ["checklist.all"], trial
