"""The wheel a team installs in its CI: it carries every validation suite (tests/<suite>/, the locustfile
included), the reference service with its migrations, the deploy/ files its profile names and the policies; installed
into a fresh virtualenv and run from an empty directory, `harness gate --phase pr` is go with every gate evaluated.

The fresh virtualenv gets the wheel itself (pip install --no-deps) and reaches its dependencies through a .pth line
naming this environment's site-packages: a .pth line adds a directory but runs none of the .pth files inside it, so
the checkout's editable install is not visible there (the test asserts where `harness` and `app` were imported
from). A full dependency install takes ~85 s more on the 2-core machine (scripts/bench_wheel.py runs that one)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import sysconfig
import venv
import zipfile
from pathlib import Path

import pytest

from harness.home import SHIPPED_DIRS, SHIPPED_FILES, suite_dirs
from harness.policy import default_policy
from harness.verdict import validate_verdict

from .conftest import ROOT, harness_env

COPY_SKIP = shutil.ignore_patterns(
    ".git", ".venv", ".tox", "build", "dist", "reports", "__pycache__", "*.egg-info", ".ruff_cache", "node_modules"
)


def build_wheel(out: Path) -> Path:
    """`pip wheel --no-deps` of a clean copy of the checkout (no build/ or egg-info left in the worktree)."""
    src = out / "src"
    shutil.copytree(ROOT, src, ignore=COPY_SKIP)
    done = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(out / "dist"), str(src)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    (wheel,) = (out / "dist").glob("ai_orchestra_harness-*.whl")
    return wheel


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    return build_wheel(tmp_path_factory.mktemp("wheel"))


def repository_files(folder: Path) -> set[str]:
    return {
        p.relative_to(ROOT).as_posix()
        for p in folder.rglob("*")
        if p.is_file()
        and "__pycache__" not in p.parts
        and p.suffix not in (".pyc", ".whl")
        and not p.name.startswith(".")
    }


def test_the_wheel_carries_every_suite_the_reference_service_and_its_files(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    home = {n.removeprefix("harness/_home/") for n in names if n.startswith("harness/_home/")}
    suites = suite_dirs(ROOT / "tests")
    assert {d.name for d in suites} >= {"smoke", "contract", "load", "security", "live", "rollback", "flags"}
    expected = set(SHIPPED_FILES).union(*(repository_files(d) for d in suites))
    expected |= set().union(*(repository_files(ROOT / d) for d in SHIPPED_DIRS))
    assert "tests/load/locustfile.py" in expected and "deploy/openapi.baseline.json" in expected
    assert expected <= home, sorted(expected - home)
    assert not {n for n in home if n.startswith(("tests/unit/", "tests/e2e/"))}  # the harness's own tests stay out
    assert "pyproject.toml" in home  # pytest's settings for the suites (import mode, markers), nothing else
    migrations = {n for n in names if n.startswith("app/migrations/versions/") and n.endswith(".py")}
    assert migrations == {p.relative_to(ROOT).as_posix() for p in (ROOT / "app/migrations/versions").glob("*.py")}
    assert {
        "app/main.py",
        "app/requirements.txt",
        "app/migrations/env.py",
        "harness/policy.toml",
        "harness/cli.py",
    } <= names


def fresh_venv(where: Path, wheel: Path) -> Path:
    """A new virtualenv holding the wheel; its dependencies come from this environment's site-packages."""
    venv.EnvBuilder(with_pip=False).create(where)
    python = where / "bin" / "python"
    site = Path(
        subprocess.run(
            [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    )
    deps = dict.fromkeys([sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]])
    (site / "_harness_deps.pth").write_text("".join(f"{d}\n" for d in deps))
    done = subprocess.run(
        # --ignore-installed: through the .pth line pip also sees this environment's (editable) install of the
        # project and would otherwise call the requirement satisfied and install nothing into the fresh venv
        [
            sys.executable,
            "-m",
            "pip",
            "--python",
            str(python),
            "install",
            "-q",
            "--no-deps",
            "--no-index",
            "--ignore-installed",
            str(wheel),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return where


def test_the_installed_wheel_gates_the_pr_phase_from_an_empty_directory(wheel, tmp_path):
    env_dir = fresh_venv(tmp_path / "venv", wheel)
    empty = tmp_path / "empty"
    empty.mkdir()
    env = harness_env(PATH=f"{env_dir / 'bin'}:{Path(sys.executable).parent}:{harness_env().get('PATH', '')}")
    where = subprocess.run(
        [env_dir / "bin" / "python", "-c", "import app, harness; print(harness.__file__); print(app.__file__)"],
        capture_output=True,
        text=True,
        cwd=empty,
        env=env,
        check=True,
    ).stdout.split()
    assert all(Path(p).is_relative_to(env_dir) for p in where), where  # not the checkout's editable install
    done = subprocess.run(
        [env_dir / "bin" / "harness", "gate", "--phase", "pr"],
        capture_output=True,
        text=True,
        cwd=empty,
        env=env,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    doc = json.loads((empty / "reports" / "verdict.json").read_text())
    validate_verdict(doc)
    assert doc["verdict"] == "go"
    assert [g["id"] for g in doc["gates"]] == [g.id for g in default_policy().phase("pr").gates]
    assert not [g["id"] for g in doc["gates"] if g["status"] not in ("pass", "not_applicable")], doc["reasons"]
    assert {s: v["status"] for s, v in doc["suites"].items()} == dict.fromkeys(
        ("smoke", "contract", "security", "load"), "ran"
    )
    # the suites came from the installed package (the empty directory has none); it got reports/ and nothing
    # else (hypothesis' .hypothesis/ cache, under the contract suite, goes to the run's swept stage)
    assert {p.name for p in empty.iterdir()} == {"reports"}
    assert 'classname="tests.smoke.test_deployment"' in (empty / "reports" / "junit.xml").read_text()
