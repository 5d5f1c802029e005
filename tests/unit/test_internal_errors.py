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


GO_DOC = '{"schema": "harness.verdict/v1.1", "verdict": "go"}'


@pytest.mark.parametrize(
    ("argv", "where"),
    [
        (["phases"], "gate_policy"),
        (["service"], "profile_for"),
        (["serve", "--port", "8080"], "run_server"),
    ],
)
def test_a_command_that_writes_no_verdict_never_touches_the_reports_dir_on_a_bug(
    tmp_path, capsys, monkeypatch, argv, where
):
    """`phases`, `service` and `serve` write no verdict: a bug of theirs is exit 2 and one line, and the last
    gate's verdict (and the rest of reports/) stays exactly as it was."""
    import harness.serve.server
    import harness.service

    reports = tmp_path / "reports"
    reports.mkdir()
    (reports / "verdict.json").write_text(GO_DOC)
    monkeypatch.setenv("HARNESS_REPORTS_DIR", str(reports))
    module = {"gate_policy": harness.gate, "profile_for": harness.service, "run_server": harness.serve.server}[where]
    monkeypatch.setattr(module, "serve" if where == "run_server" else where, boom)
    code, out, err = run_cli(capsys, *argv)
    assert code == 2, err
    assert "Traceback" not in out + err
    assert len(err.strip().splitlines()) == 1 and "the harness itself failed" in err
    assert sorted(p.name for p in reports.iterdir()) == ["verdict.json"]
    assert (reports / "verdict.json").read_text() == GO_DOC


def test_a_reports_dir_that_refuses_the_cleanup_leaves_no_readable_verdict(tmp_path, capsys, monkeypatch):
    """The old verdict cannot be removed (the dir refuses it): the run ends with one line and 64, and the old
    verdict is emptied, so `harness report` cannot read it as a `go`."""
    from pathlib import Path

    reports = tmp_path / "reports"
    reports.mkdir()
    (reports / "verdict.json").write_text(GO_DOC)
    real_unlink = Path.unlink

    def refuse(self, missing_ok=False):
        if self.name == "verdict.json":
            raise PermissionError(13, "Permission denied")
        return real_unlink(self, missing_ok=missing_ok)

    monkeypatch.setattr(Path, "unlink", refuse)
    code, _, err = run_cli(capsys, "gate", "--phase", "smoke", "--reports-dir", str(reports))
    monkeypatch.setattr(Path, "unlink", real_unlink)
    assert code == 64 and "cannot be used (Permission denied)" in err
    assert (reports / "verdict.json").read_text() == ""
    assert run_cli(capsys, "report", str(reports / "verdict.json"))[0] == 2
