"""A verdict file is never stale: a run removes the previous verdict before anything else, and `harness report`
refuses the reports dir of a run that started and did not finish."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from harness import cli
from harness.gate import IN_PROGRESS, begin_run, end_run, unfinished_run

GO = {
    "schema": "harness.verdict/v1.1",
    "verdict": "go",
    "phase": "smoke",
    "target": {"base_url": "http://x", "stack": "external", "version": None},
    "started_at": "2026-11-26T10:00:00.000Z",
    "finished_at": "2026-11-26T10:00:05.000Z",
    "duration_s": 5.0,
    "scope": {"narrowed": False, "requested": None, "evaluated": ["smoke"], "omitted": []},
    "suites": {},
    "gates": [
        {
            "id": "smoke.health",
            "suite": "smoke",
            "status": "pass",
            "observed": "passed",
            "threshold": "passed",
            "reason": "smoke.health: passed",
        }
    ],
    "reasons": [],
}


def report(capsys, path) -> tuple[int, str]:
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["report", str(path)])
    return int(exit_info.value.code), capsys.readouterr().err


def dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_a_run_removes_the_old_verdict_first_and_report_refuses_an_unfinished_run(tmp_path, capsys):
    (tmp_path / "verdict.json").write_text(json.dumps(GO))
    assert report(capsys, tmp_path / "verdict.json")[0] == 0
    begin_run(tmp_path)
    assert not (tmp_path / "verdict.json").exists()
    (tmp_path / "verdict.json").write_text(json.dumps(GO))  # e.g. copied back by hand, or an old file
    marker = json.loads((tmp_path / IN_PROGRESS).read_text())
    marker["pid"] = dead_pid()  # the run was killed
    (tmp_path / IN_PROGRESS).write_text(json.dumps(marker))
    code, err = report(capsys, tmp_path / "verdict.json")
    assert code == 2
    assert "did not finish" in err and err.count("\n") == 1
    end_run(tmp_path)
    assert unfinished_run(tmp_path) is None
    assert report(capsys, tmp_path / "verdict.json")[0] == 0


def test_a_run_in_progress_is_named(tmp_path):
    begin_run(tmp_path)
    marker = json.loads((tmp_path / IN_PROGRESS).read_text())
    marker["pid"] = 1  # alive, and not us
    (tmp_path / IN_PROGRESS).write_text(json.dumps(marker))
    assert "is still writing" in unfinished_run(tmp_path)
