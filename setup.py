"""The wheel carries the validation suites and the reference service's files beside the Python packages.

The repository keeps its layout (tests/smoke/, tests/load/locustfile.py, deploy/, policies/ at the top level);
at build time build_py copies those folders into the package as harness/_home/, which harness/home.py finds when
there is no checkout. tests/unit and tests/e2e (the harness's own tests) stay out. pytest's settings for the
suites (import mode, markers) go along as _home/pyproject.toml, holding only [tool.pytest.ini_options].
An editable install needs no copy: harness/home.py finds the checkout itself."""

from __future__ import annotations

import shutil
import tomllib
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent


def _home_files() -> list[tuple[Path, str]]:
    """(source file, path inside _home) for everything a wheel ships besides the packages."""
    import sys

    sys.path.insert(0, str(ROOT))
    try:
        from harness.home import SHIPPED_DIRS, SHIPPED_FILES, suite_dirs
    finally:
        sys.path.pop(0)
    files: list[tuple[Path, str]] = []
    for folder in [*(ROOT / d for d in SHIPPED_DIRS), *suite_dirs(ROOT / "tests")]:
        for path in sorted(folder.rglob("*")):
            rel = path.relative_to(ROOT)
            if path.is_file() and not any(p == "__pycache__" or p.startswith(".") for p in rel.parts):
                if path.suffix not in (".pyc", ".whl"):
                    files.append((path, rel.as_posix()))
    files += [(ROOT / f, f) for f in SHIPPED_FILES]
    return files


def _pytest_settings() -> str:
    """The project's [tool.pytest.ini_options], alone: how pytest runs the shipped suites."""
    table = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["pytest"]["ini_options"]
    lines = [
        "# Written at build time from the project's pyproject.toml: pytest's settings for the shipped suites.",
        "[tool.pytest.ini_options]",
    ]
    for key, value in table.items():
        if key == "testpaths":
            continue
        if isinstance(value, list):
            lines.append(f"{key} = [")
            lines += [f"    {_toml_str(v)}," for v in value]
            lines.append("]")
        else:
            lines.append(f"{key} = {_toml_str(value)}")
    return "\n".join(lines) + "\n"


def _toml_str(value: str) -> str:
    return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'


class BuildWithHome(build_py):
    """build_py, plus harness/_home/: the suites, deploy/ and policies/ as the checkout lays them out."""

    def run(self) -> None:
        super().run()
        if getattr(self, "editable_mode", False):
            return
        home = Path(self.build_lib) / "harness" / "_home"
        shutil.rmtree(home, ignore_errors=True)
        for source, rel in _home_files():
            dest = home / rel
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, dest)
        (home / "pyproject.toml").write_text(_pytest_settings())


setup(cmdclass={"build_py": BuildWithHome})
