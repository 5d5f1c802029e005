"""reports/verdict.json: validated against the shipped schema, secrets redacted, written atomically."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from harness.atomic import write_atomic
from harness.target import redact
from harness.verdict import validate_verdict


def write_verdict(doc: dict[str, Any], path: Path, secrets: list[str]) -> None:
    validate_verdict(doc)
    write_atomic(path, redact(json.dumps(doc, indent=2), secrets) + "\n")
