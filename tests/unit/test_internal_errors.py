"""A bug of the harness itself reads as `inconclusive` (exit 2), never as `no-go` (exit 1): one line on
stderr, an inconclusive verdict that says so, the traceback in reports/harness-error.log."""

from __future__ import annotations

import json

import pytest

import harness.gate
from harness import cli
from harness.suites import SuiteRun
from harness.target import Target
from harness.verdict import validate_verdict


class FakeStack:
    """A stack that starts nothing: the unit under test is what happens after it."""

    name = "external"

    def check(self) -> None:
        pass

    def start(self) -> Target:
        return Target("http://127.0.0.1:9")

    def stop(self) -> None:
        pass


def run_cli(capsys, *args: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exit_info:
        cli.main(list(args))
    out, err = capsys.readouterr()
    return int(exit_info.value.code), out, err


@pytest.fixture
def fake_stack(monkeypatch):
    monkeypatch.setattr(harness.gate, "choose", lambda settings: ("external", "--stack external"))
    monkeypatch.setattr(harness.gate, "make_stack", lambda settings, backend: FakeStack())


def boom(*args, **kwargs):
    raise TypeError("unexpected keyword argument 'flux'")


def test_a_bug_while_the_suites_run_is_an_inconclusive_verdict_with_every_gate_error(
    tmp_path, capsys, monkeypatch, fake_stack
):
    monkeypatch.setattr(harness.gate, "run_suites", boom)
    code, out, err = run_cli(capsys, "gate", "--phase", "pr", "--reports-dir", str(tmp_path))
    assert code == 2
    assert "Traceback" not in out + err
    doc = json.loads((tmp_path / "verdict.json").read_text())
    validate_verdict(doc)
    assert doc["verdict"] == "inconclusive"
    assert {g["status"] for g in doc["gates"]} == {"error"}
    assert "the harness itself failed (TypeError: unexpected keyword argument 'flux')" in doc["reasons"][0]
    log = (tmp_path / "harness-error.log").read_text()
    assert "Traceback" in log and "def boom" not in out and "boom" in log


def test_a_bug_after_the_suites_leaves_an_inconclusive_verdict_and_exit_2(tmp_path, capsys, monkeypatch, fake_stack):
    monkeypatch.setattr(harness.gate, "run_suites", lambda *a, **k: SuiteRun([], {}, tmp_path / "pytest.log"))
    monkeypatch.setattr(harness.gate, "evaluate", boom)
    code, out, err = run_cli(capsys, "gate", "--phase", "pr", "--reports-dir", str(tmp_path), "--quiet")
    assert code == 2
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("harness: error: the harness itself failed (TypeError")
    assert "Traceback" not in out + err
    assert str(tmp_path / "harness-error.log") in lines[0]
    doc = json.loads((tmp_path / "verdict.json").read_text())
    validate_verdict(doc)
    assert (doc["verdict"], doc["phase"]) == ("inconclusive", "pr")
    assert doc["reasons"][0].startswith("the harness itself failed")


def test_a_user_error_is_still_exit_64_not_2(tmp_path, capsys):
    code, _, err = run_cli(capsys, "gate", "--phase", "canary10", "--reports-dir", str(tmp_path))
    assert code == 64
    assert "did you mean 'canary-10'" in err
