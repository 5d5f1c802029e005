"""Contract suite wiring: options, the live OpenAPI document (loaded once), one test per operation."""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

import pytest

from harness.contract.openapi import fetch_document, load_schema, openapi_url, operations
from harness.contract.options import ContractOptions, contract_options
from harness.errors import HarnessError
from harness.plugins.target import TARGET_KEY, harness_settings
from harness.service import scope_for
from harness.service.operations import DROPPED
from harness.service.profile import HTTP_METHODS


@dataclass(slots=True)
class LiveContract:
    """What the candidate publishes: its OpenAPI document and schemathesis operations, split into those this
    run calls and those it leaves out ((operation, why): the profile's exclusions, unsafe methods on a target
    the harness did not start). doc is None when the service publishes no OpenAPI document."""

    doc: dict[str, Any] | None
    operations: list[Any]
    excluded: list[tuple[Any, str]]


def honour_markings(doc: dict[str, Any], scope: Any) -> dict[str, Any]:
    """The document as the service profile reads it: an operation the profile marks optional_auth or public
    offers anonymous access ({} among its security requirements), so no check counts a request without a
    token as one that should have been refused (schemathesis' ignored_auth and negative data)."""
    out = copy.deepcopy(doc)
    default = out.get("security")
    for path, item in (out.get("paths") or {}).items():
        if not isinstance(item, dict):
            continue
        for method, op in item.items():
            if not isinstance(op, dict) or method.upper() not in HTTP_METHODS:
                continue
            if scope.optional_auth(method.upper(), path) or scope.public(method.upper(), path):
                reqs = op.get("security", default) or []
                if isinstance(reqs, list) and {} not in reqs:
                    op["security"] = [{}, *reqs]
    return out


_OPTS = pytest.StashKey[ContractOptions]()
_LIVE = pytest.StashKey[LiveContract]()


def options(config: pytest.Config) -> ContractOptions:
    if _OPTS not in config.stash:
        try:
            config.stash[_OPTS] = contract_options(harness_settings(config))
        except HarnessError as exc:
            pytest.fail(f"contract: {exc}", pytrace=False)
    return config.stash[_OPTS]


def live_contract(config: pytest.Config) -> LiveContract:
    """Load once per process (collection needs the operations); a failure is one clear line."""
    if _LIVE not in config.stash:
        opts = options(config)
        try:
            target = config.stash[TARGET_KEY].get()
            url = openapi_url(target, opts)
            if url is None:
                config.stash[_LIVE] = LiveContract(None, [], [])
                return config.stash[_LIVE]
            doc = fetch_document(url, opts.timeout_s)
            scope = scope_for(harness_settings(config), target.ephemeral)
            doc = honour_markings(doc, scope)
            kept, excluded = [], []
            for op in operations(load_schema(doc, target.base_url)):
                why = scope.excluded(op.method, op.path, op.definition.raw.get("tags") or ())
                if why is None:
                    kept.append(op)
                elif why != DROPPED:  # an operation the team's policy dropped is no check of this phase
                    excluded.append((op, why))
            config.stash[_LIVE] = LiveContract(doc, kept, excluded)
        except (HarnessError, RuntimeError) as exc:
            pytest.fail(f"contract: {exc}", pytrace=False)
    return config.stash[_LIVE]


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "api_operation" in metafunc.fixturenames:
        live = live_contract(metafunc.config)
        params = [pytest.param((op, None), id=op.label) for op in live.operations]
        params += [pytest.param((op, why), id=op.label) for op, why in live.excluded]
        if live.doc is None:
            params = [pytest.param((None, "the service profile has no OpenAPI document (paths.openapi)"), id="none")]
        metafunc.parametrize("api_operation", params)


@pytest.fixture(scope="session")
def contract_opts(pytestconfig: pytest.Config) -> ContractOptions:
    return options(pytestconfig)


@pytest.fixture(scope="session")
def contract(pytestconfig: pytest.Config) -> LiveContract:
    return live_contract(pytestconfig)
