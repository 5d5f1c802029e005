"""The breaking-change diff between two OpenAPI documents: breaking changes caught, additive ones pass."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from harness.contract.breaking import breaking_changes

BASELINE = json.loads((Path(__file__).resolve().parents[2] / "deploy" / "openapi.baseline.json").read_text())


def edited(fn) -> dict:
    doc = copy.deepcopy(BASELINE)
    fn(doc)
    return doc


def schemas(doc: dict) -> dict:
    return doc["components"]["schemas"]


def test_the_baseline_against_itself_has_no_breaking_change():
    assert breaking_changes(BASELINE, BASELINE) == []


@pytest.mark.parametrize(
    ("edit", "kind", "where"),
    [
        (lambda d: d["paths"].pop("/features"), "operation removed", "GET /features"),
        (
            lambda d: schemas(d)["ChatResponse"]["properties"].pop("version"),
            "response property removed",
            "POST /chat/v2/chat 200 body.version",
        ),
        (
            lambda d: schemas(d)["ChatResponse"]["properties"].update(message_id={"type": "string"}),
            "response type changed",
            "POST /chat/v2/chat 200 body.message_id",
        ),
        (
            lambda d: schemas(d)["ChatRequest"]["required"].append("user_id"),
            "request property newly required",
            "POST /chat/v2/chat body.user_id",
        ),
        (
            lambda d: schemas(d)["ChatRequest"]["properties"].update(message={"type": "integer"}),
            "request type changed",
            "POST /chat/v2/chat body.message",
        ),
        (
            lambda d: d["paths"]["/chat/v2/chat"]["post"]["responses"].pop("200"),
            "success response removed",
            "POST /chat/v2/chat 200",
        ),
        (
            lambda d: d["paths"]["/features"]["get"]["parameters"][0].update(required=True),
            "parameter newly required",
            "GET /features query user_id",
        ),
    ],
)
def test_each_kind_of_breaking_change_is_named(edit, kind, where):
    changes = breaking_changes(BASELINE, edited(edit))
    assert [(c.kind, c.where.split(" (")[0]) for c in changes] == [(kind, where)]


def test_a_narrowed_enum_is_breaking_and_a_widened_one_is_not():
    def with_enum(values):
        def edit(d):
            schemas(d)["ChatRequest"]["properties"]["mode"] = {"type": "string", "enum": values}

        return edited(edit)

    base = with_enum(["fast", "balanced", "precise"])
    assert [c.kind for c in breaking_changes(base, with_enum(["fast", "balanced"]))] == ["request enum narrowed"]
    assert breaking_changes(base, with_enum(["fast", "balanced", "precise", "max"])) == []


def test_additive_changes_pass():
    def additive(d):
        d["paths"]["/new"] = {"get": {"responses": {"200": {"description": "ok"}}}}
        schemas(d)["ChatResponse"]["properties"]["extra"] = {"type": "string"}
        schemas(d)["ChatRequest"]["properties"]["hint"] = {"type": "string"}

    assert breaking_changes(BASELINE, edited(additive)) == []


def test_recursive_refs_do_not_loop():
    doc = {
        "openapi": "3.1.0",
        "paths": {
            "/t": {
                "get": {
                    "responses": {
                        "200": {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Node"}}}}
                    }
                }
            }
        },
        "components": {
            "schemas": {"Node": {"type": "object", "properties": {"child": {"$ref": "#/components/schemas/Node"}}}}
        },
    }
    assert breaking_changes(doc, doc) == []
