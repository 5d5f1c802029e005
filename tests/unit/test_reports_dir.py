"""harness.reports_dir: claim, manifest, cleanup (fast unit seams; the refused cases on a real checkout are in
tests/e2e/test_reports_dir.py)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from harness.errors import ConfigError
from harness.reports_dir import MANIFEST, claim, finish, process_start


def test_a_new_dir_is_claimed_and_the_next_claim_removes_exactly_what_the_run_wrote(tmp_path):
    reports = tmp_path / "r"
    assert claim(reports)
    (reports / "verdict.json").write_text("{}")
    (reports / "load").mkdir()
    (reports / "load" / "stats.csv").write_text("x")
    finish(reports)
    assert json.loads((reports / MANIFEST).read_text())["files"] == ["load/stats.csv", "verdict.json"]
    (reports / "mine.txt").write_text("a user's")
    assert claim(reports)
    assert sorted(p.name for p in reports.iterdir()) == [MANIFEST, "mine.txt"]  # load/ went once empty


def test_a_symlinked_folder_in_the_manifest_is_never_followed(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "precious.txt").write_text("keep")
    reports = tmp_path / "r"
    claim(reports)
    (reports / "link").symlink_to(outside)
    finish(reports)
    doc = json.loads((reports / MANIFEST).read_text())
    doc["files"] += ["link/precious.txt"]
    (reports / MANIFEST).write_text(json.dumps(doc))
    claim(reports)
    assert (outside / "precious.txt").read_text() == "keep"
    assert not (reports / "link").exists()  # the link itself was the run's: removed, its target not


def test_a_dir_another_live_run_holds_is_refused(tmp_path):
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        reports = tmp_path / "r"
        reports.mkdir()
        (reports / "verdict.json").write_text("{}")
        doc = {"state": "running", "pid": child.pid, "start": process_start(child.pid), "foreign": []}
        (reports / MANIFEST).write_text(json.dumps(doc))
        with pytest.raises(ConfigError, match="in use by another harness run"):
            claim(reports)
        assert (reports / "verdict.json").exists()
    finally:
        child.kill()
        child.wait()


def test_a_dir_with_only_what_the_harness_keeps_is_claimed(tmp_path):
    (tmp_path / "history").mkdir()
    (tmp_path / "history" / "load.jsonl").write_text("{}\n")
    assert claim(tmp_path)
    assert (tmp_path / "history" / "load.jsonl").exists()


@pytest.mark.parametrize("name", ["x" * 300, "a/" + "y" * 300])
def test_a_name_too_long_is_one_line(tmp_path, name):
    with pytest.raises(ConfigError, match="cannot be used"):
        claim(tmp_path / name)
    assert os.listdir(tmp_path) == []


def test_the_security_suites_clear_removes_only_what_the_last_run_wrote(tmp_path):
    """harness/security/report.py clear(): through the claim's manifest, never the whole reports/security."""
    from harness.security.report import clear

    reports = tmp_path / "reports"
    assert claim(reports)
    (reports / "security").mkdir()
    (reports / "security" / "zap-report.json").write_text("{}")
    finish(reports)  # the last run wrote zap-report.json
    (reports / "security" / "my-notes.txt").write_text("mine")  # the user's, written after that run
    assert clear(reports) is True  # a plain pytest run claims the dir itself
    assert not (reports / "security" / "zap-report.json").exists()
    assert (reports / "security" / "my-notes.txt").read_text() == "mine"


def test_under_a_live_gates_claim_the_security_suites_clear_touches_nothing(tmp_path):
    from harness.security.report import clear

    reports = tmp_path / "reports"
    parent = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        reports.mkdir()
        (reports / "security").mkdir()
        (reports / "security" / "zap-report.json").write_text("{}")  # this run's, written already
        start = None
        while start is None:
            start = process_start(parent.pid)
        manifest = {"schema": "harness.reports-dir/v1", "state": "running", "pid": parent.pid, "start": start}
        (reports / MANIFEST).write_text(json.dumps({**manifest, "files": [], "foreign": []}))
        assert clear(reports) is False
        assert (reports / "security" / "zap-report.json").exists()
    finally:
        parent.kill()
        parent.wait()
