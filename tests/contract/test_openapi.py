"""OpenAPI conformance: every operation of the live document fuzzed with schemathesis' checks."""

from __future__ import annotations

import json

import pytest

from harness.contract.breaking import breaking_changes
from harness.contract.openapi import describe, fuzz, load_schema, stateful
from harness.plugins.evidence import CURL


@pytest.mark.check("contract.openapi")
def test_operation_conforms(api_operation, target, contract_opts, record_property):
    """Positive and negative cases, bounded by the profile's seed and max_examples."""
    findings = fuzz(api_operation, target, contract_opts)
    if findings:
        record_property(CURL, findings[0].curl)
        pytest.fail(f"{api_operation.label}: {describe(findings)}", pytrace=False)


@pytest.mark.check("contract.openapi.stateful")
def test_links_hold_across_calls(contract, target, contract_opts, record_property):
    """Sequences that follow the document's links: a chat turn, then that session's messages."""
    findings = stateful(load_schema(contract.doc, target.base_url), target, contract_opts)
    if findings:
        record_property(CURL, findings[0].curl)
        pytest.fail(f"stateful: {describe(findings)}", pytrace=False)


@pytest.mark.check("contract.breaking_changes")
def test_no_breaking_changes_against_the_baseline(contract, contract_opts):
    """The candidate's document keeps every promise of the committed baseline."""
    path = contract_opts.baseline
    if not path.is_file():
        pytest.fail(f"no OpenAPI baseline at {path}; commit one (scripts/update_openapi_baseline.py)", pytrace=False)
    try:
        baseline = json.loads(path.read_text())
    except ValueError as exc:
        pytest.fail(f"OpenAPI baseline {path} is not valid JSON ({exc})", pytrace=False)
    changes = breaking_changes(baseline, contract.doc)
    if changes:
        pytest.fail(f"{len(changes)} breaking change(s) vs {path.name}: " + "; ".join(map(str, changes)), pytrace=False)
