"""Contract suite wiring: options, the live OpenAPI document (loaded once), one test per operation."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from harness.contract.openapi import fetch_document, load_schema, openapi_url, operations
from harness.contract.options import ContractOptions, contract_options
from harness.errors import HarnessError
from harness.plugins.target import TARGET_KEY, harness_settings


@dataclass(slots=True)
class LiveContract:
    """What the candidate publishes: its OpenAPI document and schemathesis operations."""

    doc: dict[str, Any]
    operations: list[Any]


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
            doc = fetch_document(openapi_url(target, opts), opts.timeout_s)
            config.stash[_LIVE] = LiveContract(doc, operations(load_schema(doc, target.base_url)))
        except (HarnessError, RuntimeError) as exc:
            pytest.fail(f"contract: {exc}", pytrace=False)
    return config.stash[_LIVE]


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "api_operation" in metafunc.fixturenames:
        ops = live_contract(metafunc.config).operations
        metafunc.parametrize("api_operation", ops, ids=[op.label for op in ops])


@pytest.fixture(scope="session")
def contract_opts(pytestconfig: pytest.Config) -> ContractOptions:
    return options(pytestconfig)


@pytest.fixture(scope="session")
def contract(pytestconfig: pytest.Config) -> LiveContract:
    return live_contract(pytestconfig)
