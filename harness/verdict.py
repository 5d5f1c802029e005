"""evaluate(phase, evidence) -> Verdict: a pure function of the records, nothing else."""

from __future__ import annotations

import fnmatch
import json
import math
from dataclasses import asdict, dataclass, field
from importlib import resources
from typing import Any

import jsonschema

from harness.errors import ExitCode
from harness.evidence import Evidence
from harness.policy import Gate, Phase

SCHEMA_ID = "harness.verdict/v1"
EXIT_CODES = {"go": ExitCode.GO, "no-go": ExitCode.NO_GO, "inconclusive": ExitCode.INCONCLUSIVE}
_SEVERITY = {"fail": 0, "error": 1, "missing": 2, "pass": 3}


@dataclass(slots=True)
class GateResult:
    """How one gate came out, with enough to act on it."""

    id: str
    suite: str
    status: str  # pass | fail | missing | error
    observed: float | str | None
    threshold: str
    reason: str
    about: str = ""
    repro: list[str] = field(default_factory=list)


@dataclass(slots=True)
class Decision:
    """The part of a verdict that evaluate() decides."""

    verdict: str
    gates: list[GateResult]
    reasons: list[str]
    suites: dict[str, dict[str, Any]]
    scope: dict[str, Any]

    @property
    def exit_code(self) -> ExitCode:
        return EXIT_CODES[self.verdict]


def _suite_stats(records: list[Evidence], status: str) -> dict[str, Any]:
    count = {o: sum(r.outcome == o for r in records) for o in ("passed", "failed", "skipped", "error")}
    return {
        "status": status,
        "passed": count["passed"],
        "failed": count["failed"],
        "skipped": count["skipped"],
        "errors": count["error"],
        "duration_s": round(sum(r.duration_s for r in records), 3),
    }


def _result(
    gate: Gate, status: str, observed: float | str | None, reason: str, repro: list[str] | None = None
) -> GateResult:
    return GateResult(gate.id, gate.suite, status, observed, gate.threshold_text(), reason, gate.about, repro or [])


def matches(check: str, evidence_id: str) -> bool:
    """A gate's check names one check, its parametrized variants (id[param]), or a glob (contract.ws.*)."""
    return evidence_id == check or evidence_id.startswith(f"{check}[") or fnmatch.fnmatchcase(evidence_id, check)


def _check_gate(gate: Gate, recs: list[Evidence]) -> GateResult:
    assert gate.check is not None
    found = [r for r in recs if matches(gate.check, r.id)]
    if not found:
        broken = next((r for r in recs if r.id.endswith(".collect") and r.outcome == "error"), None)
        if broken is not None:  # the check's module may be the one that failed to load
            return _result(gate, "error", None, f"{gate.id}: did not run: {broken.message}", broken.repro)
        return _result(gate, "missing", None, f"{gate.id}: check {gate.check} did not run")
    if len(found) == 1 and found[0].outcome == "skipped":
        rec = found[0]
        return _result(gate, "missing", "skipped", f"{gate.id}: check was skipped ({rec.message})", rec.repro)
    bad = [r for r in found if r.outcome in ("failed", "error")]
    ran = [r for r in found if r.outcome != "skipped"]
    if not bad:
        if not ran:
            return _result(gate, "missing", "skipped", f"{gate.id}: every matching check was skipped")
        return _result(
            gate, "pass", "passed" if len(found) == 1 else f"{len(ran)}/{len(ran)} passed", f"{gate.id}: passed"
        )
    status = "fail" if any(r.outcome == "failed" for r in bad) else "error"
    observed = bad[0].outcome if len(found) == 1 else f"{len(ran) - len(bad)}/{len(ran)} passed"
    detail = "; ".join(
        f"{r.id}: {r.message or r.outcome}" if len(found) > 1 else (r.message or r.outcome) for r in bad[:5]
    )
    more = f" (+{len(bad) - 5} more)" if len(bad) > 5 else ""
    return _result(gate, status, observed, f"{gate.id}: {detail}{more}", bad[0].repro)


def _suite_gate(gate: Gate, recs: list[Evidence]) -> GateResult:
    ran = [r for r in recs if r.outcome != "skipped"]
    if not ran:
        return _result(gate, "missing", None, f"{gate.id}: suite {gate.suite} ran no checks")
    bad = [r for r in ran if r.outcome in ("failed", "error")]
    observed = f"{len(ran) - len(bad)}/{len(ran)} passed"
    if not bad:
        return _result(gate, "pass", observed, f"{gate.id}: {observed}")
    status = "fail" if any(r.outcome == "failed" for r in bad) else "error"
    detail = "; ".join(f"{r.id}: {r.message or r.outcome}" for r in bad[:5])
    more = f" (+{len(bad) - 5} more)" if len(bad) > 5 else ""
    return _result(gate, status, observed, f"{gate.id}: {len(bad)} failing: {detail}{more}", bad[0].repro)


