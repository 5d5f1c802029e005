"""Breaking changes between two OpenAPI 3 documents: what an existing client would trip over.

Breaking: a removed operation or success response, a removed or retyped response property, a newly
required request property or parameter, a retyped request field, a narrowed request enum.
Additive changes (new operations, new optional fields, new response properties) are not breaking.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

METHODS = ("get", "put", "post", "delete", "patch", "head", "options", "trace")


@dataclass(frozen=True, slots=True)
class Change:
    """One breaking change: its kind and where it is."""

    kind: str
    where: str

    def __str__(self) -> str:
        return f"{self.kind}: {self.where}"


def _resolve(doc: dict[str, Any], node: Any, seen: tuple[str, ...] = ()) -> Any:
    """Inline local $refs (#/components/...); a recursive ref is cut off as {}."""
    if isinstance(node, list):
        return [_resolve(doc, n, seen) for n in node]
    if not isinstance(node, dict):
        return node
    ref = node.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/"):
        if ref in seen:
            return {}
        target: Any = doc
        for part in ref[2:].split("/"):
            target = target.get(part.replace("~1", "/").replace("~0", "~"), {}) if isinstance(target, dict) else {}
        return _resolve(doc, target, (*seen, ref))
    return {k: _resolve(doc, v, seen) for k, v in node.items()}


def _types(schema: dict[str, Any]) -> frozenset[str]:
    """The JSON types a schema admits ('' when it does not say)."""
    kind = schema.get("type")
    if isinstance(kind, str):
        return frozenset({kind})
    if isinstance(kind, list):
        return frozenset(kind)
    alts = schema.get("anyOf") or schema.get("oneOf") or []
    return frozenset(t for alt in alts if isinstance(alt, dict) for t in _types(alt))


def _props(schema: dict[str, Any]) -> dict[str, Any]:
    props = dict(schema.get("properties") or {})
    for alt in schema.get("allOf") or []:
        if isinstance(alt, dict):
            props.update(alt.get("properties") or {})
    return props


def _response(old: dict[str, Any], new: dict[str, Any], where: str, out: list[Change]) -> None:
    old_t, new_t = _types(old), _types(new)
    if old_t and new_t and not new_t <= old_t:
        out.append(Change("response type changed", f"{where} ({'|'.join(sorted(old_t))} -> {'|'.join(sorted(new_t))})"))
        return
    new_props = _props(new)
    for name, sub in _props(old).items():
        if name not in new_props:
            out.append(Change("response property removed", f"{where}.{name}"))
        else:
            _response(sub, new_props[name], f"{where}.{name}", out)
    if isinstance(old.get("items"), dict) and isinstance(new.get("items"), dict):
        _response(old["items"], new["items"], f"{where}[]", out)


def _request(old: dict[str, Any], new: dict[str, Any], where: str, out: list[Change]) -> None:
    old_t, new_t = _types(old), _types(new)
    if old_t and new_t and not old_t <= new_t:
        out.append(Change("request type changed", f"{where} ({'|'.join(sorted(old_t))} -> {'|'.join(sorted(new_t))})"))
        return
    if isinstance(old.get("enum"), list) and isinstance(new.get("enum"), list):
        dropped = [v for v in old["enum"] if v not in new["enum"]]
        if dropped:
            out.append(Change("request enum narrowed", f"{where} (no longer accepts {dropped})"))
    for name in sorted(set(new.get("required") or []) - set(old.get("required") or [])):
        out.append(Change("request property newly required", f"{where}.{name}"))
    new_props = _props(new)
    for name, sub in _props(old).items():
        if name in new_props:
            _request(sub, new_props[name], f"{where}.{name}", out)
    if isinstance(old.get("items"), dict) and isinstance(new.get("items"), dict):
        _request(old["items"], new["items"], f"{where}[]", out)


def _json_schema(node: dict[str, Any]) -> dict[str, Any] | None:
    for media, body in (node.get("content") or {}).items():
        if media.startswith("application/json") and isinstance(body, dict):
            return body.get("schema") or {}
    return None


def _params(op: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    return {(p.get("in", ""), p.get("name", "")): p for p in op.get("parameters") or [] if isinstance(p, dict)}


def _operation(old: dict[str, Any], new: dict[str, Any], label: str, out: list[Change]) -> None:
    old_params, new_params = _params(old), _params(new)
    for key, param in new_params.items():
        was = old_params.get(key)
        if param.get("required") and not (was and was.get("required")):
            out.append(Change("parameter newly required", f"{label} {key[0]} {key[1]}"))
    for key, was in old_params.items():
        if key in new_params:
            _request(was.get("schema") or {}, new_params[key].get("schema") or {}, f"{label} {key[0]} {key[1]}", out)
    old_body, new_body = old.get("requestBody") or {}, new.get("requestBody") or {}
    if new_body.get("required") and not old_body:
        out.append(Change("request body newly required", label))
    old_schema, new_schema = _json_schema(old_body), _json_schema(new_body)
    if old_schema is not None and new_schema is not None:
        _request(old_schema, new_schema, f"{label} body", out)
    new_responses = new.get("responses") or {}
    for status, response in (old.get("responses") or {}).items():
        if not str(status).startswith("2"):
            continue
        if status not in new_responses:
            out.append(Change("success response removed", f"{label} {status}"))
            continue
        old_schema, new_schema = _json_schema(response), _json_schema(new_responses[status])
        if old_schema is not None and new_schema is not None:
            _response(old_schema, new_schema, f"{label} {status} body", out)


def breaking_changes(baseline: dict[str, Any], candidate: dict[str, Any]) -> list[Change]:
    """Every change from baseline to candidate that breaks an existing client, in document order."""
    old_doc, new_doc = _resolve(baseline, baseline), _resolve(candidate, candidate)
    out: list[Change] = []
    new_paths = new_doc.get("paths") or {}
    for path, item in (old_doc.get("paths") or {}).items():
        for method in METHODS:
            if method not in item:
                continue
            label = f"{method.upper()} {path}"
            new_op = (new_paths.get(path) or {}).get(method)
            if new_op is None:
                out.append(Change("operation removed", label))
            else:
                _operation(item[method], new_op, label, out)
    return out
