"""reports/verdict.json: secrets redacted by structure, then validated against the shipped schema, written
atomically."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema

from harness.atomic import write_atomic
from harness.errors import ReportError
from harness.redact import redact_data
from harness.verdict import validate_verdict


def write_verdict(doc: dict[str, Any], path: Path, secrets: list[str]) -> None:
    validate_verdict(doc)
    redacted = redact_data(doc, secrets)  # string values only: keys, numbers and booleans stay as they are
    try:
        validate_verdict(redacted)
    except jsonschema.ValidationError as exc:
        raise ReportError(
            f"{path.name}: removing a secret made the verdict invalid ({exc.message}): a secret equals a word "
            "the verdict itself uses; use a random one"
        ) from None
    write_atomic(path, json.dumps(redacted, indent=2) + "\n")
