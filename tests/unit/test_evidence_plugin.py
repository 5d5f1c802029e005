"""The evidence plugin: one record per check, right outcome, measurements and repro, xdist-safe."""

from __future__ import annotations

import json

import pytest

from harness.evidence import read_evidence
from harness.target import TARGET_ENV, Target

pytest_plugins = ["pytester"]


SUITE = """
import pytest

@pytest.mark.check("smoke.health")
def test_health(measure, record_property):
    record_property("harness.curl", "curl -sS http://x/health")
    measure(latency_ms=12.5)

@pytest.mark.check("smoke.chat_api")
def test_chat():
    assert 500 == 200, "POST /chat/v2/chat answered 500 with token-abc"

def test_unmarked():
    pass

def test_skipped():
    pytest.skip("no stores here")

@pytest.fixture
def broken():
    raise RuntimeError("cannot connect")

@pytest.mark.check("smoke.websocket")
def test_setup_error(broken):
    pass
"""


@pytest.fixture
def suite(pytester):
    pytester.makeconftest('pytest_plugins = ["harness.plugins.target", "harness.plugins.evidence"]')
    pytester.mkdir("smoke")
    (pytester.path / "smoke" / "test_x.py").write_text(SUITE)
    return pytester


@pytest.mark.parametrize("workers", [[], ["-n", "2"]], ids=["single", "xdist"])
def test_records_one_evidence_per_check(suite, monkeypatch, workers):
    monkeypatch.setenv(TARGET_ENV, Target("http://x", token="token-abc").to_json())
    out = suite.path / "evidence.json"
    result = suite.runpytest_subprocess("smoke", "--harness-evidence", str(out), "-p", "no:cacheprovider", *workers)
    result.assert_outcomes(passed=2, failed=1, skipped=1, errors=1)
    ev = read_evidence(out)
    assert ev.exitstatus == 1
    by_id = {r.id: r for r in ev.records}
    assert set(by_id) == {"smoke.health", "smoke.chat_api", "smoke.unmarked", "smoke.skipped", "smoke.websocket"}
    assert {r.suite for r in ev.records} == {"smoke"}
    assert by_id["smoke.health"].outcome == "passed"
    assert by_id["smoke.health"].measurements == {"latency_ms": 12.5}
    assert by_id["smoke.health"].repro == [
        "pytest smoke/test_x.py::test_health --target http://x",  # not ephemeral: say where to point
        "curl -sS http://x/health",
    ]
    chat = by_id["smoke.chat_api"]
    assert chat.outcome == "failed"
    assert "POST /chat/v2/chat answered 500" in chat.message
    assert "token-abc" not in out.read_text(), "the target's token must be redacted from evidence"
    assert by_id["smoke.skipped"].outcome == "skipped"
    assert by_id["smoke.skipped"].message == "no stores here"
    assert by_id["smoke.websocket"].outcome == "error"
    assert "cannot connect" in by_id["smoke.websocket"].message


def test_collection_error_becomes_an_error_record(suite):
    (suite.path / "smoke" / "test_broken.py").write_text("import no_such_module_here\n")
    out = suite.path / "evidence.json"
    suite.runpytest_subprocess("smoke/test_broken.py", "--harness-evidence", str(out), "-p", "no:cacheprovider")
    records = read_evidence(out).records
    assert [(r.suite, r.id, r.outcome) for r in records] == [("smoke", "smoke.collect", "error")]
    assert "no_such_module_here" in records[0].message


def test_no_file_without_the_option(suite):
    suite.runpytest_subprocess("smoke", "-p", "no:cacheprovider")
    assert not list(suite.path.glob("*.json"))


def test_malformed_evidence_is_a_one_line_report_error(tmp_path):
    from harness.errors import ReportError

    bad = tmp_path / "e.json"
    bad.write_text(json.dumps({"schema": "harness.evidence/v1", "exitstatus": 0, "records": [{"suite": "s"}]}))
    with pytest.raises(ReportError, match="is malformed"):
        read_evidence(bad)
    with pytest.raises(ReportError, match="was not written"):
        read_evidence(tmp_path / "absent.json")


DECIDED = """
import os
import pytest
from harness.checks import check_error, not_applicable

@pytest.fixture
def bad_teardown():
    yield
    raise RuntimeError("teardown broke")

@pytest.mark.check("smoke.fails_then_teardown")
def test_fails_then_teardown(bad_teardown):
    assert False, "the check failed"

@pytest.mark.check("smoke.passes_then_teardown")
def test_passes_then_teardown(bad_teardown):
    pass

@pytest.mark.check("security.tls")
def test_na(coverage):
    not_applicable("plain-http loopback target")

@pytest.mark.check("security.scan")
def test_covers(coverage, measure):
    coverage(files=3, pages=2)
    coverage(files=4)
    measure(findings=0)

@pytest.mark.check("contract.tool")
def test_tool_broke():
    check_error("schemathesis raised TypeError: unexpected keyword")

@pytest.mark.check("smoke.crash")
def test_crash(measure):
    measure(p95_ms=1.0)  # a number from a check that never finished must not count
    os._exit(3)
"""


