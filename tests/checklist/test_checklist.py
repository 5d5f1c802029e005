"""The deployment guide's pre-deployment checklist, one check per item (checklist.<item>), each with the
evidence that decides it (harness/checklist/evidence.py); gate checklist.all needs every item."""

from __future__ import annotations

import pytest

from harness.checklist import ITEMS
from harness.checklist.evidence import Context, evaluate
from harness.checklist.options import checklist_options
from harness.checks import CURL, not_applicable
from harness.plugins.target import harness_settings


@pytest.fixture(scope="session")
def context(pytestconfig, target, service) -> Context:
    settings = harness_settings(pytestconfig)
    return Context(
        options=checklist_options(settings),
        project_root=settings.project_root,
        target=target,
        pg_bin_dir=settings.pg_bin_dir,
        openapi_path=service.paths.openapi or "/openapi.json",
        openapi_baseline=service.file("openapi_baseline"),
    )


@pytest.mark.parametrize(
    "item", [pytest.param(i.id, id=i.id, marks=pytest.mark.check(f"checklist.{i.id}")) for i in ITEMS]
)
def test_item(item, context, record_property):
    result = evaluate(item, context)
    record_property(CURL, f"# {result.evidence}")
    if result.state == "n/a":
        not_applicable(result.evidence)
    assert result.state == "pass", result.evidence
