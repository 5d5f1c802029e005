"""The harness deletes only what it wrote: a reports dir it did not claim is refused (one line, 64) before anything
is touched. Every refused case runs against a copy of this checkout (git clone) whose `git status` must stay
clean and whose files must all still be there, untouched."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from harness.reports_dir import MANIFEST

from .conftest import ROOT, harness_env

SMOKE = ("--phase", "smoke", "--policy-file", "policies/smoke-only.toml")


@pytest.fixture(scope="module")
def checkout(tmp_path_factory) -> Path:
    """A copy of this checkout: its tracked files, with their history (so `git status` means something)."""
    copy = tmp_path_factory.mktemp("checkout") / "repo"
    subprocess.run(["git", "clone", "--quiet", "--shared", str(ROOT), str(copy)], check=True, timeout=120)
    (copy / "security").mkdir(exist_ok=True)
    waivers = copy / "security" / "waivers.toml"
    if not waivers.exists():  # the `--reports-dir ""` case once removed the checkout's security/waivers.toml
        waivers.write_text("# a user's file\n")
        subprocess.run(["git", "-C", str(copy), "add", "-f", str(waivers)], check=True)
        subprocess.run(
            ["git", "-C", str(copy), "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "waivers"],
            check=True,
        )
    return copy


def snapshot(root: Path) -> dict[str, tuple[int, int]]:
    """Every file below root but .git and bytecode caches: (size, mtime_ns)."""
    out = {}
    for here, dirs, files in os.walk(root):
        dirs[:] = [d for d in dirs if d not in (".git", "__pycache__")]
        for name in files:
            st = os.lstat(os.path.join(here, name))
            out[os.path.relpath(os.path.join(here, name), root)] = (st.st_size, st.st_mtime_ns)
    return out


def harness_in(cwd: Path, *argv: str, **env: str) -> subprocess.CompletedProcess:
    # -P: the installed harness (this worktree's), never the copy's package on the cwd
    return subprocess.run(
        [sys.executable, "-P", "-m", "harness.cli", *argv],
        cwd=cwd,
        env=harness_env(**env),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


HOME = str(Path.home())
REFUSED = [
    # (id, command, --reports-dir or None, environment, what the line says)
    ("empty-flag", "gate", "", {}, "--reports-dir is empty"),
    ("empty-env", "gate", None, {"HARNESS_REPORTS_DIR": " "}, "reports_dir is empty"),
    ("dot", "gate", ".", {}, "repository or source folder"),
    ("root", "gate", "/", {}, "filesystem root"),
    ("home", "load", HOME, {}, "home directory"),
    ("home-env", "checklist", None, {"HARNESS_REPORTS_DIR": HOME}, "home directory"),
    ("tests", "gate", "tests", {}, "not empty"),
    ("tests-load", "load", "tests/load", {}, "source folder"),
    ("harness-pkg", "gate", "harness", {}, "source folder (it holds __init__.py)"),
    ("harness-pkg-checklist", "checklist", "harness", {}, "source folder"),
    ("harness-pkg-selftest", "selftest", "harness", {}, "source folder"),
    ("docs", "gate", "docs", {}, "not empty"),
    ("security", "gate", "security", {}, "not empty"),
    ("security-env", "load", None, {"HARNESS_REPORTS_DIR": "security"}, "not empty"),
    ("repo-parent", "gate", "..", {}, "not empty"),
    ("app", "gate", "app", {}, "source folder"),
    ("dup-flag", "gate", None, {}, "--reports-dir is given 2 times"),
]


@pytest.mark.parametrize(("cmd", "reports", "env", "says"), [c[1:] for c in REFUSED], ids=[c[0] for c in REFUSED])
def test_a_reports_dir_the_harness_does_not_own_is_refused_and_nothing_is_touched(checkout, cmd, reports, env, says):
    before = snapshot(checkout)
    argv = [cmd, *(SMOKE if cmd == "gate" else ())]
    if reports is not None:
        argv += ["--reports-dir", reports]
    elif not env:  # dup-flag: the checkout's own folders, twice
        argv += ["--reports-dir", "tests", "--reports-dir", "docs"]
    done = harness_in(checkout, *argv, **env)
    assert "Traceback" not in done.stdout + done.stderr
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert done.returncode == 64, done.stderr
    assert len(lines) == 1 and lines[0].startswith("harness: error: "), done.stderr
    assert says in lines[0], lines[0]
    status = subprocess.run(
        ["git", "-C", str(checkout), "status", "--porcelain", "--untracked-files=all"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert status.stdout == "", status.stdout
    assert snapshot(checkout) == before  # nothing removed, nothing written, nothing rewritten


def test_a_claimed_dir_loses_only_what_the_last_run_wrote(tmp_path):
    """A run's cleanup removes the manifest's files, never a file someone else put into the claimed dir."""
    reports = tmp_path / "reports"
    first = harness_in(ROOT, "gate", *SMOKE, "--reports-dir", str(reports), "--target", "http://127.0.0.1:9")
    assert first.returncode == 2, first.stderr  # nothing answers there: inconclusive, with a verdict
    manifest = json.loads((reports / MANIFEST).read_text())
    assert manifest["state"] == "done" and "verdict.json" in manifest["files"]
    (reports / "security").mkdir(exist_ok=True)
    (reports / "security" / "waivers.toml").write_text("# mine\n")  # a user's file, after the claim
    (reports / "notes.txt").write_text("mine\n")
    (reports / "history").mkdir(exist_ok=True)
    (reports / "history" / "load.jsonl").write_text("{}\n")
    # a manifest edited to name files outside the dir: never followed
    outside = tmp_path / "outside.txt"
    outside.write_text("not the harness's\n")
    manifest["files"] += ["../outside.txt", str(outside), "history/load.jsonl"]
    (reports / MANIFEST).write_text(json.dumps(manifest))
    second = harness_in(ROOT, "gate", "--phase", "canary10", "--reports-dir", str(reports))
    assert second.returncode == 64, second.stderr
    assert not (reports / "verdict.json").exists()  # the last run's verdict is gone: no stale verdict
    assert not (reports / "summary.md").exists()
    assert (reports / "security" / "waivers.toml").read_text() == "# mine\n"
    assert (reports / "notes.txt").exists() and outside.exists()
    assert (reports / "history" / "load.jsonl").exists()
    assert json.loads((reports / MANIFEST).read_text())["files"] == [], "a run that wrote nothing lists nothing"


def test_a_run_that_never_finished_loses_only_what_appeared_after_it_started(tmp_path):
    reports = tmp_path / "reports"
    reports.mkdir()
    (reports / "verdict.json").write_text('{"verdict": "go"}')  # written by the killed run
    (reports / "kept.txt").write_text("there before the killed run\n")
    manifest = {"schema": "harness.reports-dir/v1", "state": "running", "pid": 1, "start": 0, "foreign": ["kept.txt"]}
    (reports / MANIFEST).write_text(json.dumps(manifest))
    done = harness_in(ROOT, "gate", "--phase", "canary10", "--reports-dir", str(reports))
    assert done.returncode == 64, done.stderr
    assert not (reports / "verdict.json").exists()
    assert (reports / "kept.txt").exists()
