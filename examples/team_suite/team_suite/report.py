"""The suite's section of report.html: a table of what each response sent (from reports/team_headers/)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def section(records: list[dict[str, Any]], folder: Path, secrets: list[str]) -> dict[str, Any] | None:
    try:
        seen = json.loads((folder / "headers.json").read_text())
    except (OSError, ValueError):
        return None
    rows = [[s["path"], s["header"], s["value"], "version" if s["version"] else "-"] for s in seen]
    note = f"{sum(s['version'] for s in seen)} header(s) naming a version, of {len(seen)} looked at."
    return {"columns": ["path", "header", "value", "names a version"], "rows": rows, "note": note}
