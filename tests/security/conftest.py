"""Security suite wiring: options and waivers (loaded once), the live OpenAPI document (fetched once),
and where the reports go (reports/security/, next to the verdict). A problem with any of them is one
clear line on the check that needed it, never a traceback."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from harness.checks import check_error
from harness.config import Settings
from harness.errors import HarnessError
from harness.plugins.target import harness_settings
from harness.security.options import SecurityOptions, security_options
from harness.security.report import Reports, clear
from harness.security.waivers import Waiver, load_waivers
from harness.target import Target


def _settings(config: pytest.Config) -> Settings:
    """The run's settings (handed down by `harness gate`, else the project's own)."""
    return harness_settings(config)


def _reports_dir(config: pytest.Config) -> Path:
    """The verdict's directory when run by `harness gate` (beside --harness-evidence), else reports_dir."""
    evidence = config.getoption("harness_evidence", None)
    if evidence:
        return Path(evidence).parent
    return _settings(config).reports_dir


def pytest_configure(config: pytest.Config) -> None:
    """Controller (or single process) only: no stale security report may survive into this run."""
    if hasattr(config, "workerinput"):
        return
    try:
        clear(_reports_dir(config))
    except HarnessError:
        pass  # the checks report the configuration problem themselves


@pytest.fixture(scope="session")
def security_opts(pytestconfig: pytest.Config) -> SecurityOptions:
    try:
        return security_options(_settings(pytestconfig))
    except HarnessError as exc:
        pytest.fail(f"security configuration: {exc}", pytrace=False)


@pytest.fixture(scope="session")
def waivers(security_opts: SecurityOptions) -> list[Waiver]:
    try:
        return load_waivers(security_opts.waivers_file)
    except HarnessError as exc:
        pytest.fail(f"security: {exc}", pytrace=False)


class CheckReports(Reports):
    """Reports for a check: a findings file or history that cannot be read ends the check as `error` (the
    tool could not judge), never as a failure of the product."""

    __slots__ = ()

    def finish(self, *args: Any, **kwargs: Any) -> str:
        try:
            return super().finish(*args, **kwargs)
        except HarnessError as exc:
            check_error(f"security: {exc}")
            raise AssertionError("unreachable") from None


@pytest.fixture(scope="session")
def reports(pytestconfig: pytest.Config, target: Target) -> Reports:
    return CheckReports(_reports_dir(pytestconfig), target)


@pytest.fixture(scope="session")
def openapi_url(target: Target, security_opts: SecurityOptions) -> str:
    return security_opts.openapi_url or target.url("/openapi.json")


@pytest.fixture(scope="session")
def live_openapi(openapi_url: str, security_opts: SecurityOptions) -> dict[str, Any]:
    """The candidate's OpenAPI document: what the scans enumerate operations and security requirements from."""
    from harness.contract.openapi import fetch_document

    try:
        return fetch_document(openapi_url, security_opts.timeout_s)
    except HarnessError as exc:
        line = str(exc).replace("[tool.harness.contract] openapi_url", "[tool.harness.security] openapi_url")
        pytest.fail(f"security: {line}", pytrace=False)
