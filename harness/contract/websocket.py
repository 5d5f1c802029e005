"""The WebSocket message contract: every frame validated against harness/schemas/websocket.schema.json."""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any

import jsonschema


@cache
def _schema() -> dict[str, Any]:
    return json.loads(resources.files("harness").joinpath("schemas/websocket.schema.json").read_text())


def validator(definition: str) -> jsonschema.protocols.Validator:
    """A validator for one message kind: 'server', 'client', 'server.pong', ..."""
    root = _schema()
    return jsonschema.Draft202012Validator({"$ref": f"#/$defs/{definition}", "$defs": root["$defs"]})


def frame_problem(raw: str | bytes, definition: str = "server") -> str | None:
    """None when raw is a JSON frame valid as `definition`; otherwise what is wrong, in one line."""
    try:
        frame = json.loads(raw)
    except ValueError:
        return f"not JSON: {str(raw)[:120]!r}"
    errors = sorted(validator(definition).iter_errors(frame), key=lambda e: e.path)
    if not errors:
        return None
    specific = validator(f"server.{frame.get('type')}") if isinstance(frame, dict) else None
    if specific is not None and f"server.{frame.get('type')}" in _schema()["$defs"]:
        errors = list(specific.iter_errors(frame)) or errors
    return f"{json.dumps(frame)[:160]} violates {definition}: {errors[0].message}"


def close_codes() -> dict[str, str]:
    return dict(_schema()["x-close-codes"])
