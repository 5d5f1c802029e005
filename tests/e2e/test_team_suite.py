"""A team's own suite, installed beside the harness as a team installs it (pip, one entry point of the group
`harness.suites`), gates the team's own phase: go on the clean build, no-go naming the team's gate when the
build names its software versions in its headers (the reference service's `leaky_headers` fault). One stack
(`harness up`) serves both runs; the fault is switched at run time. A broken entry point is one line, exit 64."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from harness.stack.admin import set_faults
from harness.target import Target
from harness.verdict import validate_verdict

from .conftest import ROOT, harness_env, harness_up

EXAMPLE = ROOT / "examples" / "team_suite"
GATE = "team_headers.versions"


def _install(tmp_path: Path) -> Path:
    """pip install of a clean copy of the example (no build/ left in the checkout) into a directory the harness
    reaches through PYTHONPATH: importlib.metadata finds its entry point there, as in a site-packages."""
    src, site = tmp_path / "src", tmp_path / "site"
    shutil.copytree(EXAMPLE, src, ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__"))
    argv = [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-index", "--no-build-isolation"]
    done = subprocess.run([*argv, "--target", str(site), str(src)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert (site / "team_suite" / "team_headers" / "test_headers.py").is_file()
    return site


def _gate(up, site: Path, reports: Path) -> tuple[int, dict, str]:
    argv = [sys.executable, "-m", "harness.cli", "gate", "--phase", "team-hardening", "--target", up.url]
    argv += ["--policy-file", str(EXAMPLE / "policy.toml"), "--reports-dir", str(reports)]
    env = harness_env(HARNESS_TOKEN=up.token, HARNESS_STACK="external", PYTHONPATH=str(site))
    done = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True, timeout=180)
    doc = json.loads((reports / "verdict.json").read_text())
    validate_verdict(doc)
    return done.returncode, doc, done.stdout + done.stderr


def test_a_team_suite_installed_with_pip_gates_the_team_phase_and_its_fault_trips_it(tmp_path):
    site = _install(tmp_path)
    with harness_up() as up:
        code, doc, out = _gate(up, site, tmp_path / "clean")
        assert code == 0, out
        assert doc["verdict"] == "go" and doc["scope"]["evaluated"] == ["team_headers"], doc
        (gate,) = doc["gates"]
        assert (gate["id"], gate["status"], gate["observed"]) == (GATE, "pass", 0), gate
        assert gate["coverage"] == {"responses": 2}
        html = (tmp_path / "clean" / "report.html").read_text()
        assert "Response headers (team suite)" in html  # the suite's own section, from its entry point
        assert json.loads((tmp_path / "clean" / "team_headers" / "headers.json").read_text()) is not None

        set_faults(Target(up.url, admin_token=up.printed["HARNESS_ADMIN_TOKEN"]), "leaky_headers")
        code, doc, out = _gate(up, site, tmp_path / "leaky")
    assert code == 1, out
    assert doc["verdict"] == "no-go"
    (gate,) = doc["gates"]
    assert (gate["id"], gate["status"]) == (GATE, "fail"), gate
    assert gate["observed"] == 4  # Server and X-Powered-By on each of the 2 paths
    assert doc["reasons"][0].startswith(f"{GATE}:"), doc["reasons"]
    assert "X-Powered-By: FastAPI/" in json.dumps(doc), doc["reasons"]
    assert f"FAIL    {GATE}" in out
    html = (tmp_path / "leaky" / "report.html").read_text()
    assert "X-Powered-By" in html and "names a version" in html


@pytest.mark.parametrize(
    ("entry", "says"),
    [
        ("broken_suite = no_such_module_x:SUITE", "does not load (ModuleNotFoundError"),
        ("bad_field = bad_suite:SUITE", "field 'order' is 5000"),
        ("smoke = bad_suite:SMOKE_AGAIN", "suite id 'smoke' is declared twice"),
    ],
)
def test_a_broken_entry_point_is_one_line_naming_the_distribution_and_exit_64(tmp_path, entry, says):
    """Before anything starts: no stack, no traceback, the distribution and the field named."""
    site = tmp_path / "site"
    (site / "bad_suite-1.0.dist-info").mkdir(parents=True)
    (site / "bad_suite-1.0.dist-info" / "METADATA").write_text("Metadata-Version: 2.1\nName: bad-suite\nVersion: 1.0\n")
    (site / "bad_suite-1.0.dist-info" / "entry_points.txt").write_text(f"[harness.suites]\n{entry}\n")
    module = "from harness.registry import Suite\nSUITE = Suite(id='bad_field', order=5000)\n"
    (site / "bad_suite.py").write_text(module + "SMOKE_AGAIN = Suite(id='smoke')\n")
    argv = [sys.executable, "-m", "harness.cli", "gate", "--phase", "pr", "--reports-dir", str(tmp_path / "r")]
    done = subprocess.run(
        argv, cwd=ROOT, env=harness_env(PYTHONPATH=str(site)), capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 64, done.stdout + done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in done.stderr, done.stderr
    assert says in lines[0] and "bad-suite 1.0" in lines[0], lines[0]
