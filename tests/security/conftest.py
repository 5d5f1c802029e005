"""Security suite wiring: options and waivers (loaded once), the service profile (its credentials, the
run's operation scope, its paths), the live OpenAPI document (fetched once), and where the reports go
(reports/security/, next to the verdict). A problem with any of them is one clear line on the check that
needed it, never a traceback."""

from __future__ import annotations

from typing import Any

import pytest

from harness.checks import check_error
from harness.config import Settings
from harness.errors import HarnessError
from harness.plugins.target import harness_settings, run_reports_dir
from harness.security.options import SecurityOptions, security_options
from harness.security.report import Reports, clear
from harness.security.waivers import Waiver, load_waivers
from harness.service.auth import Credentials, credentials_for
from harness.service.profile import ServiceProfile
from harness.target import Target


def _settings(config: pytest.Config) -> Settings:
    """The run's settings (handed down by `harness gate`, else the project's own)."""
    return harness_settings(config)


_CLAIMED = pytest.StashKey[bool]()


def pytest_configure(config: pytest.Config) -> None:
    """Controller (or single process) only: no stale security report may survive into this run."""
    if hasattr(config, "workerinput"):
        return
    try:
        config.stash[_CLAIMED] = clear(run_reports_dir(config))
    except HarnessError:
        pass  # the checks report the configuration problem themselves


def pytest_unconfigure(config: pytest.Config) -> None:
    """A claim this process made (a plain pytest run, not under `harness gate`) lists what the run wrote."""
    if config.stash.get(_CLAIMED, False):
        from harness.reports_dir import finish

        finish(run_reports_dir(config))


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
    return CheckReports(run_reports_dir(pytestconfig), target)


def _credentials(target: Target, profile: ServiceProfile, low: bool) -> Credentials | None:
    return credentials_for(
        profile.auth, target.base_url, target_token=target.token, low_privilege=low, verify=target.ca_file or True
    )


@pytest.fixture(scope="session")
def credentials(target: Target, service: ServiceProfile) -> Credentials:
    """The profile's main identity, carried as its auth scheme says (a login is made when first needed)."""
    creds = _credentials(target, service, False)
    assert creds is not None
    return creds


@pytest.fixture(scope="session")
def low_credentials(target: Target, service: ServiceProfile) -> Credentials | None:
    """The profile's low-privilege identity (auth.low_privilege), None when it has none."""
    return _credentials(target, service, True)


@pytest.fixture(scope="session")
def websocket_paths(security_opts: SecurityOptions, service: ServiceProfile) -> list[str]:
    """The security option websocket_paths when given, else the profile's paths.websocket (none: no socket)."""
    if security_opts.websocket_paths is not None:
        return list(security_opts.websocket_paths)
    return [service.paths.websocket] if service.paths.websocket else []


@pytest.fixture(scope="session")
def openapi_url(target: Target, security_opts: SecurityOptions, service: ServiceProfile) -> str | None:
    """[tool.harness.security] openapi_url, else the profile's paths.openapi on the target; None: neither."""
    if security_opts.openapi_url:
        return security_opts.openapi_url
    path = service.paths.openapi
    return target.url(path) if path else None


@pytest.fixture(scope="session")
def live_openapi(openapi_url: str | None, security_opts: SecurityOptions) -> dict[str, Any] | None:
    """The candidate's OpenAPI document: what the scans enumerate operations and security requirements from
    (None: the service profile names no OpenAPI document)."""
    from harness.contract.openapi import fetch_document

    if openapi_url is None:
        return None
    try:
        return fetch_document(openapi_url, security_opts.timeout_s)
    except HarnessError as exc:
        line = str(exc).replace("[tool.harness.contract] openapi_url", "[tool.harness.security] openapi_url")
        pytest.fail(f"security: {line}", pytrace=False)
