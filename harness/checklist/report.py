"""`harness checklist`'s table: the guide's items in its order, each with its state and evidence, read
from the run's evidence.json (what the checklist suite recorded)."""

from __future__ import annotations

import json
from pathlib import Path

from harness.checklist import ITEMS

STATES = {"passed": "PASS", "failed": "FAIL", "not_applicable": "N/A", "error": "ERROR", "skipped": "SKIP"}


def render(reports_dir: Path) -> str:
    """One line per item: state, section, the guide's words, automated/attested, and the evidence."""
    path = reports_dir / "evidence.json"
    try:
        records = json.loads(path.read_text()).get("records", [])
    except (OSError, ValueError):
        records = []
    by_item = {str(r["id"]).split("[", 1)[0].removeprefix("checklist."): r for r in records}
    lines = ["Pre-deployment checklist (deployment guide)"]
    for item in ITEMS:
        rec = by_item.get(item.id)
        if rec is None:
            lines.append(f"  NOT RUN  {item.section}: {item.text} ({item.how})")
            continue
        evidence = next((r[2:] for r in rec.get("repro", []) if r.startswith("# ")), "")
        if rec["outcome"] != "passed":
            evidence = rec.get("message") or evidence
        state = STATES.get(rec["outcome"], rec["outcome"].upper())
        lines.append(f"  {state:7s}  {item.section}: {item.text} ({item.how}): {evidence}")
    return "\n".join(lines)
