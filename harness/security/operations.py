"""The operations of an OpenAPI 3 document, whether each is protected, and a schema-valid request for it.

The scans send requests a real client would send (required parameters and a body built from the
schema), so a refusal they see is the auth check refusing, not validation.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlencode

METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
PROBE = "security-probe"
PATH_PROBE = (
    "security-probe-unknown"  # path ids differ from body values: a lookup probes a resource that does not exist
)


@dataclass(frozen=True, slots=True)
class Operation:
    method: str  # upper case
    path: str  # the template, /chat/v2/sessions/{session_id}/messages
    secured: bool  # declares a non-empty security requirement (operation-level, else document-level)
    spec: dict[str, Any]

    @property
    def label(self) -> str:
        return f"{self.method} {self.path}"


def _resolve(node: Any, doc: dict[str, Any], depth: int = 0) -> Any:
    """Follow local $refs (#/components/...)."""
    while isinstance(node, dict) and "$ref" in node and depth < 20:
        ref = str(node["$ref"])
        if not ref.startswith("#/"):
            return {}
        target: Any = doc
        for part in ref[2:].split("/"):
            target = target.get(part.replace("~1", "/").replace("~0", "~"), {}) if isinstance(target, dict) else {}
        node, depth = target, depth + 1
    return node


def _requires_auth(requirements: Any) -> bool:
    """A security requirement list protects the operation unless it is empty or offers {} (anonymous)."""
    if not isinstance(requirements, list) or not requirements:
        return False
    return all(isinstance(r, dict) and r for r in requirements)


def _parameters(path_level: list[Any], op_level: list[Any], doc: dict[str, Any]) -> list[Any]:
    """The operation's parameters: an operation-level one overrides a path-level one of the same name and
    location (OpenAPI 3), the rest of the path-level ones are inherited."""

    def key(raw: Any) -> tuple[str, str]:
        p = _resolve(raw, doc)
        return (str(p.get("name", "")), str(p.get("in", ""))) if isinstance(p, dict) else ("", "")

    own = {key(p) for p in op_level}
    return [*(p for p in path_level if key(p) not in own), *op_level]


def operations(doc: dict[str, Any]) -> list[Operation]:
    """Every operation of the document, in document order."""
    out = []
    default_security = doc.get("security", [])
    for path, item in (doc.get("paths") or {}).items():
        if not isinstance(item, dict):
            continue
        for method in METHODS:
            op = item.get(method)
            if not isinstance(op, dict):
                continue
            secured = _requires_auth(op["security"] if "security" in op else default_security)
            params = _parameters(item.get("parameters", []), op.get("parameters", []), doc)
            out.append(Operation(method.upper(), path, secured, {**op, "parameters": params}))
    return out


def example(schema: Any, doc: dict[str, Any], depth: int = 0) -> Any:
    """A small value valid against schema (example/default/enum first, then by type)."""
    schema = _resolve(schema, doc)
    if not isinstance(schema, dict) or depth > 8:
        return PROBE
    for key in ("example", "default", "const"):
        if key in schema:
            return schema[key]
    if schema.get("examples") and isinstance(schema["examples"], list):
        return schema["examples"][0]
    if schema.get("enum"):
        return schema["enum"][0]
    for key in ("anyOf", "oneOf"):
        options = [s for s in schema.get(key, []) if _resolve(s, doc).get("type") != "null"]
        if options:
            return example(options[0], doc, depth + 1)
    if schema.get("allOf"):
        merged: dict[str, Any] = {}
        for part in schema["allOf"]:
            value = example(part, doc, depth + 1)
            if isinstance(value, dict):
                merged.update(value)
        return merged
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "string")
    if kind == "object" or "properties" in schema:
        props = schema.get("properties", {})
        return {name: example(props.get(name, {}), doc, depth + 1) for name in schema.get("required", [])}
    if kind == "array":
        return [example(schema.get("items", {}), doc, depth + 1)] * max(int(schema.get("minItems", 0)), 0)
    if kind == "integer":
        return max(int(schema.get("minimum", 1)), 1) if "minimum" in schema else 1
    if kind == "number":
        return float(schema.get("minimum", 1))
    if kind == "boolean":
        return False
    text = PROBE
    if "minLength" in schema and len(text) < int(schema["minLength"]):
        text = text.ljust(int(schema["minLength"]), "x")
    if "maxLength" in schema:
        text = text[: max(int(schema["maxLength"]), 1)]
    return text


@dataclass(frozen=True, slots=True)
class ProbeRequest:
    method: str
    url: str
    json: Any | None
    label: str


def request_for(
    op: Operation,
    doc: dict[str, Any],
    base_url: str,
    *,
    path_values: dict[str, str] | None = None,
    query_values: dict[str, str] | None = None,
    body: Any = None,
) -> ProbeRequest:
    """The URL (path and required query parameters filled in) and JSON body for one operation; path_values
    and query_values replace the schema's examples (a query value given is sent even when optional), body
    replaces the example body."""
    path_values, query_values = path_values or {}, query_values or {}
    path = op.path
    query: dict[str, str] = {}
    for raw in op.spec.get("parameters", []):
        param = _resolve(raw, doc)
        if not isinstance(param, dict):
            continue
        where, name = param.get("in"), str(param.get("name", ""))
        value = param["example"] if "example" in param else example(param.get("schema", {}), doc)
        if where == "path":
            value = path_values.get(name, PATH_PROBE if value == PROBE else value)
            path = path.replace("{" + name + "}", quote(str(value), safe=""))
        elif where == "query" and (param.get("required") or name in query_values):
            value = query_values.get(name, value)
            query[name] = str(value).lower() if isinstance(value, bool) else str(value)
    content = (_resolve(op.spec.get("requestBody", {}), doc) or {}).get("content", {})
    if body is None and "application/json" in content:
        media = content["application/json"]
        body = media["example"] if "example" in media else example(media.get("schema", {}), doc)
    url = base_url.rstrip("/") + path + (f"?{urlencode(query)}" if query else "")
    return ProbeRequest(op.method, url, body, op.label)
