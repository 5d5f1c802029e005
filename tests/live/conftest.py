"""Fixtures of the live suite: the options, the Prometheus client, and one look at the candidate's metrics
per session (after driving traffic on a stack the harness started, or with --drive-load)."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import pytest

from harness.errors import HarnessError
from harness.live.gates import read_live
from harness.live.options import HARNESS_BASELINE_SELECTOR, HARNESS_SELECTOR, LiveOptions, live_options
from harness.live.prometheus import TOKEN_ENV, Prometheus
from harness.live.traffic import drive, live_load_options
from harness.plugins.target import harness_settings

NOTES_FILE = "notes.json"  # reports/live/notes.json: what the suite wants the verdict's notes to say
SCRAPE_SETTLE_S = 2.5  # after the traffic: the last samples reach a 1 s scrape


def _reports(config: pytest.Config) -> Path:
    evidence = config.getoption("harness_evidence", None)
    reports = Path(evidence).parent if evidence else harness_settings(config).reports_dir
    return reports / "live"


@pytest.fixture(scope="session")
def live_dir(pytestconfig: pytest.Config) -> Path:
    """reports/live/: the suite's notes, the driven traffic's Locust files, the canary judge's details."""
    return _reports(pytestconfig)


@pytest.fixture(scope="session")
def live_config(pytestconfig: pytest.Config) -> LiveOptions:
    try:
        return live_options(harness_settings(pytestconfig))
    except HarnessError as exc:
        pytest.fail(f"live configuration: {exc}", pytrace=False)


@pytest.fixture(scope="session")
def prometheus(target, live_config: LiveOptions) -> Prometheus:
    url = live_config.prometheus_url or target.prometheus_url
    if not url:
        pytest.skip("no Prometheus to read: give --prometheus URL (or HARNESS_PROMETHEUS_URL, [tool.harness.live])")
    return Prometheus(url, token=os.environ.get(TOKEN_ENV) or None, timeout_s=live_config.timeout_s)


@pytest.fixture(scope="session")
def candidate_selector(target, live_config: LiveOptions) -> str:
    if live_config.candidate_selector:
        return live_config.candidate_selector
    own = target.prometheus_url and not live_config.prometheus_url
    return HARNESS_SELECTOR if own else "{}"


@pytest.fixture(scope="session")
def live_traffic(target, live_config: LiveOptions, pytestconfig: pytest.Config) -> dict[str, Any]:
    """Drive the live profile when the harness started the stack (or --drive-load); observe only otherwise."""
    out = _reports(pytestconfig)
    out.mkdir(parents=True, exist_ok=True)
    notes: list[str] = []
    result: dict[str, Any] = {"driven": False}
    if target.ephemeral or live_config.drive_load:
        try:
            options = live_load_options(harness_settings(pytestconfig))
        except HarnessError as exc:
            pytest.fail(f"live traffic configuration: {exc}", pytrace=False)
        traffic = drive(target, options, out / "load")
        if traffic.errors:
            notes.append("live: the harness's traffic did not run cleanly: " + "; ".join(traffic.errors))
        if traffic.seconds:
            notes.append(traffic.note())
            time.sleep(SCRAPE_SETTLE_S)
            result = {"driven": True, "seconds": traffic.seconds, "started": traffic.started, "ended": traffic.ended}
    else:
        notes.append("live: observe only (the traffic is the deployment's own users; --drive-load adds Locust users)")
    (out / NOTES_FILE).write_text(json.dumps({"notes": notes}, indent=2))
    return result


@pytest.fixture(scope="session")
def live_readings(prometheus: Prometheus, candidate_selector: str, live_config: LiveOptions, live_traffic):
    """One look at every live measurement; a driven run's window is the traffic's own span."""
    window = live_config.window_s
    if live_traffic.get("driven"):
        window = min(window, live_traffic["seconds"] + SCRAPE_SETTLE_S)
    return read_live(prometheus, candidate_selector, window, live_config.min_requests)


@pytest.fixture(scope="session")
def baseline_selector(target, live_config: LiveOptions) -> str | None:
    """The baseline's series: configured, or the local stack's own baseline (--baseline); None: no judge."""
    if live_config.baseline_selector:
        return live_config.baseline_selector
    if target.baseline_url and target.prometheus_url and not live_config.prometheus_url:
        return HARNESS_BASELINE_SELECTOR
    return None