def test_outcomes_are_decided_never_defaulted(pytester, monkeypatch):
    pytester.makeconftest('pytest_plugins = ["harness.plugins.target", "harness.plugins.evidence"]')
    pytester.mkdir("smoke")
    (pytester.path / "smoke" / "test_d.py").write_text(DECIDED)
    monkeypatch.setenv(TARGET_ENV, Target("http://x").to_json())
    out = pytester.path / "evidence.json"
    pytester.runpytest_subprocess("smoke", "--harness-evidence", str(out), "-p", "no:cacheprovider", "-n", "2")
    by_id = {r.id: r for r in read_evidence(out).records}
    failed = by_id["smoke.fails_then_teardown"]
    assert (failed.outcome, failed.message) == ("failed", "the check failed")  # not downgraded to error
    passed = by_id["smoke.passes_then_teardown"]
    assert passed.outcome == "error" and "teardown error: RuntimeError: teardown broke" in passed.message
    na = by_id["security.tls"]
    assert (na.suite, na.outcome, na.message) == (
        "security",
        "not_applicable",
        "not applicable: plain-http loopback target",
    )
    scan = by_id["security.scan"]
    assert (scan.outcome, scan.coverage, scan.measurements) == ("passed", {"files": 7, "pages": 2}, {"findings": 0})
    tool = by_id["contract.tool"]
    assert (tool.outcome, tool.message) == ("error", "schemathesis raised TypeError: unexpected keyword")
    crash = by_id["smoke.crash"]
    assert crash.outcome == "error", "a check whose xdist worker crashed is an error, never a pass"
    assert "crashed" in crash.message


LEAKY = """
import os
import pytest

@pytest.mark.check("smoke.chat_api")
def test_echo(measure, record_property):
    token, zap = os.environ["PLANTED_TOKEN"], os.environ["ZAP_API_KEY"]
    record_property("harness.curl", f"curl -sS -H 'Authorization: Bearer {token}' http://x/chat")
    measure(echo_len=len(token))
    assert False, "x" * 380 + f" echoed Bearer {token}; zap key {zap}"
"""


def test_every_secret_is_redacted_before_the_message_is_cut(pytester, monkeypatch):
    token = "planted-token-0123456789-0123456789-abcd"
    monkeypatch.setenv(TARGET_ENV, Target("http://x", token=token).to_json())
    monkeypatch.setenv("PLANTED_TOKEN", token)
    monkeypatch.setenv("ZAP_API_KEY", "zap-key-planted-0123456789")
    pytester.makeconftest('pytest_plugins = ["harness.plugins.target", "harness.plugins.evidence"]')
    pytester.mkdir("smoke")
    (pytester.path / "smoke" / "test_leak.py").write_text(LEAKY)
    out = pytester.path / "evidence.json"
    pytester.runpytest_subprocess("smoke", "--harness-evidence", str(out), "-p", "no:cacheprovider")
    text = out.read_text()
    assert "zap-key-planted" not in text and token[:8] not in text  # not even the start of a cut secret
    (rec,) = read_evidence(out).records
    assert "echoed Bearer ***; " in rec.message and len(rec.message) == 400  # cut after redaction
    assert rec.repro[1] == 'curl -sS -H "Authorization: Bearer $HARNESS_TOKEN" http://x/chat'


RERUNS = """
import pytest
from harness.checks import not_run

CALLS = {}

def _nth(name):
    CALLS[name] = CALLS.get(name, 0) + 1
    return CALLS[name]

@pytest.mark.check("smoke.flaky")
def test_fails_once():
    assert _nth("flaky") > 1, "GET /health answered 503"

@pytest.mark.check("smoke.broken")
def test_fails_always():
    assert False, "GET /chat answered 500"

@pytest.mark.check("smoke.changing")
def test_fails_differently():
    n = _nth("changing")
    assert False, f"answer {n}"

@pytest.mark.check("smoke.clean")
def test_passes():
    pass

@pytest.mark.check("smoke.scope")
def test_partial(measure):
    measure(p95_ms=12.0)
    not_run("POST /chat left out; to check it: --allow-unsafe")

@pytest.mark.flaky(reruns=0)
@pytest.mark.check("smoke.once")
def test_never_rerun():
    assert _nth("once") > 1, "a rehearsal that must not run twice"
"""


@pytest.mark.parametrize("workers", [[], ["-n", "2"]], ids=["single", "xdist"])
def test_a_rerun_that_passes_is_flaky_with_both_answers_and_one_that_fails_again_is_failed(
    pytester, monkeypatch, workers
):
    pytester.makeconftest('pytest_plugins = ["harness.plugins.target", "harness.plugins.evidence"]')
    pytester.mkdir("smoke")
    (pytester.path / "smoke" / "test_r.py").write_text(RERUNS)
    monkeypatch.setenv(TARGET_ENV, Target("http://x").to_json())
    out = pytester.path / "evidence.json"
    args = ["--harness-evidence", str(out), "-p", "no:cacheprovider", "--reruns", "1", *workers]
    pytester.runpytest_subprocess("smoke", *args)
    by_id = {r.id: r for r in read_evidence(out).records}
    flaky = by_id["smoke.flaky"]
    assert (flaky.outcome, flaky.reruns) == ("flaky", 1)
    assert flaky.message == "attempt 1 failed: GET /health answered 503; attempt 2 passed (re-run)"
    broken = by_id["smoke.broken"]
    assert (broken.outcome, broken.reruns) == ("failed", 1)
    assert broken.message == "GET /chat answered 500 (failed on all 2 attempts)"
    changing = by_id["smoke.changing"]
    assert changing.outcome == "failed" and "answer 2 (failed on all 2 attempts: attempt 1 failed: answer 1)" in (
        changing.message
    )
    assert (by_id["smoke.clean"].outcome, by_id["smoke.clean"].reruns) == ("passed", 0)
    scope = by_id["smoke.scope"]
    assert (scope.outcome, scope.measurements, scope.reruns) == ("not_run", {"p95_ms": 12.0}, 0)
    assert scope.message == "not run: POST /chat left out; to check it: --allow-unsafe"
    once = by_id["smoke.once"]
    assert (once.outcome, once.reruns) == ("failed", 0)
