"""Smoke suite wiring: the profile's smoke checks as data become one test each (smoke.<name>); the
reference app's well-known checks the profile does not declare are reported not applicable, not missing."""

from __future__ import annotations

import pytest

from harness.plugins.target import harness_settings
from harness.service import profile_for
from harness.service.profile import SmokeCheck

KNOWN_DATA = ("health", "chat_api")  # the deployment guide's checks a profile may declare as data


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "smoke_check" not in metafunc.fixturenames:
        return
    try:
        profile = profile_for(harness_settings(metafunc.config))
    except Exception as exc:  # noqa: BLE001 - a bad profile fails the check that needs it, in one line
        metafunc.parametrize(
            "smoke_check", [pytest.param(str(exc), id="profile", marks=pytest.mark.check("smoke.profile"))]
        )
        return
    checks = list(profile.smoke)
    if profile.paths.health and "health" not in {c.name for c in checks}:
        # the profile's paths.health is a smoke check of its own: it answers 200 (no [[smoke]] entry needed)
        checks.append(SmokeCheck(name="health", path=profile.paths.health, auth=False, status=200))
    declared = {c.name for c in checks}
    params = [pytest.param(c, id=c.name, marks=pytest.mark.check(f"smoke.{c.name}")) for c in checks]
    params += [
        pytest.param(None, id=name, marks=pytest.mark.check(f"smoke.{name}"))
        for name in KNOWN_DATA
        if name not in declared
    ]
    metafunc.parametrize("smoke_check", params)
