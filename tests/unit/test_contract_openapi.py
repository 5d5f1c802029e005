"""contract.openapi without the reference app: only schemathesis' own check failures are the product's; a
refused connection or a bug in the tool is `error`; the cases actually sent are counted; no links is N/A."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest
from schemathesis.core.failures import FailureGroup, ServerError

from harness.contract.openapi import (
    Outcome,
    describe,
    findings_from,
    fuzz,
    has_links,
    load_schema,
    operations,
    tool_errors,
)
from harness.contract.options import ContractOptions
from harness.target import Target

DOC = {
    "openapi": "3.0.3",
    "info": {"title": "t", "version": "1"},
    "paths": {
        "/ping": {
            "get": {
                "responses": {
                    "200": {
                        "description": "ok",
                        "content": {"application/json": {"schema": {"type": "object"}}},
                    }
                }
            }
        }
    },
}


def opts(max_examples: int = 5) -> ContractOptions:
    return ContractOptions("quick", max_examples, 1, None, Path("b"), Path("a"), Path("t"), Path("d"), 5.0)


@pytest.fixture
def healthy(http_stub) -> str:
    return http_stub(lambda path, headers: (200, b"{}"))


@pytest.fixture
def failing(http_stub) -> str:
    return http_stub(lambda path, headers: (500, b"{}"))


def _operation(base_url: str):
    return operations(load_schema(json.loads(json.dumps(DOC)), base_url))[0]


def test_a_conforming_operation_counts_every_case_it_sent(healthy):
    outcome = fuzz(_operation(healthy), Target(healthy), opts(5))
    assert outcome.findings == [] and outcome.errors == []
    assert 1 <= outcome.sent <= 5  # hypothesis stops early when the (tiny) space is exhausted


def test_a_server_error_is_a_product_finding_with_a_curl_line(failing):
    outcome = fuzz(_operation(failing), Target(failing), opts(5))
    assert "ST101" in [f.code for f in outcome.findings] and outcome.errors == []  # (+ ST103: 500 undocumented)
    assert outcome.findings[0].curl.startswith("curl ") and outcome.sent >= 1


def test_a_refused_connection_is_a_tool_error_never_a_finding():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()  # nothing listens there now
    url = f"http://127.0.0.1:{port}"
    outcome = fuzz(_operation(url), Target(url), opts(3))
    assert outcome.findings == [] and outcome.sent == 0
    assert outcome.errors and "ConnectionError" in outcome.errors[0], outcome.errors


def test_only_schemathesis_failures_are_findings_in_a_mixed_group():
    failure = ServerError(operation="GET /ping", status_code=500, message="Reproduce with:\n\n    curl -X GET x\n")
    mixed = BaseExceptionGroup("hypothesis found 2 distinct failures", [FailureGroup([failure]), TypeError("boom")])
    assert [f.code for f in findings_from(mixed, "GET /ping")] == ["ST101"]
    assert tool_errors(mixed) == ["builtins.TypeError: boom"]
    assert findings_from(TypeError("boom"), "GET /ping") == []
    outcome = Outcome()
    outcome.judge(RuntimeError("hypothesis internal"), "GET /ping")
    assert outcome.findings == [] and outcome.errors == ["builtins.RuntimeError: hypothesis internal"]


def test_links_are_detected_or_the_stateful_check_does_not_apply(healthy):
    assert has_links(load_schema(json.loads(json.dumps(DOC)), healthy)) is False
    linked = json.loads(json.dumps(DOC))
    linked["paths"]["/ping"]["get"]["responses"]["200"]["links"] = {"again": {"operationId": "ping", "parameters": {}}}
    linked["paths"]["/ping"]["get"]["operationId"] = "ping"
    assert has_links(load_schema(linked, healthy)) is True


FEED = {
    "openapi": "3.0.3",
    "info": {"title": "t", "version": "1"},
    "components": {"securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}},
    "paths": {
        "/feed": {
            "get": {
                "security": [{"bearer": []}],  # the document says required; the service answers anyone
                "responses": {
                    "200": {
                        "description": "ok",
                        "content": {
                            "application/json": {
                                "schema": {"type": "object", "properties": {"balance": {"type": "integer"}}}
                            }
                        },
                    }
                },
            }
        }
    },
}


def test_ignored_auth_honours_the_profiles_optional_auth_and_a_failure_names_status_path_value_and_curl(http_stub):
    url = http_stub(lambda path, headers: (200, b'{"balance": 1}'))
    op = operations(load_schema(json.loads(json.dumps(FEED)), url))[0]
    token = lambda: {"Authorization": "Bearer real"}  # noqa: E731
    flagged = fuzz(op, Target(url), opts(3), token)
    assert any("auth" in f.title.lower() for f in flagged.findings), flagged.findings  # the control: it would flag
    optional = fuzz(op, Target(url), opts(3), token, exempt=lambda method, path: (method, path) == ("GET", "/feed"))
    assert optional.findings == [] and optional.errors == []
    drifted = http_stub(lambda path, headers: (200, b'{"balance": "12"}'))
    op = operations(load_schema(json.loads(json.dumps(FEED)), drifted))[0]
    bad = fuzz(op, Target(drifted), opts(3), token, exempt=lambda method, path: True)
    line = describe(bad.findings)
    assert line.startswith('GET /feed: ST108 Response violates schema: HTTP 200, at /balance the value "12" ')
    assert "breaks the schema at /properties/balance/type; reproduce: curl -X GET " in line, line
