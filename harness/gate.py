"""`harness gate`: config -> stack -> suites -> evidence -> verdict -> reports, in that order only."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from harness.config import Settings
from harness.errors import ConfigError, StackError, did_you_mean
from harness.evidence import Evidence
from harness.policy import load_policy
from harness.report.json_report import write_verdict
from harness.report.junit import write_gates_junit
from harness.report.markdown import write_markdown
from harness.stack import Terminated, choose, make_stack, running
from harness.suites import available_suites, run_suites
from harness.verdict import Decision, evaluate, verdict_document


@dataclass(slots=True)
class GateRun:
    """A finished gate: the verdict document and where its reports are."""

    doc: dict[str, Any]
    decision: Decision
    reports_dir: Path


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _selected(settings: Settings, phase_suites: tuple[str, ...], known: set[str]) -> tuple[str, ...] | None:
    if settings.suites is None:
        return None
    choices = sorted(known | set(phase_suites))
    for name in settings.suites:
        if name not in choices:
            raise ConfigError(
                f"--suites: unknown suite {name!r}{did_you_mean(name, choices)}; suites: {', '.join(choices)}"
            )
    return settings.suites


def run_gate(settings: Settings) -> GateRun:
    """Run the phase's suites against a fresh or given target and write the verdict. Never raises for
    a failed stack or suite: those become `error`/`missing` gates. Raises HarnessError only for bad usage."""
    policy = load_policy(settings.policy_file)
    phase = policy.phase(settings.phase)
    known = available_suites(settings.suites_dir)
    selected = _selected(settings, phase.suites, known)
    wanted = [s for s in (selected or phase.suites) if s in known]

    reports = settings.reports_dir
    reports.mkdir(parents=True, exist_ok=True)
    for stale in ("verdict.json", "summary.md", "gates.xml", "junit.xml", "evidence.json"):
        (reports / stale).unlink(missing_ok=True)  # a crash must never leave an old `go` behind

    backend, why = choose(settings)
    stack = make_stack(settings, backend)
    stack.check()  # bad usage (missing binaries, busy port) ends here, before anything starts
    started, t0 = _now(), time.monotonic()
    records: list[Evidence] = []
    suite_errors: dict[str, str] = {}
    notes: list[str] = [why] if why.startswith("auto:") else []
    target_info: dict[str, Any] = {"base_url": settings.target, "stack": stack.name, "version": None}
    secrets: list[str] = [settings.token] if settings.token else []
    try:
        with running(stack) as target:
            target_info = target.public()
            secrets = target.secrets()
            if wanted:
                run = run_suites(target, wanted, settings)
                records, suite_errors = run.records, run.suite_errors
    except StackError as exc:
        suite_errors = dict.fromkeys(wanted, f"the {stack.name} stack did not come up: {exc}")
        notes.append(f"stack: {exc}")
    except Terminated:
        suite_errors = dict.fromkeys(wanted, "the run was terminated (SIGTERM) before the suites finished")
        notes.append("terminated by SIGTERM")
    except KeyboardInterrupt:
        suite_errors = dict.fromkeys(wanted, "the run was interrupted (Ctrl-C) before the suites finished")
        notes.append("interrupted by Ctrl-C")
    if selected is not None:
        notes.append(f"narrowed run: --suites {','.join(selected)}")

    decision = evaluate(phase, records, selected=selected, available=known, suite_errors=suite_errors)
    doc = verdict_document(
        decision,
        phase=phase.name,
        target=target_info,
        started_at=started,
        finished_at=_now(),
        duration_s=time.monotonic() - t0,
        policy_source=policy.source,
        notes=notes,
    )
    write_verdict(doc, reports / "verdict.json", secrets)
    write_markdown(doc, reports / "summary.md", secrets)
    write_gates_junit(doc, reports / "gates.xml", secrets)
    return GateRun(doc, decision, reports)
