"""The harness's own validation suites, as the registry sees them: each one is an entry point of the group
`harness.suites` in pyproject.toml, as a team's suite is (harness/registry.py). Their tests live in the harness
home (tests/<id>/ of a checkout, harness/_home/tests/<id>/ of a wheel)."""

from __future__ import annotations

from harness.registry import Suite

SECTIONS = "harness.report.sections"

SMOKE = Suite(id="smoke", section=f"{SECTIONS}:smoke", template="smoke.html.j2", order=10, lists_checks=True)
CONTRACT = Suite(
    id="contract",
    options="harness.contract.options:contract_options",
    section=f"{SECTIONS}:contract",
    template="contract.html.j2",
    order=20,
    lists_checks=True,
)
SECURITY = Suite(
    id="security",
    options="harness.security.options:security_options",
    section=f"{SECTIONS}:security",
    template="security.html.j2",
    order=30,
    lists_checks=True,
    flags=("zap_report", "trivy_cache_dir"),
)
LOAD = Suite(
    id="load",
    options="harness.load.profiles:load_options_for",
    section=f"{SECTIONS}:load",
    template="load.html.j2",
    order=40,
    lists_checks=True,
    progress="harness.load.runner:progress_tail",
)
LIVE = Suite(
    id="live",
    options="harness.live.options:live_options",
    section=f"{SECTIONS}:live",
    template="live.html.j2",
    order=50,
    flags=("prometheus_url", "drive_load", "watch"),
    needs=("prometheus",),
)
ROLLBACK = Suite(
    id="rollback", destructive="the rollback rehearsal downgrades the database and empties caches", order=60
)
FLAGS = Suite(id="flags", options="harness.flags.options:flags_options", order=70)
CHECKLIST = Suite(id="checklist", options="harness.checklist.options:checklist_options", order=80)
