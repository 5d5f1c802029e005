"""Where the harness's own files are: its validation suites (tests/<suite>/), the reference service's deploy/
files (OpenAPI baseline, alert rules, dashboard, Dockerfile) and its policies.

From a checkout they are the checkout itself (the repository's layout: tests/smoke/, deploy/, policies/ at the
top level). An installed wheel carries a copy of the same tree inside the package, in harness/_home/ (written
at build time by setup.py; see docs/guides/install.md). The user's project (project_root: its harness.toml or
pyproject.toml, its reports/) is a different thing: an empty directory is a valid project."""

from __future__ import annotations

from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
BUNDLED = PACKAGE_DIR / "_home"  # the wheel's copy of the checkout's shipped folders
# What a wheel carries besides the Python packages: folders and files of the checkout, by their repository path.
# tests/unit and tests/e2e are the harness's own tests, not validation suites: they stay out.
SHIPPED_DIRS = ("deploy", "policies")
SHIPPED_FILES = ("alembic.ini",)
OWN_TEST_DIRS = ("unit", "e2e")


def harness_home() -> Path:
    """The directory holding tests/<suite>/, deploy/ and policies/ for this installation."""
    if (BUNDLED / "tests").is_dir():
        return BUNDLED
    return PACKAGE_DIR.parent  # a checkout (or an editable install of one)


def suite_dirs(tests_dir: Path) -> list[Path]:
    """The validation suites' folders under tests/: those with test files, minus the harness's own tests."""
    if not tests_dir.is_dir():
        return []
    return sorted(
        d
        for d in tests_dir.iterdir()
        if d.is_dir() and d.name not in OWN_TEST_DIRS and not d.name.startswith((".", "_")) and any(d.glob("test_*.py"))
    )
