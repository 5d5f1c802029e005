"""evaluate(phase, evidence) -> Verdict: a pure function of the records, nothing else.

Fail closed. A gate is `pass` only when its evidence completed and covered something. A gate whose
suite was left out of the run, or whose check this run could have made and did not (the safety scope,
no baseline, a user's exclusion), is `not_run`, with the reason and how to get the evidence; a check
that cannot apply to the target is `not_applicable` (N/A, never a pass); a check that failed and then
passed on a re-run is `flaky` (inconclusive, never a pass). Only `pass` and `not_applicable` gates allow
`go`, and at least one gate must pass. A failure seen in partial or flaky evidence is still a failure.
"""

from __future__ import annotations

import fnmatch
import json
import math
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from importlib import resources
from typing import Any

import jsonschema

from harness.errors import ExitCode
from harness.evidence import Evidence
from harness.policy import Gate, Phase

SCHEMA_ID = "harness.verdict/v1.2"
SCHEMAS = {
    "harness.verdict/v1": "verdict.v1.schema.json",
    "harness.verdict/v1.1": "verdict.v1_1.schema.json",
    SCHEMA_ID: "verdict.schema.json",
}
EXIT_CODES = {"go": ExitCode.GO, "no-go": ExitCode.NO_GO, "inconclusive": ExitCode.INCONCLUSIVE}
STATUSES = ("pass", "fail", "missing", "error", "not_run", "not_applicable", "flaky")
_SEVERITY = {"fail": 0, "flaky": 1, "not_run": 2, "error": 3, "missing": 4, "not_applicable": 5, "pass": 6}
_ORDER = ("passed", "failed", "flaky", "error", "skipped", "not_run", "not_applicable")
_WORDS = {"not_applicable": "not applicable", "not_run": "not run"}


@dataclass(slots=True)
class GateResult:
    """How one gate came out, with enough to act on it."""

    id: str
    suite: str
    status: str  # one of STATUSES
    observed: float | str | None
    threshold: str
    reason: str
    about: str = ""
    repro: list[str] = field(default_factory=list)
    coverage: dict[str, float] = field(default_factory=dict)


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
    count = {o: sum(r.outcome == o for r in records) for o in _ORDER}
    return {
        "status": status,
        "passed": count["passed"],
        "failed": count["failed"],
        "skipped": count["skipped"],
        "errors": count["error"],
        "not_applicable": count["not_applicable"],
        "not_run": count["not_run"],
        "flaky": count["flaky"],
        "reruns": sum(r.reruns for r in records),
        "duration_s": round(sum(r.duration_s for r in records), 3),
    }


def _result(
    gate: Gate,
    status: str,
    observed: float | str | None,
    reason: str,
    repro: list[str] | None = None,
    coverage: dict[str, float] | None = None,
) -> GateResult:
    return GateResult(
        gate.id, gate.suite, status, observed, gate.threshold_text(), reason, gate.about, repro or [], coverage or {}
    )


def matches(check: str, evidence_id: str) -> bool:
    """A gate's check names one check, its parametrized variants (id[param]), or a glob (contract.ws.*)."""
    return evidence_id == check or evidence_id.startswith(f"{check}[") or fnmatch.fnmatchcase(evidence_id, check)


def counts_text(recs: list[Evidence]) -> str:
    """'passed' for one record; '2 passed, 3 skipped' for several: every variant is accounted for."""
    if len(recs) == 1:
        return _WORDS.get(recs[0].outcome, recs[0].outcome)
    parts = [(sum(r.outcome == o for r in recs), _WORDS.get(o, o)) for o in _ORDER]
    return ", ".join(f"{n} {word}" for n, word in parts if n)


def coverage_of(recs: list[Evidence]) -> dict[str, float]:
    """The counts of what the records covered, summed by name."""
    out: dict[str, float] = {}
    for r in recs:
        for k, v in r.coverage.items():
            if isinstance(v, int | float) and not isinstance(v, bool):
                out[k] = out.get(k, 0) + v
    return out


def _uncovered(recs: list[Evidence]) -> str:
    """'' when every completed record covered something; else which record covered nothing of what."""
    for r in recs:
        zero = r.uncovered() if r.completed else []
        if zero:
            return f"{r.id} covered nothing ({', '.join(f'{k} {r.coverage.get(k)}' for k in zero)})"
    return ""


def _detail(bad: list[Evidence], many: bool) -> str:
    text = "; ".join(f"{r.id}: {r.message or r.outcome}" if many else (r.message or r.outcome) for r in bad[:5])
    return text + (f" (+{len(bad) - 5} more)" if len(bad) > 5 else "")


