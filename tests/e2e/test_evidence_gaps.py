"""`go` means the phase's evidence was gathered. Against a target the harness did not start (`harness up`),
the safety scope leaves the chat operation out: the chat checks are `not_run`, never N/A and never pass, so
a build that breaks only chat is inconclusive by default (naming the checks and how to run them) and no-go
with --allow-unsafe. A check that fails once and passes on its re-run is `flaky`: inconclusive, never pass."""

from __future__ import annotations

import json
import subprocess
import sys

from harness.stack.admin import set_faults
from harness.target import Target
from harness.verdict import validate_verdict

from .conftest import ROOT, harness_env, harness_up


def _gate(up, reports, *args: str) -> tuple[int, dict, str]:
    done = subprocess.run(
        [sys.executable, "-m", "harness.cli", "gate", "--target", up.url, "--reports-dir", str(reports), *args],
        cwd=ROOT,
        env=harness_env(HARNESS_TOKEN=up.token, HARNESS_STACK="external"),
        capture_output=True,
        text=True,
        timeout=300,
    )
    doc = json.loads((reports / "verdict.json").read_text())
    validate_verdict(doc)
    return done.returncode, doc, done.stdout + done.stderr


def _statuses(doc: dict) -> dict[str, str]:
    return {g["id"]: g["status"] for g in doc["gates"]}


def test_a_build_that_breaks_only_chat_is_inconclusive_by_default_and_no_go_with_allow_unsafe(tmp_path):
    with harness_up(env=harness_env(ORCHESTRA_FAULTS="chat_5xx")) as up:
        code, doc, out = _gate(up, tmp_path / "default", "--phase", "pr")
        assert code == 2, out
        got = _statuses(doc)
        for gate in ("smoke.chat_api", "smoke.roundtrip", "smoke.all", "contract.openapi", "load.p95_ms"):
            assert got[gate] == "not_run", (gate, got[gate])
        assert "not_applicable" not in {got["smoke.chat_api"], got["smoke.roundtrip"]}
        assert "fail" not in got.values() and "pass" in got.values()
        first = doc["reasons"][0]
        assert first.startswith("smoke.chat_api, smoke.roundtrip") and "--allow-unsafe" in first, doc["reasons"]
        assert 'unsafe_allowed = ["POST /chat/v2/chat"]' in first and "team policy" in first
        assert doc["suites"]["smoke"]["not_run"] == 2

        # the smoke suite alone this time (the other suites' not_run above is the point of the first run)
        code, doc, out = _gate(up, tmp_path / "unsafe", "--phase", "pr", "--suites", "smoke", "--allow-unsafe")
        assert code == 1, out
        smoke = {g["id"]: g["status"] for g in doc["gates"] if g["suite"] == "smoke"}
        assert smoke["smoke.chat_api"] == "fail" and "not_run" not in smoke.values(), smoke
        assert doc["reasons"][0].startswith("smoke.chat_api: POST /chat/v2/chat answered 500"), doc["reasons"]
        assert "(failed on all 2 attempts)" in doc["reasons"][0]  # re-run once, failed again: a failure


def test_a_check_that_fails_once_then_passes_is_flaky_with_both_answers(tmp_path):
    with harness_up() as up:
        target = Target(up.url, admin_token=up.printed["HARNESS_ADMIN_TOKEN"])
        set_faults(target, "fail_first=1")  # from now on, each operation's first call answers 503
        code, doc, out = _gate(up, tmp_path / "flaky", "--phase", "pr", "--suites", "smoke", "--allow-unsafe")
    assert code == 2, out
    gates = {g["id"]: g for g in doc["gates"]}
    chat = gates["smoke.chat_api"]
    assert chat["status"] == "flaky", chat
    assert "attempt 1 failed: POST /chat/v2/chat answered 503" in chat["reason"]
    assert "attempt 2 passed (re-run)" in chat["reason"]
    assert gates["smoke.all"]["status"] == "flaky"
    assert "pass" in {g["status"] for g in gates.values()} and "fail" not in {g["status"] for g in gates.values()}
    assert doc["suites"]["smoke"]["reruns"] >= 1 and doc["suites"]["smoke"]["flaky"] >= 1
    assert "FLAKY" in out
