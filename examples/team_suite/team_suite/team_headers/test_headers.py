"""The team's gate: no response of the service names the software versions it runs (Server: uvicorn/0.30,
X-Powered-By: FastAPI/0.115): an attacker's shortcut to the known vulnerabilities of those versions."""

from __future__ import annotations

import json
import re

import pytest

from harness.plugins.target import harness_settings, run_reports_dir
from team_suite import SUITE
from team_suite.options import team_headers_options

VERSION = re.compile(r"\d+\.\d+")  # '0.30', '3.11.9': a version number


@pytest.mark.check("team_headers.versions")
def test_no_response_names_a_version(pytestconfig, api, target, measure, coverage):
    options = team_headers_options(harness_settings(pytestconfig))
    seen = []
    for path in options.paths:
        response = api.get(target.url(path), timeout=options.timeout_s)
        for name in options.headers:
            value = response.headers.get(name)
            if value is not None:
                seen.append({"path": path, "header": name, "value": value, "version": bool(VERSION.search(value))})
    folder = run_reports_dir(pytestconfig) / SUITE.folder
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "headers.json").write_text(json.dumps(seen, indent=2) + "\n")
    leaks = [s for s in seen if s["version"]]
    coverage(responses=len(options.paths))
    measure(version_disclosures=len(leaks))
    assert not leaks, "; ".join(f"GET {s['path']}: {s['header']}: {s['value']}" for s in leaks)