def _judge_records(gate: Gate, found: list[Evidence], what: str) -> GateResult:
    """The shared rule of check and suite gates over the records they cover."""
    observed, cov = counts_text(found), coverage_of(found)
    failed = [r for r in found if r.outcome == "failed"]
    errored = [r for r in found if r.outcome == "error"]
    flaky = [r for r in found if r.outcome == "flaky"]
    unrun = [r for r in found if r.outcome == "not_run"]
    if failed:
        return _result(gate, "fail", observed, f"{gate.id}: {_detail(failed, len(found) > 1)}", failed[0].repro, cov)
    if errored:
        return _result(gate, "error", observed, f"{gate.id}: {_detail(errored, len(found) > 1)}", errored[0].repro, cov)
    if flaky:  # two answers from one build: neither a pass nor the build's fault on this evidence alone
        return _result(
            gate, "flaky", observed, f"{gate.id}: flaky: {_detail(flaky, len(found) > 1)}", flaky[0].repro, cov
        )
    if unrun:  # what ran passed, but not everything the gate covers ran: no pass on part of the evidence
        return _result(gate, "not_run", observed, f"{gate.id}: {_not_run_detail(unrun, len(found))}", coverage=cov)
    passed = [r for r in found if r.outcome == "passed"]
    if not passed:
        if found and all(r.outcome == "not_applicable" for r in found):
            msg = found[0].message.removeprefix("not applicable: ")
            return _result(gate, "not_applicable", observed, f"{gate.id}: not applicable: {msg}", coverage=cov)
        skipped = next((r for r in found if r.outcome == "skipped"), None)
        why = f" ({skipped.message})" if skipped is not None and skipped.message else ""
        return _result(gate, "missing", observed, f"{gate.id}: {what} was skipped{why}", coverage=cov)
    zero = _uncovered(found)
    if zero:
        return _result(gate, "missing", observed, f"{gate.id}: no evidence: {zero}", coverage=cov)
    return _result(gate, "pass", observed, f"{gate.id}: {observed}", coverage=cov)


def _not_run_detail(unrun: list[Evidence], total: int) -> str:
    """'not run: why' for one record; '2 of 7 checks not run: id: why; id: why' for part of a gate."""
    if total == 1:
        return unrun[0].message
    ids = ", ".join(r.id for r in unrun[:5]) + (f" (+{len(unrun) - 5} more)" if len(unrun) > 5 else "")
    return f"{len(unrun)} of {total} checks not run ({ids}): {unrun[0].message.removeprefix('not run: ')}"


def _check_gate(gate: Gate, recs: list[Evidence]) -> GateResult:
    assert gate.check is not None
    found = [r for r in recs if matches(gate.check, r.id)]
    if not found:
        broken = next((r for r in recs if r.id.endswith(".collect") and r.outcome == "error"), None)
        if broken is not None:  # the check's module may be the one that failed to load
            return _result(gate, "error", None, f"{gate.id}: did not run: {broken.message}", broken.repro)
        if recs:  # the suite ran, and no check of it has this id: the policy and the suite disagree
            ids = sorted({r.id.split("[")[0] for r in recs})
            return _result(
                gate,
                "error",
                None,
                f"{gate.id}: the policy's check {gate.check!r} matches no check of suite {gate.suite} "
                f"(its checks: {', '.join(ids[:12])}{' ...' if len(ids) > 12 else ''}); fix the policy",
            )
        return _result(gate, "missing", None, f"{gate.id}: check {gate.check} did not run")
    return _judge_records(gate, found, "every matching check" if len(found) > 1 else "the check")


def _suite_gate(gate: Gate, recs: list[Evidence]) -> GateResult:
    if not recs:
        return _result(gate, "missing", None, f"{gate.id}: suite {gate.suite} ran no checks")
    return _judge_records(gate, recs, f"every check of suite {gate.suite}")


