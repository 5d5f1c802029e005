"""Fixtures of the load suite: the validated options and one bounded Locust run per session."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from harness.errors import HarnessError
from harness.load.profiles import LoadOptions, load_options_for
from harness.load.runner import progress_text
from harness.load.suite import load_dir, run_once
from harness.plugins.target import harness_settings, run_reports_dir


def _settings(config: pytest.Config) -> Any:
    return harness_settings(config)


@pytest.fixture(scope="session")
def load_config(pytestconfig: pytest.Config) -> LoadOptions:
    """[tool.harness.load] + HARNESS_LOAD_* + `harness load` flags for this session's phase."""
    try:
        return load_options_for(_settings(pytestconfig))
    except HarnessError as exc:
        pytest.fail(f"load configuration: {exc}", pytrace=False)


@pytest.fixture(scope="session")
def load_reports(pytestconfig: pytest.Config) -> Path:
    """reports/load/ next to the evidence file (or the configured reports_dir when run by hand)."""
    return load_dir(run_reports_dir(pytestconfig))


@pytest.fixture(scope="session")
def load_run(target, load_config: LoadOptions, load_reports: Path, pytestconfig: pytest.Config) -> dict[str, Any]:
    """The session's Locust run (at most one, shared by the checks and by xdist workers)."""
    capture = pytestconfig.pluginmanager.getplugin("capturemanager")
    tw = pytestconfig.get_terminal_writer()

    def show(line: dict[str, Any]) -> None:
        text = progress_text(line, load_config.profile)
        if capture is not None:
            with capture.global_and_fixture_disabled():
                tw.line(text)
        else:
            tw.line(text)

    result = run_once(target, load_config, load_reports, show, settings=_settings(pytestconfig))
    if result.get("error"):
        pytest.fail(f"the load run could not be judged: {result['error']}", pytrace=False)
    return result
