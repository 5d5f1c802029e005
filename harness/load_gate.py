"""`harness load` (CLI layer, beside gate.py): the load suite, judged by a load-only phase (live progress: the
gate's, harness/progress.py).

config -> (load options, safety check) -> run_gate(--suites load) -> verdict -> history record.
The history is written after the verdict, from it: nothing downstream reaches back upstream.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from harness.config import Settings
from harness.load.history import append_record
from harness.load.profiles import LoadOptions, load_options_for
from harness.load.runner import PROGRESS, check_allowed
from harness.load.suite import RESULT, load_dir
from harness.progress import current

REGRESSION_GATE = "load.regression"


@dataclass(slots=True)
class LoadOutcome:
    """A finished `harness load`: the gate run, plus what was recorded in the history."""

    run: Any  # harness.gate.GateRun
    options: LoadOptions
    notes: list[str] = field(default_factory=list)


def build_id(root: Path) -> str | None:
    """HARNESS_BUILD, else the project's git commit (best effort)."""
    if os.environ.get("HARNESS_BUILD"):
        return os.environ["HARNESS_BUILD"]
    try:
        done = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=root, capture_output=True, text=True, timeout=5, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout.strip() or None


def history_record(doc: dict[str, Any], result: dict[str, Any] | None, options: LoadOptions, root: Path) -> dict:
    """One history line: when, which build, which profile, the verdict, the load gates and the metrics.

    A run is good when every load gate other than the regression gate passed on a machine its neighbours left
    alone (a contended run's numbers are worse than the build's: no baseline for the nights after)."""
    gates = {g["id"]: g["status"] for g in doc["gates"] if g["suite"] == "load"}
    absolute = {k: v for k, v in gates.items() if k != REGRESSION_GATE}
    summary = (result or {}).get("summary") or {}
    return {
        "at": doc["finished_at"],
        "build": build_id(root),
        "version": doc["target"].get("version"),
        "target": doc["target"].get("base_url"),
        "phase": doc["phase"],
        "profile": options.profile.name,
        "verdict": doc["verdict"],
        "good": bool(absolute) and all(v == "pass" for v in absolute.values()) and not summary.get("contended"),
        "gates": gates,
        "metrics": summary.get("measurements") or {},
        **({"contended": summary["contended"]} if summary.get("contended") else {}),
    }


def run_load(settings: Settings, echo: Callable[[str], None]) -> LoadOutcome:
    """Validate, refuse what must be refused before anything starts, run the load gate, record history."""
    from harness.gate import run_gate

    options = load_options_for(settings)
    if settings.target:
        check_allowed(settings.target, ephemeral=False, allow_remote=options.allow_remote)
    out = load_dir(settings.reports_dir)
    for stale in (PROGRESS, RESULT, "endpoints.json"):
        (out / stale).unlink(missing_ok=True)
    line = (
        f"load: profile {options.profile.name}: {options.profile.users} users, {options.profile.duration_s:g} s, "
        f"hard cap {options.profile.cap_s:g} s; reports in {out}"
    )
    progress = current()
    (progress.event if progress is not None and progress.mode != "off" else echo)(line)  # above a live spinner
    run = run_gate(replace(settings, suites=("load",)))  # its live numbers: harness/progress.py, via the gate
    outcome = LoadOutcome(run, options)
    try:
        result = json.loads((out / RESULT).read_text())
    except (OSError, ValueError):
        result = None
    if result and result.get("html"):
        outcome.notes.append(f"Locust report: {result['html']} (CSV beside it)")
    interrupted = any(n.startswith(("interrupted", "terminated")) for n in run.doc["notes"])
    if options.record_history and interrupted:
        outcome.notes.append("history: nothing recorded (the run was interrupted)")
    elif options.record_history:
        record = history_record(run.doc, result, options, settings.project_root)
        append_record(options.history_file, record)
        state = "a good run" if record["good"] else "not a good run (it will not be a baseline)"
        outcome.notes.append(f"history: appended to {options.history_file}: {state}")
    return outcome