def _metric_gate(gate: Gate, recs: list[Evidence]) -> GateResult:
    assert gate.metric is not None
    carrying = [r for r in recs if gate.metric in r.measurements]
    completed = [r for r in carrying if r.completed]
    partial = [r for r in carrying if r.outcome in ("not_run", "flaky")]
    if not completed and partial:  # measured, but not all of what the gate covers, or with two answers
        return _partial_metric(gate, partial[-1])
    # a check named like the gate that did not pass says why (no measurement, or what the value means)
    said = next((r for r in recs if matches(gate.id, r.id) and r.outcome != "passed" and r.message), None)
    why = f" ({said.message})" if said is not None else ""
    if not completed:
        broken = next((r for r in carrying if r.outcome == "error"), None) or (
            said if said is not None and said.outcome == "error" else None
        )
        if broken is not None:  # a number from a check that did not complete is not evidence
            return _result(
                gate, "error", None, f"{gate.id}: {broken.id} did not complete: {broken.message}", broken.repro
            )
        if said is not None and said.outcome == "not_applicable":
            msg = said.message.removeprefix("not applicable: ")
            return _result(gate, "not_applicable", None, f"{gate.id}: not applicable: {msg}")
        if said is not None and said.outcome == "not_run":  # could be measured, and this run did not
            return _result(gate, "not_run", None, f"{gate.id}: {said.message}")
        repro = said.repro if said is not None else None
        return _result(gate, "missing", None, f"{gate.id}: no {gate.metric} measurement was produced{why}", repro)
    rec = completed[-1]
    value, cov = rec.measurements[gate.metric], dict(rec.coverage)
    if not isinstance(value, int | float) or isinstance(value, bool) or math.isnan(value):
        return _result(gate, "error", None, f"{gate.id}: measurement {gate.metric} is not a number", rec.repro, cov)
    zero = _uncovered([rec])
    if zero:
        return _result(gate, "missing", value, f"{gate.id}: no evidence: {zero}", rec.repro, cov)
    if gate.holds(value):  # a check that recorded how to reproduce its number (a query) says it on a pass too
        how = f" (reproduce: {rec.repro[-1]})" if len(rec.repro) > 1 else ""
        return _result(gate, "pass", value, f"{gate.id}: {value:g} {gate.threshold_text()}{how}", rec.repro, cov)
    if rec.caveat:  # something not the build could only have made the number worse: no blame on it
        return _result(
            gate,
            "missing",
            value,
            f"{gate.id}: observed {value:g}, threshold {gate.threshold_text()}, not judged: {rec.caveat}",
            rec.repro,
            cov,
        )
    return _result(
        gate, "fail", value, f"{gate.id}: observed {value:g}, threshold {gate.threshold_text()}{why}", rec.repro, cov
    )


def _partial_metric(gate: Gate, rec: Evidence) -> GateResult:
    """A number from a check that ran only in part (not_run) or gave two answers (flaky): it may show a
    failure (the build broke the threshold on what was measured), never a pass."""
    value, cov = rec.measurements[gate.metric or ""], dict(rec.coverage)
    status = "not_run" if rec.outcome == "not_run" else "flaky"
    if not isinstance(value, int | float) or isinstance(value, bool) or math.isnan(value):
        return _result(gate, status, None, f"{gate.id}: {rec.id}: {rec.message}", rec.repro, cov)
    if not gate.holds(value):
        why = f"observed {value:g}, threshold {gate.threshold_text()}, on partial evidence ({rec.message})"
        return _result(gate, "fail", value, f"{gate.id}: {why}", rec.repro, cov)
    text = rec.message if status == "not_run" else f"flaky: {rec.message}"
    return _result(gate, status, value, f"{gate.id}: {value:g} {gate.threshold_text()}, but {text}", rec.repro, cov)


_KINDS = {"check": _check_gate, "suite": _suite_gate, "metric": _metric_gate}