def _metric_gate(gate: Gate, recs: list[Evidence]) -> GateResult:
    assert gate.metric is not None
    found = [r for r in recs if gate.metric in r.measurements]
    # a check named like the gate that did not pass says why (no measurement, or what the value means)
    said = next((r for r in recs if matches(gate.id, r.id) and r.outcome != "passed" and r.message), None)
    why = f" ({said.message})" if said is not None else ""
    if not found:
        repro = said.repro if said is not None else None
        return _result(gate, "missing", None, f"{gate.id}: no {gate.metric} measurement was produced{why}", repro)
    rec = found[-1]
    value = rec.measurements[gate.metric]
    if not isinstance(value, int | float) or math.isnan(value):
        return _result(gate, "error", None, f"{gate.id}: measurement {gate.metric} is not a number", rec.repro)
    if gate.holds(value):
        return _result(gate, "pass", value, f"{gate.id}: {value:g} {gate.threshold_text()}")
    return _result(
        gate, "fail", value, f"{gate.id}: observed {value:g}, threshold {gate.threshold_text()}{why}", rec.repro
    )


_KINDS = {"check": _check_gate, "suite": _suite_gate, "metric": _metric_gate}


def evaluate(
    phase: Phase,
    records: list[Evidence],
    *,
    selected: tuple[str, ...] | None = None,
    available: frozenset[str] | set[str] = frozenset(),
    suite_errors: dict[str, str] | None = None,
) -> Decision:
    """Decide go / no-go / inconclusive. Fail closed: anything not shown to pass blocks `go`."""
    suite_errors = suite_errors or {}
    wanted = phase.suites if selected is None else tuple(s for s in phase.suites if s in selected)
    extra = tuple(s for s in (selected or ()) if s not in phase.suites)
    by_suite = {s: [r for r in records if r.suite == s] for s in (*wanted, *extra)}

    gates: list[GateResult] = []
    for gate in phase.gates:
        if gate.suite not in wanted:
            continue
        if gate.suite in suite_errors:
            gates.append(_result(gate, "error", None, f"{gate.id}: {suite_errors[gate.suite]}"))
        elif gate.suite not in available and not by_suite[gate.suite]:
            gates.append(
                _result(gate, "missing", None, f"{gate.id}: suite {gate.suite!r} is not available in this build")
            )
        else:
            gates.append(_KINDS[gate.kind](gate, by_suite[gate.suite]))

    statuses = {g.status for g in gates}
    if "fail" in statuses:
        verdict = "no-go"
    elif statuses & {"error", "missing"} or not gates:
        verdict = "inconclusive"
    else:
        verdict = "go"
    ordered = sorted((g for g in gates if g.status != "pass"), key=lambda g: _SEVERITY[g.status])
    reasons = [_with_repro(g) for g in ordered]
    if not gates:
        reasons.append(f"no gate of phase {phase.name!r} applies to the suites selected ({', '.join(selected or ())})")

    suites = {}
    for s, recs in by_suite.items():
        status = "error" if s in suite_errors else "ran" if recs else "missing"
        suites[s] = _suite_stats(recs, status)
    scope = {
        "narrowed": selected is not None,
        "requested": list(selected) if selected is not None else None,
        "evaluated": list(wanted),
        "omitted": [s for s in phase.suites if s not in wanted],
    }
    return Decision(verdict, gates, reasons, suites, scope)


def _with_repro(g: GateResult) -> str:
    return f"{g.reason} (reproduce: {' | '.join(g.repro)})" if g.repro else g.reason


def verdict_document(
    decision: Decision,
    *,
    phase: str,
    target: dict[str, Any],
    started_at: str,
    finished_at: str,
    duration_s: float,
    policy_source: str,
    notes: list[str],
) -> dict[str, Any]:
    """The v1 verdict JSON document (see harness/schemas/verdict.schema.json)."""
    from harness import __version__

    return {
        "schema": SCHEMA_ID,
        "verdict": decision.verdict,
        "phase": phase,
        "target": target,
        "started_at": started_at,
        "finished_at": finished_at,
        "duration_s": round(duration_s, 3),
        "scope": decision.scope,
        "suites": decision.suites,
        "gates": [asdict(g) for g in decision.gates],
        "reasons": decision.reasons,
        "notes": notes,
        "policy": policy_source,
        "harness_version": __version__,
    }


def verdict_schema() -> dict[str, Any]:
    return json.loads(resources.files("harness").joinpath("schemas/verdict.schema.json").read_text())


def validate_verdict(doc: dict[str, Any]) -> None:
    """Raise jsonschema.ValidationError if doc breaks the v1 contract."""
    jsonschema.validate(doc, verdict_schema())
