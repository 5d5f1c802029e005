"""The metrics contract: what the alerts and the dashboard select is exported; the rules are valid."""

from __future__ import annotations

import shutil
import subprocess

import pytest
from prometheus_client.parser import text_string_to_metric_families

from harness.checks import check_error, not_applicable
from harness.contract.metrics import expressions, problems
from harness.contract.promql import lint


@pytest.fixture(autouse=True)
def _needs_metrics(request, service, contract_opts):
    """The metrics contract needs a metrics endpoint, and the rules checks the service's alert rules."""
    if not service.paths.metrics:
        not_applicable(f"the {service.describe()} has no metrics path")
    if request.node.get_closest_marker("check").args[0] != "contract.metrics.exported":
        if contract_opts.alerts is None:
            not_applicable(f"the {service.describe()} names no alert rules (files.alert_rules)")


@pytest.fixture(scope="module")
def exprs(contract_opts):
    return expressions(contract_opts.alerts, contract_opts.dashboard)


@pytest.mark.check("contract.metrics.exported")
def test_every_selected_series_is_exported_with_its_type_and_labels(api, target, service, exprs):
    if service.paths.health:
        api.get(target.url(service.paths.health), timeout=10)  # a request, so the HTTP families have samples
    if not exprs:
        not_applicable(f"the {service.describe()} names no alert rules or dashboard to take series from")
    resp = api.get(target.url(service.paths.metrics), timeout=10)
    assert resp.status_code == 200, f"GET /metrics answered {resp.status_code}"
    found = problems(resp.text, exprs)
    assert not found, "; ".join(found)


@pytest.mark.check("contract.metrics.exported")
def test_the_guides_metrics_have_their_types(api, target, service):
    text = api.get(target.url(service.paths.metrics), timeout=10).text
    types = {f.name: f.type for f in text_string_to_metric_families(text)}
    wanted = {
        "http_requests": "counter",
        "http_request_duration_seconds": "histogram",
        "websocket_connections": "gauge",
    }
    wrong = {name: types.get(name) for name, kind in wanted.items() if types.get(name) != kind}
    assert not wrong, f"metric families with a missing or wrong type: {wrong}"


@pytest.mark.check("contract.metrics.promql")
def test_every_expression_measures_what_it_says(exprs):
    found = [f"{e.where}: {p}" for e in exprs for p in lint(e.expr)]
    assert not found, "; ".join(found)


def promtool() -> str:
    path = shutil.which("promtool")
    if path is None:
        check_error("promtool not found; install it (Debian: apt-get install -y prometheus)")
    return path


@pytest.mark.check("contract.metrics.rules")
def test_alert_rules_are_valid_and_their_unit_tests_pass(contract_opts):
    opts = contract_opts
    runs = [["check", "rules", str(opts.alerts)]]
    runs += [["test", "rules", str(opts.alert_tests)]] if opts.alert_tests is not None else []
    for argv in runs:
        done = subprocess.run([promtool(), *argv], capture_output=True, text=True, timeout=60, check=False)
        assert done.returncode == 0, f"promtool {' '.join(argv)}: {(done.stdout + done.stderr).strip()[-400:]}"