def evaluate(
    phase: Phase,
    records: list[Evidence],
    *,
    selected: tuple[str, ...] | None = None,
    available: frozenset[str] | set[str] = frozenset(),
    suite_errors: dict[str, str] | None = None,
) -> Decision:
    """Decide go / no-go / inconclusive over every gate of the phase. Fail closed: anything not shown to
    pass (or shown not to apply) blocks `go`, including the gates of suites left out by `selected`."""
    suite_errors = suite_errors or {}
    checks_dropped = {d for d in phase.dropped if "[" in d}  # one check (id[param]) the team's policy took out;
    records = [r for r in records if r.id not in checks_dropped]  # a dropped gate leaves its checks to the others
    wanted = phase.suites if selected is None else tuple(s for s in phase.suites if s in selected)
    extra = tuple(s for s in (selected or ()) if s not in phase.suites)
    left_out = tuple(s for s in phase.suites if s not in wanted)
    by_suite = {s: [r for r in records if r.suite == s] for s in (*wanted, *extra)}
    narrowing = f"--suites {','.join(selected)}" if selected is not None else ""

    gates: list[GateResult] = []
    for gate in phase.gates:
        if gate.suite in left_out:
            why = f"{gate.id}: not run (suite {gate.suite} left out by {narrowing})"
            gates.append(_result(gate, "not_run", None, why))
        elif gate.suite in suite_errors:
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
    elif statuses & {"error", "missing", "not_run", "flaky"} or "pass" not in statuses:
        verdict = "inconclusive"
    else:
        verdict = "go"
    blocking = sorted(
        (g for g in gates if g.status not in ("pass", "not_applicable")), key=lambda g: _SEVERITY[g.status]
    )
    broken = {g.id for g in gates if g.suite in suite_errors and g.suite not in left_out}
    reasons, said = [], set()
    unrun = _not_run_groups(g for g in blocking if g.status == "not_run" and g.suite not in left_out)
    for g in blocking:
        if g.status == "not_run":
            if g.id in unrun:  # one line per cause, naming every gate it left without evidence
                reasons.append(unrun.pop(g.id))
            continue
        if g.id not in broken:
            reasons.append(_with_repro(g))
        elif suite_errors[g.suite] not in said:  # a broken suite (or run) is one line, naming its gates
            error = suite_errors[g.suite]
            said.add(error)
            ids = [x.id for x in gates if x.id in broken and suite_errors[x.suite] == error]
            reasons.append(f"{', '.join(ids)}: {error}")
    not_run = [g.id for g in gates if g.status == "not_run" and g.suite in left_out]
    if not_run:
        summary = (
            f"not run: {len(not_run)} gate(s) of phase {phase.name!r} (suites {', '.join(left_out)} left out by "
            f"{narrowing}): {', '.join(not_run)}; a phase verdict needs every gate of the phase"
        )
        reasons.insert(sum(g.status == "fail" for g in gates), summary)
    if not gates:
        reasons.append(f"phase {phase.name!r} has no gates: nothing can be shown to pass")
    elif verdict == "inconclusive" and not reasons:
        reasons.append(f"no gate of phase {phase.name!r} passed: every gate is not applicable to this target")

    suites = {}
    for s in (*phase.suites, *extra):
        recs = by_suite.get(s, [])
        status = "not_run" if s in left_out else "error" if s in suite_errors else "ran" if recs else "missing"
        suites[s] = _suite_stats(recs, status)
    scope = {
        "narrowed": selected is not None,
        "requested": list(selected) if selected is not None else None,
        "evaluated": list(wanted),
        "omitted": list(left_out),
    }
    return Decision(verdict, gates, reasons, suites, scope)


REMEDY = "; to check it: "  # where a not-run reason says how to get the evidence (harness/service/operations.py)


def _not_run_groups(gates: Iterable[GateResult]) -> dict[str, str]:
    """{first gate id: 'id, id, id: <the first one's reason>'}: gates left without evidence for the same
    cause share one line (a safety scope that leaves out the chat operation names every chat gate once, with
    how to get their evidence); the gate table keeps each gate's own reason."""
    groups: dict[str, list[GateResult]] = {}
    for g in gates:
        why = g.reason.removeprefix(f"{g.id}: ")
        key = why.split(REMEDY, 1)[1][:60] if REMEDY in why else why  # messages are cut at 400 characters
        groups.setdefault(key, []).append(g)
    return {
        group[0].id: f"{', '.join(g.id for g in group)}: {group[0].reason.removeprefix(f'{group[0].id}: ')}"
        for group in groups.values()
    }


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
    """The v1.2 verdict JSON document (see harness/schemas/verdict.schema.json)."""
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


def undecided_document(
    phase: str, reason: str, note: str, at: str, target: dict[str, Any] | None = None
) -> dict[str, Any]:
    """The `inconclusive` verdict of a run that judged no gate (the harness failed, was interrupted, or left
    no verdict): one reason, one note."""
    return {
        "schema": SCHEMA_ID,
        "verdict": "inconclusive",
        "phase": phase,
        "target": target or {"base_url": None, "stack": None, "version": None},
        "started_at": at,
        "finished_at": at,
        "duration_s": 0.0,
        "scope": {"narrowed": False, "requested": None, "evaluated": [], "omitted": []},
        "suites": {},
        "gates": [],
        "reasons": [reason],
        "notes": [note],
    }


def verdict_schema(schema_id: str = SCHEMA_ID) -> dict[str, Any]:
    """The JSON Schema of a verdict version (v1 files stay readable)."""
    return json.loads(resources.files("harness").joinpath(f"schemas/{SCHEMAS[schema_id]}").read_text())


def validate_verdict(doc: dict[str, Any]) -> None:
    """Raise jsonschema.ValidationError if doc breaks the contract of its own version (v1, v1.1 or v1.2)."""
    schema_id = doc.get("schema") if isinstance(doc, dict) else None
    if not isinstance(schema_id, str) or schema_id not in SCHEMAS:
        raise jsonschema.ValidationError(f"schema is {schema_id!r}; this harness reads {', '.join(sorted(SCHEMAS))}")
    jsonschema.validate(doc, verdict_schema(schema_id))
