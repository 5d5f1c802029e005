"""OpenAPI conformance: every operation of the live document fuzzed with schemathesis' checks."""

from __future__ import annotations

import json

import pytest

from harness.checks import CURL, check_error, not_applicable, not_run
from harness.contract.breaking import breaking_changes
from harness.contract.openapi import Outcome, describe, fuzz, has_links, load_schema, stateful
from harness.errors import HarnessError


def _judge(outcome: Outcome, what: str, record_property) -> None:
    """Only schemathesis' own check failures are the product's (fail, with a curl line); anything else that
    stopped the run (a refused connection, an error in the tool) is `error`: the tool could not judge."""
    tool = f" (and the tool failed: {'; '.join(outcome.errors[:2])})" if outcome.errors else ""
    if outcome.findings:
        record_property(CURL, outcome.findings[0].curl)
        head = "" if outcome.findings[0].operation == what else f"{what}: "
        pytest.fail(f"{head}{describe(outcome.findings)}{tool}", pytrace=False)
    if outcome.errors:
        check_error(f"{what}: schemathesis could not judge it: {'; '.join(outcome.errors[:3])}")


def _headers(creds):
    return (lambda: creds.headers()) if creds.present() else (lambda: {})


def _exempt(scope):
    """The profile's optional-auth and public operations answer without a token by design: schemathesis'
    ignored_auth check passes over them."""
    return lambda method, path: scope.optional_auth(method, path) or scope.public(method, path)


@pytest.mark.check("contract.openapi")
def test_operation_conforms(api_operation, target, contract_opts, creds, scope, record_property, coverage):
    """Positive and negative cases, bounded by the profile's seed and max_examples."""
    operation, excluded = api_operation
    if excluded is not None:  # the run could call it and does not: not run, with how to run it
        not_run(f"excluded: {excluded}")
    outcome = fuzz(operation, target, contract_opts, _headers(creds), _exempt(scope))
    coverage(operations=1, examples=outcome.sent)  # cases that reached the target
    _judge(outcome, operation.label, record_property)


@pytest.mark.check("contract.openapi.stateful")
def test_links_hold_across_calls(contract, target, contract_opts, creds, scope, record_property, coverage):
    """Sequences that follow the document's links: a chat turn, then that session's messages. Only the
    operations this run may call are part of them."""
    if contract.doc is None:
        not_applicable("the service profile has no OpenAPI document (paths.openapi)")
    try:
        schema = load_schema(contract.doc, target.base_url)
        if not has_links(schema):
            not_applicable("the OpenAPI document declares no links between its operations")
        called = {op.label for op in contract.operations}  # never one the scope or the team's policy leaves out
        schema = schema.exclude(func=lambda ctx: ctx.operation.label not in called)
        if not has_links(schema):  # the document links operations this run may not call
            left_out = [(op.label, why) for op, why in contract.excluded]
            if not left_out:  # every operation left out of its links was dropped by the team's policy
                not_run(
                    "every link of the OpenAPI document involves an operation the team's policy drops; to check it: "
                    "drop contract.openapi.stateful too, or keep the operation"
                )
            label, why = left_out[0]
            not_run(f"every link of the OpenAPI document involves an operation this run leaves out: {label}: {why}")
    except HarnessError as exc:
        check_error(f"stateful: {exc}")
    outcome = stateful(schema, target, contract_opts, _headers(creds), _exempt(scope))
    coverage(sequences=outcome.sequences, steps=outcome.sent)
    _judge(outcome, "stateful", record_property)


@pytest.mark.check("contract.breaking_changes")
def test_no_breaking_changes_against_the_baseline(contract, contract_opts):
    """The candidate's document keeps every promise of the committed baseline."""
    path = contract_opts.baseline
    if contract.doc is None:
        not_applicable("the service profile has no OpenAPI document (paths.openapi)")
    if path is None:
        not_applicable("the service profile names no OpenAPI baseline (files.openapi_baseline)")
    if not path.is_file():
        check_error(f"no OpenAPI baseline at {path}; commit one (scripts/update_openapi_baseline.py)")
    try:
        baseline = json.loads(path.read_text())
    except ValueError as exc:
        check_error(f"OpenAPI baseline {path} is not valid JSON ({exc})")
    changes = breaking_changes(baseline, contract.doc)
    if changes:
        pytest.fail(f"{len(changes)} breaking change(s) vs {path.name}: " + "; ".join(map(str, changes)), pytrace=False)
