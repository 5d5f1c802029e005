"""The pre-merge gate on the clean local stack, as a team runs it before a merge: go, with the TLS check
not applicable (a loopback http stack, never shown as a pass), and every scan or probe saying what it covered."""

from __future__ import annotations

from harness.policy import default_policy
from harness.verdict import validate_verdict

# gate -> the coverage counts its check reports (harness.checks.coverage); each must be > 0 on the clean app
COVERAGE = {
    "contract.openapi": ("operations", "examples"),
    "contract.openapi.stateful": ("sequences", "steps"),
    "contract.all": ("operations", "examples", "sequences", "steps"),
    "security.zap_fail": ("pages", "responses"),
    "security.trivy_high_critical": ("config_files", "files"),
    "security.auth_failures": ("probes", "positive_controls"),
    "security.injection": ("operations",),
    "load.run": ("requests", "websocket_sessions"),
    "load.p95_ms": ("requests", "websocket_sessions"),
    "load.error_ratio": ("requests", "websocket_sessions"),
    "load.ws_connect_ratio": ("requests", "websocket_sessions"),
}


def test_clean_pr_gate_is_go_with_tls_not_applicable_and_every_scan_covering_something(harness):
    """The quickstart (`tox -e gate`): the whole pre-merge phase, no --suites, offline, every gate evaluated."""
    run = harness("gate", "--phase", "pr", timeout=300)
    assert run.code == 0, run.out + run.err
    doc = run.verdict
    validate_verdict(doc)
    assert (doc["verdict"], doc["scope"]["narrowed"], doc["scope"]["omitted"]) == ("go", False, [])
    assert [g["id"] for g in doc["gates"]] == [g.id for g in default_policy().phase("pr").gates]
    assert {s: v["status"] for s, v in doc["suites"].items()} == dict.fromkeys(
        ("smoke", "contract", "security", "load"), "ran"
    )
    assert run.out.startswith("GO  phase=pr")
    # a failing check is re-run once (the phase's `reruns`): a clean build needs none, and none is flaky
    assert {s: (v["reruns"], v["flaky"], v["not_run"]) for s, v in doc["suites"].items()} == dict.fromkeys(
        ("smoke", "contract", "security", "load"), (0, 0, 0)
    )
    gates = {g["id"]: g for g in doc["gates"]}
    tls = gates["security.tls"]
    assert tls["status"] == "not_applicable", tls
    assert "plain-http loopback target http://127.0.0.1:" in tls["reason"]
    assert all(g["status"] == "pass" for gid, g in gates.items() if gid != "security.tls"), doc["reasons"]
    for gid, keys in COVERAGE.items():
        coverage = gates[gid]["coverage"]
        assert set(keys) <= set(coverage) and all(coverage[k] > 0 for k in keys), (gid, coverage)
    assert gates["contract.openapi"]["coverage"]["operations"] == 5  # every operation of the reference app
    # the 2 Dockerfiles (app, harness image) + the guide's 2 manifests + the Argo, Flagger, harness-serve and
    # harness-load manifests (5 files)
    assert gates["security.trivy_high_critical"]["coverage"]["config_files"] == 9
    assert gates["security.auth_failures"]["coverage"]["positive_controls"] == 3  # 2 protected ops + the socket
    assert "N/A" in (run.reports / "summary.md").read_text().split("`security.tls`")[1].split("\n")[0]
